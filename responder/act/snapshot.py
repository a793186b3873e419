"""What readers of the runtime see: tallies of ended work and the owner's published view.

The runtime's owner publishes a `Snapshot` after every step; a scrape, the
status API and the state file read it and never touch the runtime or wait
for it. `History` keeps the tallies that counters are built from: counted by
SQL when a runtime opens, then kept up as work ends, so neither a scrape nor a
step pays for the whole history.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from responder.act.ending import Ending
from responder.model import AgentState, SwarmState
from responder.rules.admission import Facts
from responder.state.held import Held
from responder.state.store import AgentRow, Store, SwarmRow

DURATION_BUCKETS = (30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)
VERIFY_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)
HISTORY_RECOUNT_SECONDS = 300.0
"""How stale the tallies of ended work may get when another runtime ends work."""


@dataclass
class History:
    """Tallies of ended work: counted by SQL when the runtime opens (and every
    HISTORY_RECOUNT_SECONDS, for work other runtimes ended), then kept up by
    the owner as work ends, so their cost does not grow with the history."""

    deaths: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(type, death reason) -> agents."""
    ended_by_warden: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(type, end reason) -> agents."""
    finished: dict[tuple[str, int, str], tuple[int, float, list[int]]] = field(default_factory=dict)
    """(type, size, state) -> (swarms, total seconds, swarms within each bucket)."""
    spend_by_type: dict[str, float] = field(default_factory=dict)
    failures: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(type, failure class) -> failed agent runs."""
    refused_costs: Counter[str] = field(default_factory=Counter)
    """type -> agent runs whose reported cost was not one."""
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(type, outcome) -> swarms whose work the checks judged."""
    verified: dict[str, tuple[int, float, list[int]]] = field(default_factory=dict)
    """type -> (swarms judged, total seconds, judged within each VERIFY_BUCKETS)."""

    @classmethod
    def count(cls, store: Store) -> History:
        return cls(
            Counter(store.death_counts()),
            Counter(store.end_counts()),
            {
                (t, size, state): (n, total, le)
                for t, size, state, n, total, le in store.finished(DURATION_BUCKETS)
            },
            store.spend_by_type(),
            Counter(store.failure_counts()),
            Counter(store.refused_cost_counts()),
            Counter(store.outcome_counts()),
            {t: (n, total, le) for t, n, total, le in store.verifications(VERIFY_BUCKETS)},
        )

    def add_swarm(self, swarm: SwarmRow, state: str, seconds: float) -> None:
        key = (swarm.type, swarm.size, state)
        self.finished[key] = _within(self.finished.get(key), seconds, DURATION_BUCKETS)
        if swarm.outcome is not None:
            self.outcomes[(swarm.type, swarm.outcome)] += 1
        if swarm.verify_seconds is not None:
            self.verified[swarm.type] = _within(
                self.verified.get(swarm.type), swarm.verify_seconds, VERIFY_BUCKETS
            )

    def add_agent(self, kind: str, amount: float, end: Ending, cost_refused: bool) -> None:
        """An agent of `kind` ended so, charged `amount`."""
        self.spend_by_type[kind] = self.spend_by_type.get(kind, 0.0) + amount
        if end.death is not None:
            self.deaths[(kind, end.death)] += 1
        if end.why is not None:
            self.ended_by_warden[(kind, str(end.why))] += 1
        if end.failure is not None:
            self.failures[(kind, str(end.failure.cls))] += 1
        if cost_refused:
            self.refused_costs[kind] += 1

    def copy(self) -> History:
        return History(
            Counter(self.deaths),
            Counter(self.ended_by_warden),
            dict(self.finished),
            dict(self.spend_by_type),
            Counter(self.failures),
            Counter(self.refused_costs),
            Counter(self.outcomes),
            dict(self.verified),
        )


@dataclass(frozen=True)
class Snapshot:
    """What readers see: the owner's view after its last step, never changed in place."""

    at: float
    facts: Facts
    live: tuple[AgentRow, ...]
    running: tuple[SwarmRow, ...]
    waiting: dict[str, int]
    """Agents waiting for a retry, by swarm type."""
    history: History
    refusals: dict[tuple[str, str], int]
    """(path, reason) -> refusals, since this runtime started."""

    @classmethod
    def taken(
        cls,
        held: Held,
        now: float,
        facts: Facts,
        live: list[AgentRow],
        tallies: Tallies,
        refusals: dict[tuple[str, str], int],
    ) -> Snapshot:
        """The view after a step: what runs (on every host), what waits for a retry."""
        store = held.store
        running = tuple(held.read(store.swarms, SwarmState.RUNNING))
        type_of = {s.id: s.type for s in running}
        waiting = Counter(
            type_of.get(a.swarm_id, "")
            for a in held.read(store.agents, states=(AgentState.WAITING,))
        )
        return cls(now, facts, tuple(live), running, dict(waiting), tallies.published(), refusals)


def _within(
    was: tuple[int, float, list[int]] | None, seconds: float, buckets: tuple[float, ...]
) -> tuple[int, float, list[int]]:
    """One more observation of a histogram kept as (count, sum, within each bucket)."""
    n, total, le = was or (0, 0.0, [0] * len(buckets))
    return n + 1, total + seconds, [v + (seconds <= b) for v, b in zip(le, buckets, strict=True)]


class Tallies:
    """The runtime's `History`: counted from the store at start and every
    HISTORY_RECOUNT_SECONDS (work other runtimes ended), kept up by the owner as
    its work ends, and copied for readers only when it changed."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.now = History.count(store)
        self._counted_at = time.monotonic()
        self._published = self.now.copy()
        self._changed = False

    def agent_ended(self, kind: str, amount: float, end: Ending, cost_refused: bool) -> None:
        self.now.add_agent(kind, amount, end, cost_refused)
        self._changed = True

    def swarm_ended(self, swarm: SwarmRow, state: str, seconds: float) -> None:
        self.now.add_swarm(swarm, state, seconds)
        self._changed = True

    def published(self) -> History:
        """A copy for readers, made only when the tallies changed."""
        if time.monotonic() - self._counted_at > HISTORY_RECOUNT_SECONDS:
            self.now, self._counted_at = History.count(self.store), time.monotonic()
            self._changed = True
        if self._changed:
            self._published = self.now.copy()
            self._changed = False
        return self._published
