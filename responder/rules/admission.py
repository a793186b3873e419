"""The one admission rule: may work of a priority start, or keep running, now?

Every path that starts work (alert policies, J1, J2, J8, `warden swarm run`,
a retry of a failed agent) and the runtime's check of what runs (after every
change of mode, alert or spend) ask `admit`, a plain function of the facts,
so they cannot disagree. It answers None (admitted) or one reason from a
closed set, which the metric `warden_admission_refusals_total` counts.

The rule, in order (the first reason that applies is the answer):
1. a paused swarm type runs nowhere;
2. R4: while BuildFailing or TestsFailing fires, only CRITICAL work;
3. the mode's priorities (NIGHT and CRISIS: CRITICAL and HIGH); a crisis
   keeps running what it would not start (only R4 stops work for the project's
   sake: its fix comes first through the priorities of what starts);
4. the budget tier, the highest of the period's and every ceiling's
   (day, and the optional week and month): from `kill_non_critical`
   (95 %) only CRITICAL (B7), at `stop` (100 %) nothing; and once any
   period of the day reached `stop`, only CRITICAL until the next day;
and, for starting only:
5. the mode's cap on concurrent swarms (a CRITICAL start takes the place
   of the least urgent, youngest swarm below CRITICAL: `make_room`), then the
   type's own (`swarms.types.<t>.max_running`), both fleet-wide;
6. the spawn guard: spend + what live agents may still spend + this
   swarm's cap stays within the period's cap and within every ceiling, so
   no sequence of periods passes a ceiling by more than one swarm's cap.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any, Protocol

from responder.model import EndReason, Priority
from responder.rules.budget import TIERS, Period, day_began, spent_out, tier, wall_clock
from responder.rules.modes import Situation
from responder.state.store import Pause, SwarmRow
from warden.config import BudgetSettings, Config, ModeSettings


class Refusal(StrEnum):
    PAUSED = "paused"
    BUILD_BROKEN = "build_broken"
    MODE_PRIORITY = "mode_priority"
    BUDGET_TIER = "budget_tier"
    MODE_CAPACITY = "mode_capacity"
    TYPE_CAPACITY = "type_capacity"
    BUDGET_CAP = "budget_cap"
    BUDGET_CEILING = "budget_ceiling"
    CONCURRENCY = "concurrency"
    """An alert's policy already has `max_running` swarms (asked by the handler)."""
    UNKNOWN_TYPE = "unknown_type"

    @property
    def end_reason(self) -> EndReason:
        """Why running work that this refusal stops is recorded as killed."""
        if self is Refusal.BUILD_BROKEN:
            return EndReason.BUILD
        if self in (Refusal.MODE_PRIORITY, Refusal.MODE_CAPACITY, Refusal.TYPE_CAPACITY):
            return EndReason.MODE
        if self is Refusal.PAUSED:
            return EndReason.PAUSED
        return EndReason.BUDGET


PATHS = ("alert", "J1", "J2", "J8", "cli", "retry", "keep", "recovery")
"""Who asked (`keep`: the runtime's check of what runs): the bounded `path` label."""


@dataclass(frozen=True)
class Ceiling:
    name: str
    """day, week or month."""
    cap_usd: float
    spend_usd: float


