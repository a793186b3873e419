"""The budget: periods, caps and the B tiers, as plain functions of spend, cap and priority.

Tiers (fractions of the current period's cap, `budget.tiers` in warden.yml;
what each allows is decided by `responder.rules.admission`):
- notify (90 %): a person is told; everything may run.
- kill_non_critical (95 %): every swarm that is not CRITICAL is killed (HIGH
  too, B7) and may not start.
- critical_only (99 %): only CRITICAL swarms may run or start (the seed's own
  tier; since B7 it allows what 95 % allows).
- stop (100 %): nothing runs in the period, and nothing but CRITICAL work runs
  in any period until the next day begins (B7, the seed's "sleep until next
  day"): the night's fresh cap or a crisis's does not restart improvement.

A period is where spend is counted: the day (ACTIVE, in the configured time
zone), the night, a maintenance window, a crisis. Each has its mode's cap,
and every period of a calendar day draws on the day's ceiling too (B5).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from warden.config import BudgetSettings, ScheduleSettings

TIERS = ("none", "notify", "kill_non_critical", "critical_only", "stop")


@dataclass(frozen=True)
class Period:
    mode: str
    key: str
    """Unique per period: `day:2026-11-26`, `night:2026-11-26`, `crisis:<id>`."""
    cap_usd: float

    @property
    def label(self) -> str:
        """The bounded `period` label value: day, night, maintenance or crisis."""
        return self.key.split(":", 1)[0]


MODE_OF_PERIOD = {
    "day": "ACTIVE",
    "night": "NIGHT",
    "maintenance": "MAINTENANCE",
    "crisis": "CRISIS",
}
"""The mode whose cap a period has, by the period key's label."""


def tier(spend: float, cap: float, tiers: dict[str, float]) -> int:
    """0 (below every tier) to 4 (stop), from the share of the cap spent."""
    if cap <= 0:
        return len(TIERS) - 1
    ratio = spend / cap
    return sum(1 for name in TIERS[1:] if ratio >= tiers[name])


def event_period(mode: str, event_id: str, budget: BudgetSettings) -> Period:
    """The period of a maintenance window or a crisis: its own cap, counted from zero."""
    if mode not in ("MAINTENANCE", "CRISIS"):
        raise ValueError(f"only MAINTENANCE and CRISIS periods are events, not {mode}")
    return Period(mode, f"{mode.lower()}:{event_id}", budget.caps[mode])


def day_began(now: float, schedule: ScheduleSettings) -> float:
    """When the day `now` is in began: the last `day_start` at or before `now`, local."""
    local = dt.datetime.fromtimestamp(now, schedule.timezone)
    start = local.replace(
        hour=schedule.day_start.hour, minute=schedule.day_start.minute, second=0, microsecond=0
    )
    if start > local:
        start -= dt.timedelta(days=1)
    return wall_clock(start, schedule.timezone)


def wall_clock(moment: dt.datetime, zone: dt.tzinfo) -> float:
    """The instant `moment`'s wall-clock time names in `zone` on its date: a day's start
    after `timedelta` arithmetic across a DST change (a day has 23 or 25 hours)."""
    return moment.replace(tzinfo=None).replace(tzinfo=zone).timestamp()


def spent_out(spends: dict[str, float], budget: BudgetSettings, current: Period) -> tuple[str, ...]:
    """The periods of `spends` other than `current` that reached the stop tier."""
    out = []
    for key, spend in spends.items():
        cap = cap_of(key, budget)
        if key != current.key and cap is not None and spend >= cap * budget.tiers["stop"]:
            out.append(key)
    return tuple(sorted(out))


def cap_of(key: str, budget: BudgetSettings) -> float | None:
    """The cap of the period `key` (`day:2026-11-26`), by its mode; None if unknown."""
    mode = MODE_OF_PERIOD.get(key.split(":", 1)[0])
    return None if mode is None else budget.caps[mode]


def scheduled_period(
    now: dt.datetime, schedule: ScheduleSettings, budget: BudgetSettings
) -> Period:
    """The day or night period `now` falls in, by the project's local clock."""
    local = now.astimezone(schedule.timezone)
    t = local.time()
    start, end = schedule.night_start, schedule.day_start
    night = (start <= t or t < end) if start > end else (start <= t < end)
    if not night:
        return Period("ACTIVE", f"day:{local.date().isoformat()}", budget.caps["ACTIVE"])
    # A night that began before midnight is named after the evening it began.
    began = (
        local.date()
        if (start > end and t >= start) or start <= end
        else (local.date() - dt.timedelta(days=1))
    )
    return Period("NIGHT", f"night:{began.isoformat()}", budget.caps["NIGHT"])
