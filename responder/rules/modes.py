"""Operating modes (M1-M4) and escalation levels (E), from firing alerts and the clock.

- CRISIS while any critical alert of the project fires (M4: the seed's "build
  broken / critical error"), not those of Warden's own fleet: a budget running
  low, an agent that died (AgentDied), a swarm that failed (SwarmFailed) are no
  crisis of the project; they wake the responder and start their fix, and
  CRISIS has the largest cap.
- MAINTENANCE during a window started from the CLI or the API.
- Otherwise NIGHT or ACTIVE by the project's local clock (`schedule`).
Escalation: 3 while a critical alert (budget tiers included) fires, 2 while a
warning fires, else 1. Each crisis and maintenance window is a budget period
of its own, so its spend starts from zero under its own cap.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from typing import Protocol

from apscheduler.triggers.cron import CronTrigger

from responder.model import BUILD_BROKEN_ALERTS
from responder.rules.budget import Period, event_period, scheduled_period
from responder.state.store import Store
from warden.config import Config, ScheduleSettings
from warden.config.values import crontab, parse_duration

NOT_A_CRISIS = ("budget", "agents", "swarms")
"""Components of the fleet's own alerts (the budget tiers, AgentDied, SwarmFailed)."""
LONGEST_MAINTENANCE_SECONDS = 7 * 86400.0
"""A maintenance window asked for by a person (M3) lasts a week at most: a typo
(`99999999999h`) must not leave Warden in MAINTENANCE for good."""
STALE_AFTER = {"critical": 12 * 60.0, "warning": 65 * 60.0, "": 9 * 3600.0}
"""An episode not re-sent for twice its route's repeat_interval (5 min for
critical, 30 min for warning, 4 h for the rest) has resolved unseen."""


@dataclass(frozen=True)
class Situation:
    mode: str
    escalation: int
    period: Period
    crisis_id: int | None
    maintenance_until: float | None
    build_broken: bool = False
    """BuildFailing or TestsFailing fires: only CRITICAL work (R4)."""
    memory_high: bool = False
    """MemoryHigh fires: the mode's cap on running swarms is halved (W2)."""


class Seen(Protocol):
    """Where the situation's facts are read: the store (a command), or the owner's
    held copy of them (responder/state/held.py)."""

    def firing(self) -> list[tuple[str, str, str]]: ...

    def open_episodes_seen(self) -> list[tuple[str, str, str, float]]: ...

    def open_crisis_id(self) -> int | None: ...

    def maintenance_at(self, at: float) -> tuple[int, float] | None: ...


def assess(config: Config, store: Store, now: float, seen: Seen) -> Situation:
    """Where Warden stands now; opens or closes the crisis record as needed.
    On a read-only store (a command that only looks) nothing is written: an
    open crisis is reported as it stands."""
    if not store.read_only:
        store.expire_episodes(now, STALE_AFTER, seen.open_episodes_seen())
    firing = seen.firing()
    critical = [a for a in firing if a[1] == "critical"]
    crisis = [a for a in critical if a[2] not in NOT_A_CRISIS]
    escalation = 3 if critical else 2 if any(a[1] == "warning" for a in firing) else 1
    broken = any(a[0] in BUILD_BROKEN_ALERTS for a in firing)
    memory = any(a[0] == "MemoryHigh" for a in firing)
    opened = seen.maintenance_at(now)
    window = (str(opened[0]), opened[1]) if opened else scheduled_window(now, config.schedule)
    if crisis:
        crisis_id = seen.open_crisis_id()
        if crisis_id is None and not store.read_only:
            crisis_id = store.open_crisis(now)
        return Situation(
            "CRISIS",
            escalation,
            event_period("CRISIS", str(crisis_id or "next"), config.budget),
            crisis_id,
            None if window is None else window[1],  # it broke into a maintenance window
            broken,
            memory,
        )
    if not store.read_only and seen.open_crisis_id() is not None:
        store.close_crisis(now)
    if window is not None:
        period = event_period("MAINTENANCE", window[0], config.budget)
        return Situation("MAINTENANCE", escalation, period, None, window[1], broken, memory)
    period = scheduled_period(
        dt.datetime.fromtimestamp(now, dt.UTC), config.schedule, config.budget
    )
    return Situation(period.mode, escalation, period, None, None, broken, memory)


def scheduled_window(now: float, schedule: ScheduleSettings) -> tuple[str, float] | None:
    """(its id, its end) of the window of `schedule.maintenance` open at `now`, if one
    is: the latest start of its cron within its duration before `now`. Read from the
    clock, not written: a restarted responder, or a simulation, finds it open."""
    for cron, duration in schedule.maintenance:
        trigger = _trigger(cron, schedule.timezone)
        since = dt.datetime.fromtimestamp(now - duration, schedule.timezone)
        start = trigger.get_next_fire_time(None, since + dt.timedelta(microseconds=1))
        if start is not None and start.timestamp() <= now:
            began = start.timestamp()
            return f"scheduled-{int(began)}", began + duration
    return None


@cache
def _trigger(cron: str, zone: dt.tzinfo) -> CronTrigger:
    return crontab(cron, zone)


def maintenance_seconds(text: str) -> float:
    """How long a maintenance window asked for as `text` lasts; ValueError saying why
    it is not one (the API's and the command's one rule)."""
    try:
        seconds = parse_duration(text)
    except ValueError:
        raise ValueError(f"expected a duration such as 2h, got {text!r}") from None
    if not 0 < seconds <= LONGEST_MAINTENANCE_SECONDS:
        raise ValueError(f"a maintenance window lasts from 1s to 7d, got {text!r}")
    return seconds
