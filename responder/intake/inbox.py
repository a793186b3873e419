"""From stored webhook bodies to the alert path, exactly once across crashes.

The HTTP route only stores an accepted body and answers; the worker reads the
inbox here, hands each alert to the alert path on its own and marks the body
done:
- an episode (fingerprint + startsAt) is remembered the first time it fires;
  a re-send of it is a duplicate;
- each swarm an action starts carries the episode in its `trigger`, written
  with the swarm in one transaction; an action redone after a crash skips
  the swarms that already exist;
- a body is marked done only after all its alerts are handled, so a crash
  midway handles the body again, and the two rules above make that harmless.
An alert whose handling raises is set aside as a dead letter with its error
(counted, shown by `warden status`) and the next one is handled: one poison
alert never blocks the line.

A fleet (a shared store) works each body once, not once per responder: the
receivers store one copy of a body Alertmanager sent every responder (its
digest is unique among the waiting bodies), and each worker claims the oldest
bodies nobody works, CLAIM_BODIES at a time, under a lease (`claim_lease`) it
renews while it holds them; a body of a responder that died is taken over
when the lease lapses. So the workers of a fleet work side by side, and a body
may be worked before an older one: each alert's record is what makes that
harmless (an episode resolved before its firing is worked is recorded over,
`Store.close_episode`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Protocol

from responder.intake.claims import Claims
from responder.intake.webhook import Alert, BadBody, parse_body
from responder.state.errors import StoreUnavailable
from responder.state.held import Held
from responder.state.store import Store

log = logging.getLogger(__name__)

CLAIM_BODIES = 4
"""Bodies a worker of a fleet claims at once: one write for a few, and few enough
that the others find work in a storm's tail."""


class AlertPath(Protocol):
    def handle(self, alert: Alert, taken_from: str | None = None) -> bool:
        """Take one alert through the alert path; True if this responder acted on it."""


class Inbox:
    def __init__(
        self,
        store: Store,
        held: Held,
        claims: Claims,
        path: AlertPath,
        clock: Callable[[], float],
    ) -> None:
        self.store, self.held, self.claims, self.path = store, held, claims, path
        self.clock = clock
        self._body: tuple[int, list[Alert], int] | None = None
        """The body a step cut short: its id, its alerts, the next to handle."""
        self._claimed: list[tuple[int, bytes]] = []
        """On a shared store, the bodies claimed and not yet begun, oldest first."""
        self._claimed_at = 0.0
        """When their lease (and that of `_body`) was last taken or moved."""

    def process(self, max_alerts: int, seconds: float | None = None) -> bool:
        """Handle stored bodies alert by alert, oldest first, until `max_alerts` were
        handled or `seconds` passed on the monotonic clock (None: no time bound); one
        alert at least, so every call moves on. True when more may wait.

        Bounded by alerts, not bodies: one body of thousands of alerts must not hold
        the step, and with it the heartbeat, for a minute. A body cut short goes on
        where it stopped at the next call; a crash handles it again from its start,
        which the episode and trigger records make harmless."""
        until = None if seconds is None else time.monotonic() + seconds
        handled, done = 0, list[int]()
        self._renew()

        def spent() -> bool:
            late = until is not None and time.monotonic() > until
            return handled >= max_alerts or (handled > 0 and late)

        try:
            while True:
                if self._body is None:
                    if spent():
                        return True
                    self._body = self._next_body(done)
                    if self._body is None:
                        return False
                inbox_id, alerts, first = self._body
                for i in range(first, len(alerts)):
                    if spent():
                        self._body = (inbox_id, alerts, i)
                        return True
                    self._handle_stored(inbox_id, alerts[i])
                    handled += 1
                done.append(inbox_id)
                self._body = None
                handled += not alerts  # an empty body is work too: a flood of them ends
        except BaseException:
            self._body = None  # handled again from its start: harmless
            self._claimed = []  # still ours: claimed again at the next call
            raise
        finally:
            if done:
                self.store.inbox_done(done)

    def take_over(self) -> int:
        """Act on the episodes whose claimer died (its lease lapsed) or that reached
        only responders who may not act on them; how many were taken."""
        taken = 0
        for claimer, alert in self.claims.dropped():
            try:
                taken += self.path.handle(alert, taken_from=claimer or "nobody")
            except StoreUnavailable:
                raise
            except Exception:
                log.exception("taking over %s %s failed", alert.name, alert.episode)
        return taken

    def _next_body(self, done: list[int]) -> tuple[int, list[Alert], int] | None:
        """The oldest pending body after those `done` this call (not yet marked so)."""
        after = done[-1] if done else 0
        if not self.store.shared:
            page = self.held.read(self.store.pending_inbox, self.claims.me, 1, after=after)
        elif not self._claimed:
            now, me = self.clock(), self.claims.me
            page = self.store.claim_inbox(me, now, now + self.claims.lease, CLAIM_BODIES, after)
            self._claimed, self._claimed_at = page[1:], now
        else:
            page = [self._claimed.pop(0)]
        if not page:
            return None
        inbox_id, raw = page[0]
        try:
            return inbox_id, parse_body(raw), 0
        except BadBody as exc:  # refused before storing; only a changed parser lands here
            self._set_aside(inbox_id, exc, raw.decode("utf-8", "replace")[:2000])
            return inbox_id, [], 0

    def _renew(self) -> None:
        """Move the leases of the bodies claimed and not worked off, once a third of a
        lease passed: a body of thousands of alerts takes many steps."""
        now = self.clock()
        held = self._claimed or self._body is not None
        if held and now - self._claimed_at >= self.claims.lease / 3:
            self.store.renew_inbox(self.claims.me, now + self.claims.lease)
            self._claimed_at = now

    def _handle_stored(self, inbox_id: int, alert: Alert) -> None:
        try:
            self.path.handle(alert)
        except StoreUnavailable:
            raise  # the body stays in the inbox for the step after the outage
        except Exception as exc:
            self._set_aside(inbox_id, exc, json.dumps(alert.labels, sort_keys=True))

    def _set_aside(self, inbox_id: int, exc: Exception, what: str) -> None:
        log.exception("alert set aside (inbox %s): %s", inbox_id, what)
        self.store.dead_letter(inbox_id, self.clock(), f"{type(exc).__name__}: {exc}", what)
