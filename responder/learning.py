"""The learning loop (seed level 3, L1-L5): what worked, what it cost, and what to do next.

Figures come from the store: swarms (type, size, result, start time) and the
ledger (what each cost). The responder uses `best_size` when it starts a
swarm, and the daily summary reports all of it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from responder.store import Store
from warden.config import ScheduleSettings

MIN_RUNS = 3
"""Runs of a (type, size) before its figures are trusted over the configured size."""


@dataclass(frozen=True)
class Stat:
    type: str
    size: int
    runs: int
    succeeded: int
    spend_usd: float

    @property
    def success_rate(self) -> float:
        return self.succeeded / self.runs if self.runs else 0.0

    @property
    def cost_per_success(self) -> float | None:
        return self.spend_usd / self.succeeded if self.succeeded else None


def stats(store: Store, since: float = 0.0) -> list[Stat]:
    """L1, L3, L5: per swarm type and size, ended swarms, successes and spend (SQL sums)."""
    return [Stat(*row) for row in store.swarm_results(since)]


def rank_types(store: Store, types: tuple[str, ...]) -> list[str]:
    """L1 used by J2's refill: types never tried first (so each is learned), then by
    successes per dollar, best first."""
    seen: dict[str, list[float]] = {}
    for s in stats(store):
        if s.type in types:
            acc = seen.setdefault(s.type, [0, 0.0])
            acc[0] += s.succeeded
            acc[1] += s.spend_usd

    def key(t: str) -> tuple[int, float]:
        if t not in seen:
            return (0, 0.0)
        succeeded, spend = seen[t]
        return (1, -(succeeded / spend) if spend else -float(succeeded))

    return sorted(types, key=key)


def best_size(store: Store, swarm_type: str, default: int) -> int:
    """L5 used: the size with the most successes per dollar, among sizes tried enough
    and succeeding at least half the time; the configured size until then."""
    candidates = [
        s
        for s in stats(store)
        if s.type == swarm_type and s.runs >= MIN_RUNS and s.success_rate >= 0.5
    ]
    if not candidates:
        return default
    return min(candidates, key=lambda s: (s.cost_per_success or float("inf"), s.size)).size


def best_hour(
    store: Store, schedule: ScheduleSettings, swarm_type: str = "improvement"
) -> int | None:
    """L4: the local hour whose swarms of the type succeeded most often (2 runs at least)."""
    by_hour: dict[int, list[int]] = {}
    for s in store.ended_swarms():
        if s.type != swarm_type:
            continue
        hour = dt.datetime.fromtimestamp(s.created_at, schedule.timezone).hour
        h = by_hour.setdefault(hour, [0, 0])
        h[0] += 1
        h[1] += s.state == "succeeded"
    ranked = [(h[1] / h[0], -hour, hour) for hour, h in by_hour.items() if h[0] >= 2]
    return max(ranked)[2] if ranked else None