@dataclass(frozen=True)
class Facts:
    """All `admit` looks at, gathered at one moment by the runtime's owner."""

    mode: str
    mode_settings: ModeSettings
    running: int
    """Swarms running now, whoever started them."""
    build_broken: bool
    period: Period
    period_spend: float
    committed: float
    """What live agents may still spend: the sum of their runs' caps."""
    tiers: dict[str, float]
    ceilings: tuple[Ceiling, ...] = ()
    paused: dict[str, str] = field(default_factory=dict)
    """Swarm types the circuit breaker paused -> the failure class that paused them."""
    spent_out: tuple[str, ...] = ()
    """Other periods of this day that reached the stop tier (B7)."""
    memory_high: bool = False
    """MemoryHigh fires: the mode's cap is halved (W2)."""
    by_type: dict[str, int] = field(default_factory=dict)
    """Swarms running now per type."""
    type_caps: dict[str, int] = field(default_factory=dict)
    """Types with a `max_running` of their own -> it."""

    def without(self, swarm_type: str) -> Facts:
        """The facts with one running swarm of `swarm_type` left out: a retry in a
        swarm that runs already is not counted against the caps again."""
        by_type = {**self.by_type, swarm_type: self.by_type.get(swarm_type, 1) - 1}
        return dataclasses.replace(self, running=self.running - 1, by_type=by_type)

    @property
    def max_swarms(self) -> int:
        """The mode's cap on running swarms; half of it (at least 1) while MemoryHigh
        fires: fewer agents, less memory, most urgent kept."""
        cap = self.mode_settings.max_swarms
        return max(1, cap // 2) if self.memory_high else cap

    @property
    def tier(self) -> int:
        """The budget tier in force: the highest of the period's and the ceilings'."""
        levels = [tier(self.period_spend, self.period.cap_usd, self.tiers)]
        levels += [tier(c.spend_usd, c.cap_usd, self.tiers) for c in self.ceilings]
        return max(levels)

    @property
    def tier_name(self) -> str:
        return TIERS[self.tier]


def tier_allows(priority: Priority, tier_name: str) -> bool:
    if tier_name == "stop":
        return False
    if tier_name in ("critical_only", "kill_non_critical"):
        return priority is Priority.CRITICAL
    return True


def admit(
    facts: Facts, priority: Priority, swarm_type: str, cost: float | None = None
) -> Refusal | None:
    """None if work of `priority` may run; with `cost` (the new swarm's cap, all its
    agents), whether it may start. Otherwise the reason it may not."""
    if swarm_type in facts.paused:
        return Refusal.PAUSED
    if facts.build_broken and priority is not Priority.CRITICAL:
        return Refusal.BUILD_BROKEN
    if str(priority) not in facts.mode_settings.priorities and (
        cost is not None or facts.mode != "CRISIS"
    ):
        return Refusal.MODE_PRIORITY
    if not tier_allows(priority, facts.tier_name) or (
        facts.spent_out and priority is not Priority.CRITICAL
    ):
        return Refusal.BUDGET_TIER
    if cost is None:
        return None
    if facts.running >= facts.max_swarms:
        return Refusal.MODE_CAPACITY
    if facts.by_type.get(swarm_type, 0) >= facts.type_caps.get(swarm_type, facts.running + 1):
        return Refusal.TYPE_CAPACITY
    if facts.period_spend + facts.committed + cost > facts.period.cap_usd + 1e-9:
        return Refusal.BUDGET_CAP
    for c in facts.ceilings:
        if c.spend_usd + facts.committed + cost > c.cap_usd + 1e-9:
            return Refusal.BUDGET_CEILING
    return None


def explain(
    facts: Facts, refusal: Refusal, priority: Priority, cost: float | None, swarm_type: str = ""
) -> str:
    """A sentence for the decision log: the reason with the figures it was made on."""
    p = facts.period
    if refusal is Refusal.PAUSED:
        return "its swarm type is paused (runs kept failing the same way); `warden swarm resume`"
    if refusal is Refusal.BUILD_BROKEN:
        return f"the build or tests are failing (R4): only CRITICAL work, not {priority}"
    if refusal is Refusal.MODE_PRIORITY:
        allowed = ", ".join(facts.mode_settings.priorities)
        return f"{facts.mode} runs only {allowed}, not {priority}"
    if refusal is Refusal.MODE_CAPACITY:
        halved = " (half its cap while MemoryHigh fires)" if facts.memory_high else ""
        return f"{facts.mode} allows {facts.max_swarms} swarms{halved}, {facts.running} run"
    if refusal is Refusal.TYPE_CAPACITY:
        return (
            f"{facts.type_caps.get(swarm_type)} {swarm_type} swarm(s) may run at once"
            f" (max_running), {facts.by_type.get(swarm_type, 0)} run"
        )
    if refusal is Refusal.BUDGET_TIER and tier_allows(priority, facts.tier_name):
        return (
            f"{', '.join(facts.spent_out)} spent its cap: only CRITICAL work until the next"
            f" day, not {priority}"
        )
    if refusal is Refusal.BUDGET_TIER:
        return (
            f"budget tier {facts.tier_name}: {priority} may not run at ${facts.period_spend:.2f}"
            f" of ${p.cap_usd:.2f} ({p.key})"
            + "".join(f", {c.name} ${c.spend_usd:.2f} of ${c.cap_usd:.2f}" for c in facts.ceilings)
        )
    if refusal is Refusal.BUDGET_CAP:
        return (
            f"spend ${facts.period_spend:.2f} + running ${facts.committed:.2f} + this "
            f"${cost or 0:.2f} would pass the period's cap ${p.cap_usd:.2f} ({p.key})"
        )
    if refusal is Refusal.BUDGET_CEILING:
        c = next(
            c
            for c in facts.ceilings
            if c.spend_usd + facts.committed + (cost or 0) > c.cap_usd + 1e-9
        )
        return (
            f"spend ${c.spend_usd:.2f} + running ${facts.committed:.2f} + this "
            f"${cost or 0:.2f} would pass the {c.name}'s ceiling ${c.cap_usd:.2f}"
        )
    return str(refusal)


def ceiling_windows(
    now: float, budget: BudgetSettings, zone: dt.tzinfo
) -> list[tuple[str, float, float, float]]:
    """(name, cap, start, end) of each configured ceiling around `now`, in the project's
    local calendar: the day from midnight, the week from Monday, the month from the 1st."""
    day = dt.datetime.fromtimestamp(now, zone).date()
    return list(_windows_of(day, zone, tuple(budget.ceilings.items())))


@lru_cache(maxsize=16)
def _windows_of(
    date: dt.date, zone: dt.tzinfo, ceilings: tuple[tuple[str, float], ...]
) -> tuple[tuple[str, float, float, float], ...]:
    """The windows of a date: the same all day (each admission asks, twice a step)."""
    day = dt.datetime(date.year, date.month, date.day)
    starts = {
        "day": (day, day + dt.timedelta(days=1)),
        "week": (
            day - dt.timedelta(days=day.weekday()),
            day - dt.timedelta(days=day.weekday()) + dt.timedelta(days=7),
        ),
        "month": (
            day.replace(day=1),
            (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1),
        ),
    }
    # Midnight by the wall clock of that date (a DST change makes a day 23 or 25 h).
    return tuple(
        (name, cap, wall_clock(starts[name][0], zone), wall_clock(starts[name][1], zone))
        for name, cap in ceilings
    )


class Ledger(Protocol):
    """Where the budget's facts are read: the store (a command), or what the owner
    holds of it (responder/state/held.py), which reads the store itself inside the
    admission's guard."""

    def budget_sums(
        self, period: str, windows: list[tuple[float, float]]
    ) -> tuple[float, float, list[float]]: ...

    def running_by_type(self) -> dict[str, int]: ...

    def spend_of_periods_since(self, since: float) -> dict[str, float]: ...


def gather_facts(
    config: Config, ledger: Ledger, sit: Situation, now: float, pauses: list[Pause]
) -> Facts:
    """The admission rule's facts from the ledger, and the pauses as the caller holds
    them. The sums come from one snapshot: responders sharing the store cannot
    slip a charge between them."""
    budget = config.budget
    windows = ceiling_windows(now, budget, config.schedule.timezone)
    spends = ledger.spend_of_periods_since(day_began(now, config.schedule))
    by_type = ledger.running_by_type()
    period_spend, committed, spent = ledger.budget_sums(
        sit.period.key, [(start, end) for _, _, start, end in windows]
    )
    return Facts(
        mode=sit.mode,
        mode_settings=config.modes[sit.mode],
        running=sum(by_type.values()),
        build_broken=sit.build_broken,
        memory_high=sit.memory_high,
        period=sit.period,
        period_spend=period_spend,
        committed=committed,
        tiers=budget.tiers,
        ceilings=tuple(
            Ceiling(name, cap, s) for (name, cap, _, _), s in zip(windows, spent, strict=True)
        ),
        paused={p.type: p.cls for p in pauses},
        spent_out=spent_out(spends, budget, sit.period),
        by_type=by_type,
        type_caps={
            name: t.max_running
            for name, t in config.swarm_types.items()
            if t.max_running is not None
        },
    )


def budget_status(facts: Facts) -> dict[str, Any]:
    """The budget as `warden budget` and the status API show it."""
    p = facts.period
    return {
        "mode": p.mode,
        "period": p.key,
        "cap_usd": p.cap_usd,
        "spend_usd": facts.period_spend,
        "remaining_usd": max(0.0, p.cap_usd - facts.period_spend),
        "committed_usd": facts.committed,
        "tier": facts.tier_name,
        "spent_out": list(facts.spent_out),
        "ceilings": {
            c.name: {"cap_usd": c.cap_usd, "spend_usd": c.spend_usd} for c in facts.ceilings
        },
    }


def make_room(priority: Priority, running: list[SwarmRow]) -> SwarmRow | None:
    """The swarm a CRITICAL start at the mode's cap takes the place of: the least
    urgent and youngest of those below CRITICAL; None for any other start, or when
    every one running is CRITICAL (issue 29: a crisis's fix comes first)."""
    if priority is not Priority.CRITICAL:
        return None
    below = [s for s in running if Priority(s.priority) is not Priority.CRITICAL]
    return max(below, key=lambda s: (Priority(s.priority).rank, s.created_at), default=None)


def unwelcome(facts: Facts, running: list[SwarmRow]) -> list[tuple[SwarmRow, Refusal, str]]:
    """The running swarms to stop, with why: those the rule no longer lets run (R4,
    the mode, the budget tiers), then, past the mode's cap on concurrent swarms (a
    mode with a lower cap began), the least urgent and youngest first."""
    stop: list[tuple[SwarmRow, Refusal, str]] = []
    kept = []
    for swarm in running:
        priority = Priority(swarm.priority)
        refusal = admit(facts, priority, swarm.type)
        if refusal is None:
            kept.append(swarm)
        else:
            stop.append((swarm, refusal, explain(facts, refusal, priority, None)))
    excess = facts.running - (len(running) - len(kept)) - facts.max_swarms
    by_urgency = sorted(kept, key=lambda s: (Priority(s.priority).rank, s.created_at))
    for swarm in by_urgency[len(by_urgency) - max(0, excess) :]:
        detail = explain(facts, Refusal.MODE_CAPACITY, Priority(swarm.priority), None)
        stop.append((swarm, Refusal.MODE_CAPACITY, detail))
    return stop
