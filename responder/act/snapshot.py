"""What readers of the runtime see: tallies of ended work and the owner's published view.

The runtime's owner publishes a `Snapshot` after every step; a scrape, the
status API and the state file read it and never touch the runtime or wait
for it. `History` keeps the tallies that counters are built from: counted by
SQL when a runtime opens, then kept up as work ends, so neither a scrape nor a
step pays for the whole history.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from responder.rules.admission import Facts
from responder.state.store import AgentRow, Store, SwarmRow

DURATION_BUCKETS = (30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)
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
        )

    def add_swarm(self, swarm: SwarmRow, state: str, seconds: float) -> None:
        n, total, le = self.finished.get((swarm.type, swarm.size, state), (0, 0.0, []))
        le = le or [0] * len(DURATION_BUCKETS)
        within = [v + (seconds <= b) for v, b in zip(le, DURATION_BUCKETS, strict=True)]
        self.finished[(swarm.type, swarm.size, state)] = (n + 1, total + seconds, within)

    def copy(self) -> History:
        return History(
            Counter(self.deaths),
            Counter(self.ended_by_warden),
            dict(self.finished),
            dict(self.spend_by_type),
            Counter(self.failures),
            Counter(self.refused_costs),
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
