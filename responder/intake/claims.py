"""Many responders, one action per firing episode: the claim and its lease.

Alertmanager sends every alert to every responder of a fleet (and a
Prometheus pair sends each alert twice); the fleet stores a body once and one
responder works it (responder/intake/inbox.py), but a body may still reach
two (two Alertmanagers that both sent it, a copy that came after the first
was worked off). A responder working an alert records the episode, then
claims it in the shared store with one conditional UPDATE: the database lets
one claimer through, and only it acts. The claim carries a lease; the
claimer renews it while it works, and lets it lapse only by dying. Then any
other responder allowed to act on the episode (any, for project-wide work;
the one of the alert's host, for host-bound work) takes it over from the
alert kept with the episode. Host-bound work another responder recorded is
not reserved: its host's responder takes it at its next look for dropped
claims (within TAKEOVER_EVERY). A responder alone on its database claims too:
after a crash between its claim and its action, it takes its own work over.

The scheduled jobs that spawn or report for everyone (J1, J2, J5, J6, J8,
J10) run on one responder of a fleet: the holder of the `jobs` lease, which
it renews each third of a lease and another takes once it lapsed. A stalled
holder may overlap its successor by up to a third of a lease; the admission
rule still bounds what a doubled job could start.

One owner: the responder's worker thread holds a `Claims` and is the only
caller, so the set of held claims needs no lock. `leading` is read by the
scheduler's threads: a bool the worker replaces.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable

from responder.intake.webhook import Alert
from responder.state.store import Store

TAKEOVER_EVERY = 1.0
"""Seconds between looks for dropped claims: a read of the open episodes' index."""
JOBS_LEASE = "jobs"
"""The lease of the scheduled jobs that act for the whole fleet (`Jobs.FLEET_JOBS`)."""


class Claims:
    def __init__(
        self,
        store: Store,
        me: str,
        instance: str,
        lease: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.me = me
        """This responder (`responder.id`)."""
        self.instance = instance
        """Its host's exporter as alerts name it: host-bound work with it is ours."""
        self.lease = lease
        self.clock = clock
        self._held: set[tuple[str, str]] = set()
        self._recorded: tuple[str, str] | None = None
        """The episode `record` just inserted as ours: `take` needs no claim."""
        self.former = ""
        """Whose lapsed claim the last `take` claimed over ("": nobody's)."""
        self._renewed_at = 0.0
        self._looked_at = float("-inf")
        self.taken_over = 0
        """Episodes this responder acted on after another's claim lapsed."""
        self.leading = not store.shared
        """This responder runs the fleet's scheduled jobs (always, alone on SQLite)."""
        self._lease_tried_at = float("-inf")

    def bound_to(self, alert: Alert, host_bound: bool) -> str:
        """The instance whose responder alone may act on the alert ("": any)."""
        return alert.labels.get("instance", "") if host_bound else ""

    def record(self, alert: Alert, host: str) -> None:
        """Remember the episode (with what a takeover needs). One we may act on is
        reserved for us for one lease: takeovers leave it alone while we are about to
        claim it; an episode new to the store is ours from its first write (of
        responders racing to record it, one inserts it). Another host's work is not
        reserved: its responder, which may not have received it, takes it over."""
        now, self._recorded = self.clock(), None
        mine = host in ("", self.instance)
        if (
            self.store.open_episode(
                alert.fingerprint,
                alert.starts_at,
                alert.labels,
                now,
                host=host,
                alert=json.dumps(dataclasses.asdict(alert), sort_keys=True),
                reserved_until=now + self.lease if mine else 0.0,
                claimed_by=self.me if mine else "",
            )
            and mine
        ):
            self._recorded = alert.episode

    def take(self, fingerprint: str, starts_at: str) -> bool:
        """Claim the episode; True if we are to act on it. A read first: a re-send of
        an episode acted on, or held by a live claimer, costs no write; one we have
        just recorded is ours already."""
        self.former = ""
        if self._recorded == (fingerprint, starts_at):
            self._recorded = None
            self._held.add((fingerprint, starts_at))
            return True
        state = self.store.claim_state(fingerprint, starts_at)
        now = self.clock()
        if state is None or state.acted or state.resolved_at is not None:
            return False
        if state.host not in ("", self.instance):
            return False
        if state.claimed_by not in ("", self.me) and state.lease_until >= now:
            return False
        if not self.store.claim(
            fingerprint, starts_at, self.me, self.instance, now, now + self.lease
        ):
            return False
        self.former = "" if state.claimed_by == self.me else state.claimed_by
        self._held.add((fingerprint, starts_at))
        return True

    def release(self, fingerprint: str, starts_at: str) -> None:
        """The episode was acted on (the store says so): nothing left to renew."""
        self._held.discard((fingerprint, starts_at))

    def renew(self) -> None:
        """Move our leases once a third of one passed, while we hold any: a long
        action keeps its episode, and a dead responder's lapse a lease after."""
        now = self.clock()
        if not self._held or now - self._renewed_at < self.lease / 3:
            return
        self.store.renew_claims(self.me, now + self.lease)
        self._renewed_at = now

    def dropped(self) -> list[tuple[str, Alert]]:
        """(former claimer, alert) of the episodes to take over now: claimed by a
        responder whose lease lapsed, or received only by responders that may not
        act on them. Looked for at most once a second."""
        now = self.clock()
        if 0 <= now - self._looked_at < TAKEOVER_EVERY:
            return []
        self._looked_at = now
        out = []
        for claimer, text in self.store.unclaimed(self.me, self.instance, now):
            out.append((claimer, Alert(**json.loads(text))))
        return out

    def lead(self) -> bool:
        """Take or renew the jobs' lease, once a third of a lease passed since the
        last try; whether this responder leads now."""
        now = self.clock()
        if not self.store.shared or 0 <= now - self._lease_tried_at < self.lease / 3:
            return self.leading
        self._lease_tried_at = now
        self.leading = self.store.take_lease(JOBS_LEASE, self.me, now, now + self.lease)
        return self.leading
