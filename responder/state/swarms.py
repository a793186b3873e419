"""Swarms and agents, the circuit breaker's pauses, and the results the learning
and the reviews read from them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.sql import Executable

from responder.model import LIVE_AGENT_STATES as LIVE_STATES
from responder.state import schema as t
from responder.state.base import StoreBase
from responder.state.queries import (
    Q,
    filtered,
    finished_query,
    new_row,
    update_by_id,
    verified_query,
)
from responder.state.rows import AgentRow, LedgerEntry, Pause, SwarmRow, pause_of


class SwarmTables(StoreBase):
    """Swarms, agents, pauses and their results."""

    # -- swarms -----------------------------------------------------------
    def add_swarm(self, swarm: SwarmRow, agents: list[AgentRow]) -> None:
        """A swarm and its first agents appear together or not at all."""
        with self._tx() as db:
            db.execute(Q.add_swarm, vars(swarm))
            for a in agents:  # one by one, each through the driver's plan
                db.execute(Q.add_agent, vars(a))

    def swarm(self, swarm_id: str) -> SwarmRow | None:
        rows = self._rows(Q.swarm, id=swarm_id)
        return SwarmRow(**rows[0]._mapping) if rows else None

    def swarms(
        self, state: str | None = None, since: float | None = None, owner: str | None = None
    ) -> list[SwarmRow]:
        """Swarms in `state` (every state if None), created at `since` or later, of `owner`."""
        pairs = (("owner", owner), ("state", state), ("since", since))
        given = {k: v for k, v in pairs if v is not None}
        query = filtered(t.swarms, ("created_at",), *given)
        return [SwarmRow(**r._mapping) for r in self._rows(query, **given)]

    def running_by_type(self) -> dict[str, int]:
        return {r[0]: int(r[1]) for r in self._rows(Q.running_by_type)}

    def _counts(self, query: Executable) -> dict[tuple[str, str], int]:
        return {(r[0], r[1]): int(r[2]) for r in self._rows(query)}

    def outcome_counts(self) -> dict[tuple[str, str], int]:
        """(type, outcome) -> swarms whose work the checks judged."""
        return self._counts(Q.outcome_counts)

    def end_counts(self) -> dict[tuple[str, str], int]:
        """(swarm type, end reason) -> agents Warden ended so, ever."""
        return self._counts(Q.end_counts)

    def release(self, owner: str, released: str) -> None:
        """`owner` stops watching its agents (they keep running): any runtime of its
        host may adopt them (`released` names no process, only the host)."""
        with self._tx() as db:
            for query in Q.release:
                db.execute(query, {"old": owner, "new_owner": released})

    def take_over(self, swarm_ids: list[str], owner: str) -> None:
        """Make `owner` the runtime of these swarms and their agents (their own died)."""
        with self._tx() as db:
            for query in Q.take_over:
                db.execute(query, {"ids": swarm_ids, "new_owner": owner})

    def live_agent_ids(self) -> set[str]:
        """Agents that may have a process now, whoever owns them."""
        return {r[0] for r in self._rows(Q.live_agent_ids, states=list(LIVE_STATES))}

    def end_swarm(
        self,
        swarm_id: str,
        state: str,
        reason: str,
        at: float,
        failure: str | None = None,
        logged: bool = False,
    ) -> bool:
        """Mark a running swarm ended; False if it had already ended (idempotent). With
        `logged`, its `swarm_end` decision is written in the same transaction."""
        with self._tx() as db:
            params = {"row_id": swarm_id, "new_state": state, "new_reason": reason, "at": at}
            if db.execute(Q.end_swarm, {**params, "failure": failure}).rowcount != 1:
                return False
            if logged:
                detail = {"swarm": swarm_id, "state": state, "reason": reason}
                db.execute(Q.log_decision, {"at": at, "kind": "swarm_end", "detail": detail})
            return True

    def update_swarm(self, swarm_id: str, **fields: Any) -> None:
        with self._tx() as db:
            db.execute(update_by_id(t.swarms, *sorted(fields)), new_row(fields, swarm_id))

    # -- agents -----------------------------------------------------------
    def add_agent(self, a: AgentRow) -> None:
        with self._tx() as db:
            db.execute(Q.add_agent, vars(a))

    def agent(self, agent_id: str) -> AgentRow | None:
        rows = self._rows(Q.agent, id=agent_id)
        return AgentRow(**rows[0]._mapping) if rows else None

    def agents(
        self, swarm_id: str | None = None, states: tuple[str, ...] = (), owner: str | None = None
    ) -> list[AgentRow]:
        given: dict[str, Any] = {
            k: v for k, v in (("owner", owner), ("swarm_id", swarm_id)) if v is not None
        }
        if states:
            given["states"] = list(states)
        query = filtered(t.agents, ("slot", "attempt"), *given)
        return [AgentRow(**r._mapping) for r in self._rows(query, **given)]

    def update_agent(self, agent_id: str, **fields: Any) -> None:
        with self._tx() as db:
            db.execute(update_by_id(t.agents, *sorted(fields)), new_row(fields, agent_id))

    def end_agent(self, agent_id: str, ledger: LedgerEntry | None, **fields: Any) -> None:
        """The agent's end and its spend are written in one transaction."""
        with self._tx() as db:
            if fields:
                query = update_by_id(t.agents, *sorted(fields))
                db.execute(query, new_row(fields, agent_id))
            if ledger is not None:
                self._insert_new(db, t.ledger, **vars(ledger))

    def death_counts(self) -> dict[tuple[str, str], int]:
        """(swarm type, death reason) -> agents that died so, ever."""
        return self._counts(Q.death_counts)

    def failure_counts(self) -> dict[tuple[str, str], int]:
        """(swarm type, failure class) -> agent runs that failed so, ever."""
        return self._counts(Q.failure_counts)

    def refused_cost_counts(self) -> dict[str, int]:
        """Swarm type -> agent runs whose reported cost was not one, ever."""
        return {str(r[0]): int(r[1]) for r in self._rows(Q.refused_cost_counts)}

    def last_runs(self, swarm_type: str, n: int) -> list[tuple[str, str | None, str | None]]:
        """(state, failure class, failure text) of the type's last `n` runs that
        succeeded or failed, newest first (runs Warden killed say nothing)."""
        return [(r[0], r[1], r[2]) for r in self._rows(Q.last_runs, type=swarm_type, n=n)]

    # -- the circuit breaker's pauses ----------------------------------------
    def pause(self, swarm_type: str, cls: str, error: str, at: float) -> bool:
        """Pause the type; False if it was paused already (idempotent)."""
        with self._tx() as db:
            return self._insert_new(
                db, t.pauses, type=swarm_type, **{"class": cls}, error=error, since=at
            )

    def resume(self, swarm_type: str) -> Pause | None:
        """Lift the type's pause; the pause lifted, or None if it was not paused."""
        with self._tx() as db:
            row = db.execute(Q.resume, {"type": swarm_type}).first()
        return None if row is None else pause_of(row)

    def pauses(self) -> list[Pause]:
        return [pause_of(r) for r in self._rows(Q.pauses)]

    def tell_once_about_pause(self, swarm_type: str, since: float, at: float) -> bool:
        """True only the first time it is asked for this pause: a person is told once."""
        with self._tx() as db:
            params = {"paused": swarm_type, "paused_since": since, "at": at}
            return db.execute(Q.tell_pause, params).rowcount == 1

    def ended_swarms(self, since: float = 0.0) -> list[SwarmRow]:
        """Swarms that ended at `since` or later (reports over a day or half an hour)."""
        return [SwarmRow(**r._mapping) for r in self._rows(Q.ended_swarms, since=since)]

    def finished(
        self, buckets: tuple[float, ...]
    ) -> list[tuple[str, int, str, int, float, list[int]]]:
        """Ended swarms by (type, size, state): count, total duration, and how many
        lasted at most each bucket, counted by SQL (the cost does not grow in Python)."""
        return [
            (r[0], int(r[1]), r[2], int(r[3]), float(r[4]), [int(v) for v in tuple(r)[5:]])
            for r in self._rows(finished_query(buckets))
        ]

    def verifications(self, buckets: tuple[float, ...]) -> list[tuple[str, int, float, list[int]]]:
        """Judged swarms by type: count, total seconds of verification, and how many
        took at most each bucket."""
        return [
            (r[0], int(r[1]), float(r[2]), [int(v) for v in tuple(r)[3:]])
            for r in self._rows(verified_query(buckets))
        ]

    def type_outcomes(self, swarm_type: str) -> list[tuple[float, bool]]:
        """(started at, succeeded) of every swarm of the type that succeeded or failed (L4)."""
        return [
            (float(r[0]), r[1] == "succeeded") for r in self._rows(Q.type_outcomes, type=swarm_type)
        ]

    def episodes_between(self, since: float, until: float) -> dict[str, int]:
        """Firing episodes that began in [since, until), by alert (recurring alerts)."""
        rows = self._rows(Q.episodes_since, since=since, until=until)
        return {r[0]: int(r[1]) for r in rows}

    def failure_classes_between(self, since: float, until: float) -> dict[str, int]:
        """Failed agent runs that ended in [since, until), by failure class."""
        rows = self._rows(Q.failure_classes_since, since=since, until=until)
        return {r[0]: int(r[1]) for r in rows}

    def failed_contexts(self, since: float, until: float) -> list[str]:
        """The contexts of swarms that failed in [since, until) (J7 empties those older
        than 7 days)."""
        return [r[0] for r in self._rows(Q.failed_contexts, since=since, until=until)]

    def swarm_results(self, since: float = 0.0) -> list[tuple[str, int, int, int, float]]:
        """(type, size, runs, succeeded, spend) of swarms that ended since `since` (L1, L3, L5)."""
        rows = self._rows(Q.swarm_results, since=since)
        return [(r[0], int(r[1]), int(r[2]), int(r[3]), float(r[4])) for r in rows]

    def work_results(
        self, work: str, types: Iterable[str], window: int
    ) -> list[tuple[str, int, bool, float, float]]:
        """(type, size, succeeded, spend, ended) of the latest `window` swarms of each of
        `types`, any size, that did one kind of work (started for the alert or the job
        `work`) and succeeded or failed; swarms Warden killed (mode, budget, a broken
        build) say nothing of the choice. One indexed read a type, of as many rows as
        it returns: the cost does not grow with the history."""
        return [
            (r[0], int(r[1]), r[2] == "succeeded", float(r[3]), float(r[4]))
            for type_ in dict.fromkeys(types)
            for r in self._rows(Q.work_results, work=work, type=type_, window=window)
        ]

    def work_tried(self, work: str, types: Iterable[str]) -> set[str]:
        """Those of `types` ever started for `work`, running ones included."""
        return {t for t in types if self._rows(Q.work_tried, work=work, type=t)}
