"""The webhook inbox, firing episodes and the claims on them."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from responder.state import schema as t
from responder.state.base import StoreBase
from responder.state.queries import EPISODE_SKEW_SECONDS, GUESSED_CLOSES, LAST_SEEN_EVERY, Q
from responder.state.rows import ClaimState, OpenProblem, SwarmRow, float_or_none
from responder.state.upserts import ADD_INBOX, TAKE_LEASE
from warden.rfc3339 import instant

log = logging.getLogger(__name__)


class EpisodeTables(StoreBase):
    """The inbox, the episodes and their claims."""

    def same_episode(self, fingerprint: str, starts_at: str) -> str:
        """The startsAt that names this alert's episode: that of an open episode of the
        same fingerprint starting within EPISODE_SKEW_SECONDS of it, else its own.

        Why: a Prometheus pair evaluates each rule a moment apart, so the two
        replicas' alerts (alike but for the dropped `replica` label) start a
        second or so apart; Alertmanager merges them keeping the earliest
        startsAt, and the webhooks of one firing switch startsAt midway."""
        starts = instant(starts_at)
        if starts is None:
            return starts_at
        near = [
            (abs(other - starts), text)
            for (text,) in self._rows(Q.open_starts, fp=fingerprint)
            if (other := instant(text)) is not None and abs(other - starts) <= EPISODE_SKEW_SECONDS
        ]
        return min(near)[1] if near else starts_at

    def episode_open(self, fingerprint: str, starts_at: str) -> bool:
        return bool(self._rows(Q.episode_open, fp=fingerprint, starts=starts_at))

    # -- webhook inbox and firing episodes ---------------------------------
    def add_inbox(self, body: bytes, at: float, responder: str) -> int | None:
        """Keep an accepted webhook body; it is answered 2xx only after this returns.
        None: a copy of it still waits (stored by this responder's receiver or by
        another's of the fleet), and is all the fleet needs."""
        digest = hashlib.sha256(body).hexdigest()
        params = {"at": at, "body": body, "responder": responder, "digest": digest}
        if self.shared:
            # One statement committed on its own (autocommit): one round trip to the
            # server, where a transaction around it took three (BEGIN, it, COMMIT).
            with self._reaching("read") as conn:
                row = conn.execute(ADD_INBOX[self._dialect], params).first()
            self.inbox_added()
        else:
            with self._tx() as db:
                row = db.execute(ADD_INBOX[self._dialect], params).first()
        return None if row is None else int(row[0])

    def inbox_added(self) -> None:
        """This responder's receiver (another process) committed a body: the inbox
        counts as written here, so an owner holding what it read of it reads it
        again (`OWN`: no serial tells another process's writes of it)."""
        self._written["inbox"] = self.last_write = next(self._marks)

    def pending_inbox(
        self, responder: str, limit: int | None = None, after: int = 0
    ) -> list[tuple[int, bytes]]:
        """The oldest bodies `responder` received and has not yet handled, at most
        `limit` (None: all) of those after the body `after`: a responder alone on its
        store (a fleet's workers claim theirs, `claim_inbox`)."""
        if limit is None:
            rows = self._rows(Q.all_pending_inbox, responder=responder)
        else:
            rows = self._rows(Q.pending_inbox, responder=responder, limit=limit, after=after)
        return [(r[0], bytes(r[1])) for r in rows]

    def claim_inbox(
        self, me: str, now: float, until: float, limit: int, after: int = 0
    ) -> list[tuple[int, bytes]]:
        """On a shared store: take the oldest waiting bodies (after the body `after`, at
        most `limit`) that nobody works, whose worker's lease lapsed (it died), or that
        are already `me`'s, for `me` until `until`. Of responders racing, each gets
        others: a body is worked by one responder of the fleet."""
        params = {"me": me, "now": now, "until": until, "limit": limit, "after": after}
        with self._tx(flushed=False) as db:  # a claim lost in a crash is claimed again
            rows = list(db.execute(Q.claim_inbox, params))
        return sorted((int(r[0]), bytes(r[1])) for r in rows)

    def renew_inbox(self, me: str, until: float) -> None:
        """Move the leases of the bodies `me` claimed and has not yet worked off."""
        with self._tx(flushed=False) as db:
            db.execute(Q.renew_inbox, {"me": me, "until": until})

    def dead_letter(self, inbox_id: int, at: float, error: str, alert: str) -> None:
        """Set aside an alert whose handling raised, with the error, so the next goes on."""
        with self._tx() as db:
            values = {"inbox_id": inbox_id, "at": at, "error": error, "alert": alert}
            db.execute(Q.dead_letter, values)

    def dead_letters(self, limit: int = 20) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in self._rows(Q.dead_letters, limit=limit)]

    def dead_letter_count(self) -> int:
        return int(self._value(Q.dead_letter_count))

    def inbox_done(self, inbox_ids: list[int]) -> None:
        """Mark bodies handled, a batch in one transaction: a crash before it handles
        them again, which the episode and trigger records make harmless (so, on
        PostgreSQL, its commit does not wait for the disk either)."""
        with self._tx(flushed=False) as db:
            db.execute(Q.inbox_done, {"ids": inbox_ids})

    def open_episode(
        self,
        fingerprint: str,
        starts_at: str,
        labels: dict[str, str],
        at: float,
        *,
        host: str = "",
        alert: str = "",
        reserved_until: float = 0.0,
        claimed_by: str = "",
    ) -> bool:
        """Remember a firing episode; True the first time it is seen. Re-sends move
        its `last_seen` (what expiry goes by), at most once a minute: a storm of
        repeats costs reads, not a write each. `host` binds its work to one
        responder; `alert` is what a takeover acts on; until `reserved_until` no
        takeover claims it (its receiver is about to); `claimed_by`: a new episode is
        that responder's claim from the start (no second write to claim it)."""
        this = {"fp": fingerprint, "starts": starts_at}
        seen = self._rows(Q.last_seen, **this)
        if seen and seen[0][1] in GUESSED_CLOSES:
            # Closed by a guess (expiry, reconciliation), yet firing: it never ended.
            with self._tx() as db:
                db.execute(Q.reopen, {**this, "at": at})
            log.info("episode %s %s fires again: reopened", labels["alertname"], starts_at)
            return False
        if seen and at - float(seen[0][0]) < LAST_SEEN_EVERY:
            return False
        with self._tx() as db:
            new = self._insert_new(
                db,
                t.episodes,
                **_episode(fingerprint, starts_at, labels, at),
                host=host,
                alert=alert,
                lease_until=reserved_until,
                claimed_by=claimed_by,
            )
            if not new:
                db.execute(Q.see_again, {**this, "at": at})
            return new

    def acted_open(self) -> dict[tuple[str, str], float]:
        """(fingerprint, startsAt) -> last seen, of the episodes acted on and not resolved."""
        return {(r[0], r[1]): float(r[2]) for r in self._rows(Q.acted_open)}

    def open_episodes_seen(self) -> list[tuple[str, str, str, float]]:
        """(fingerprint, startsAt, severity, last seen) of every episode not resolved."""
        return [(r[0], r[1], r[2], float(r[3])) for r in self._rows(Q.open_episodes)]

    def expire_episodes(
        self,
        now: float,
        stale_after: dict[str, float],
        open_episodes: list[tuple[str, str, str, float]] | None = None,
    ) -> int:
        """Close episodes that stopped being re-sent: their resolution was missed
        (Warden was down when it came). `stale_after` is per severity, with
        "" for any other; Alertmanager re-sends firing alerts every
        repeat_interval, so twice that is safe. Writes only when one expired.
        `open_episodes`: as the caller holds them (else read here)."""
        stale = [
            {"fp": fp, "starts": starts, "seen": seen, "now": now}
            for fp, starts, severity, seen in (
                self.open_episodes_seen() if open_episodes is None else open_episodes
            )
            if seen < now - stale_after.get(severity, stale_after[""])
        ]
        if not stale:
            return 0
        with self._tx() as db:
            # Only if not seen again since: a re-send may have landed in between.
            db.execute(Q.expire, stale)
        return len(stale)

    def firing(self) -> list[tuple[str, str, str]]:
        """(alertname, severity, component) of every episode not yet resolved."""
        return [(r[0], r[1], r[2]) for r in self._rows(Q.firing)]

    def open_problems(self) -> dict[str, OpenProblem]:
        """Every alert not yet resolved, by alertname."""
        return {
            r[0]: OpenProblem(float(r[1]), float_or_none(r[2]), float_or_none(r[3]))
            for r in self._rows(Q.open_problems)
        }

    def problems_between(self, start: float, end: float) -> list[tuple[str, float]]:
        """(alertname, first seen) of the episodes open at some time in [start, end)."""
        return [(r[0], float(r[1])) for r in self._rows(Q.problems_between, start=start, end=end)]

    def retry_problem(self, name: str, at: float) -> bool:
        """A person's action (N1): the ladder of `name`'s open episode starts again,
        from what is tried after `at`, and a person may be called again. False if
        no episode of it is open."""
        with self._tx() as db:
            return db.execute(Q.retry_episodes, {"name": name, "at": at}).rowcount > 0

    def tell_once(self, names: list[str], at: float) -> list[str]:
        """Mark the open episodes of `names` told; the names that were not told before
        (N1: a person is told once per episode, whichever path tells)."""
        with self._tx() as db:
            return sorted({r[0] for r in db.execute(Q.tell_episodes, {"names": names, "at": at})})

    def episode_acted(
        self,
        fingerprint: str,
        starts_at: str,
        outcome: str,
        decision: dict[str, Any] | None = None,
        at: float = 0.0,
    ) -> bool:
        """Mark the episode acted on, with the `decision` logged in the same
        transaction, the first time only: False (and nothing logged) if it was
        already, so the log says once what was done, even if a takeover raced
        a claimer that outlived its lease."""
        with self._tx() as db:
            params = {"fp": fingerprint, "starts": starts_at, "new_outcome": outcome}
            if db.execute(Q.acted, params).rowcount != 1:
                return False
            if decision is not None:
                db.execute(Q.log_decision, {"at": at, "kind": "alert", "detail": decision})
            return True

    def claim_state(self, fingerprint: str, starts_at: str) -> ClaimState | None:
        """Whether the episode still waits for action, and who holds it till when."""
        rows = self._rows(Q.claim_state, fp=fingerprint, starts=starts_at)
        return ClaimState(*rows[0]) if rows else None

    def claim(
        self, fingerprint: str, starts_at: str, me: str, instance: str, now: float, until: float
    ) -> bool:
        """Claim an episode for `me` until `until`; True if it is now `me`'s.

        One conditional UPDATE: of responders racing for it, the database lets
        one through. Claimable while not acted on nor resolved, bound to no
        host or to `instance`, and unclaimed, already `me`'s, or its lease
        run out (its claimer died)."""
        params = {"fp": fingerprint, "starts": starts_at, "me": me, "instance": instance}
        with self._tx() as db:
            return db.execute(Q.claim, {**params, "now": now, "until": until}).rowcount == 1

    def take_lease(self, name: str, me: str, now: float, until: float) -> bool:
        """Hold the lease `name` until `until` if it is free, lapsed or already
        ours; True if we hold it now. One statement: of responders racing, one wins."""
        params = {"name": name, "me": me, "now": now, "until": until}
        with self._tx() as db:
            return db.execute(TAKE_LEASE[self._dialect], params).first() is not None

    def renew_claims(self, me: str, until: float) -> None:
        """Move the leases of the episodes `me` holds and has not yet acted on."""
        with self._tx() as db:
            db.execute(Q.renew_claims, {"me": me, "until": until})

    def unclaimed(self, me: str, instance: str, now: float) -> list[tuple[str, str]]:
        """(claimer, alert JSON) of episodes `me` may take over: dropped by a
        claimer that died, or received by nobody who may act on them."""
        rows = self._rows(Q.unclaimed, me=me, instance=instance, now=now)
        return [(r[0], r[1]) for r in rows]

    def close_episode(
        self,
        fingerprint: str,
        starts_at: str,
        at: float,
        by: str = "resolved",
        labels: dict[str, str] | None = None,
    ) -> bool:
        """Mark an episode ended; True only the first time. `by`: its resolved
        notification, or "reconciled" (Alertmanager no longer holds it), a guess that
        a firing delivery of it undoes (`open_episode`).

        A resolution with the alert's `labels`, of an episode never recorded, records
        it ended: the workers of a fleet work bodies side by side, so a body that
        resolves an episode may be worked before an older one where it fires, which
        must then find it over (not act, and leave it open till it expires)."""
        with self._tx() as db:
            params = {"fp": fingerprint, "starts": starts_at, "at": at, "by": by}
            if db.execute(Q.close_episode, params).rowcount == 1:
                return True
            if labels is not None:
                episode = _episode(fingerprint, starts_at, labels, at)
                self._insert_new(db, t.episodes, **episode, resolved_at=at, closed_by=by)
            return False

    def open_episodes(self) -> list[tuple[str, str]]:
        """(fingerprint, startsAt) of every episode not yet ended."""
        return [(r[0], r[1]) for r in self._rows(Q.open_episodes)]

    def episode_counts(self) -> dict[str, int]:
        """Firing episodes by alert name, ever (L2)."""
        return {r[0]: int(r[1]) for r in self._rows(Q.episode_counts)}

    def swarms_by_trigger(self, trigger: str) -> list[SwarmRow]:
        return [SwarmRow(**r._mapping) for r in self._rows(Q.by_trigger, trigger=trigger)]


def _episode(fingerprint: str, starts_at: str, labels: dict[str, str], at: float) -> dict[str, Any]:
    """An episode's row as first seen at `at`."""
    return {
        "fingerprint": fingerprint,
        "starts_at": starts_at,
        "alertname": labels["alertname"],
        "severity": labels.get("severity", ""),
        "component": labels.get("component", ""),
        "first_seen": at,
        "last_seen": at,
    }
