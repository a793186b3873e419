"""The decision log, and the recovery commands' records."""

from __future__ import annotations

import functools
import json
import time
from typing import Any

from responder.state import schema as t
from responder.state.base import StoreBase
from responder.state.queries import Q, filtered, new_row, update_by_id
from responder.state.rows import RecoveryRow


class DecisionTables(StoreBase):
    """The decision log and recovery records."""

    # -- decisions --------------------------------------------------------
    def log_decision(self, kind: str, detail: dict[str, Any], at: float | None = None) -> int:
        """The decision's row id."""
        with self._tx() as db:
            when = time.time() if at is None else at
            row = {"at": when, "kind": kind, "detail": detail}
            return int(db.execute(Q.log_decision, row).scalar_one())

    def update_decision(self, decision_id: int, detail: dict[str, Any], at: float) -> None:
        """A decision that counts what it decides again (refusals in their window)."""
        with self._tx() as db:
            db.execute(Q.update_decision, new_row({"at": at, "detail": detail}, decision_id))

    def refusal_counts(self) -> dict[str, int]:
        """Refusals logged, by reason, whichever responder logged them (each row
        counts those of its window)."""
        return {str(r[0]): int(r[1]) for r in self._rows(Q.refusal_counts)}

    def refusals_after(self, after_id: int) -> list[tuple[int, float, int]]:
        """(id, when its window began, refusals counted) of the refusal rows after
        `after_id`, oldest first."""
        return [
            (int(r[0]), float(r[1]), int(r[2]))
            for r in self._rows(Q.refusals_after, after=after_id)
        ]

    def duplicate_triggers(self, since: float = 0.0) -> list[str]:
        """Alert actions that started more than one swarm, one of them at `since` or
        later: an episode acted on twice (a retry, told what the checks refused, is not
        a second action). The simulation's invariant asks after each step for the
        swarms of that step alone."""
        return [r[0] for r in self._rows(Q.duplicate_triggers, since=since)]

    def decisions(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._rows(Q.decisions, limit=limit)
        return [{"at": r[0], "kind": r[1], **detail_of(r[2])} for r in rows]

    # -- recoveries -----------------------------------------------------------
    def add_recovery(
        self,
        fingerprint: str,
        starts_at: str,
        alertname: str,
        name: str,
        context: str,
        log_path: str,
        at: float,
    ) -> RecoveryRow | None:
        """Record a recovery about to start; None if this episode has run it already."""
        values = {
            "fingerprint": fingerprint,
            "starts_at": starts_at,
            "alertname": alertname,
            "name": name,
            "state": "starting",
            "context": context,
            "log_path": log_path,
            "started_at": at,
        }
        with self._tx() as db:
            row = db.execute(self._insert_ignore(t.recoveries), values).first()
            if row is None:
                return None
            found = db.execute(Q.recovery, {"id": row[0]}).first()
        return None if found is None else RecoveryRow(**found._mapping)

    def update_recovery(self, recovery_id: int, **fields: Any) -> None:
        with self._tx() as db:
            query = update_by_id(t.recoveries, *sorted(fields))
            db.execute(query, new_row(fields, recovery_id))

    def recovery(self, recovery_id: int) -> RecoveryRow | None:
        rows = self._rows(Q.recovery, id=recovery_id)
        return RecoveryRow(**rows[0]._mapping) if rows else None

    def recovery_counts(self) -> dict[tuple[str, str, str], int]:
        """(recovery, outcome, state) -> runs, ever."""
        return {(r[0], r[1], r[2]): int(r[3]) for r in self._rows(Q.recovery_counts)}

    def recoveries(self, states: tuple[str, ...] | None = None) -> list[RecoveryRow]:
        given = {} if states is None else {"states": list(states)}
        query = filtered(t.recoveries, ("id",), *given)
        return [RecoveryRow(**r._mapping) for r in self._rows(query, **given)]


@functools.lru_cache(maxsize=1024)
def detail_of(text: str) -> dict[str, Any]:
    """A decision's detail from its JSON text, decoded once: the latest 20 are read
    at every step of the worker (the status view), and were decoded each time."""
    detail: dict[str, Any] = json.loads(text)
    return detail
