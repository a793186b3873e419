"""J1's wake cycle (seed Q4): what the health checks mean, and how long to sleep on it.

J1 looks at the mode's heartbeat (the quick health check); it decides when
the last decision's wake has come, or at once when the mode or the escalation
level changed:

- crisis (a critical alert of the project fires): a CRITICAL swarm, then a
  wake at the crisis wake of the mode the crisis broke into (ACTIVE 10 s,
  NIGHT 30 s, MAINTENANCE 1 min). CRISIS's own "immediate" is the webhook: a
  critical alert is acted on as it arrives, whatever J1 sleeps.
- issues (a warning, or a budget alert, fires): a swarm for each firing alert
  whose policy spawns and that no swarm works on now; a wake in 2 minutes.
- improvement possible (all is calm and the budget is below every tier, yet a
  figure says there is work: type errors, error lines in the logs): a MEDIUM
  improvement swarm; a wake in 5 minutes.
- maintenance (a maintenance window, once per window): the scheduled tasks, J7's
  compaction and a LOW cleanup swarm; then the heartbeat.
- all good: the decision is logged, J1 sleeps for the mode's heartbeat.

While problems fire J1 looks at their ladders every 30 s (`responder.decide.ladder`):
when the swarms on one ended and it still fires, more of the usual size, then one
bigger, then a person once, then nothing more until it changes (N1).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from responder.rules.budget import TIERS, scheduled_period
from responder.rules.modes import NOT_A_CRISIS, Situation
from warden.config import Config

ISSUES_WAKE_SECONDS = 120.0
IMPROVEMENT_WAKE_SECONDS = 300.0
PROGRESS_EVERY_SECONDS = 30.0
IMPROVABLE = {
    "type_errors": "{:.0f} type errors",
    "errors_per_minute": "{:.1f} error lines a minute in the logs",
}
"""The PromQL figures (jobs.PROMQL) that say an improvement is possible when above 0."""


class Kind(StrEnum):
    CRISIS = "crisis"
    ISSUES = "issues"
    IMPROVEMENT = "improvement"
    MAINTENANCE = "maintenance"
    GOOD = "all good"

    @property
    def event(self) -> str:
        """The state file's name for the wake this decision set (`nextScheduledEvent`)."""
        return {
            Kind.CRISIS: "CRISIS_CHECK",
            Kind.ISSUES: "ISSUE_CHECK",
            Kind.IMPROVEMENT: "IMPROVEMENT_CHECK",
            Kind.MAINTENANCE: "HEALTH_CHECK",
            Kind.GOOD: "HEALTH_CHECK",
        }[self]


@dataclass(frozen=True)
class Wake:
    kind: Kind
    reasons: tuple[str, ...]
    """The figures the decision was made on, as sentences."""
    sleep: float
    """Seconds until the next decision."""


def decide(
    config: Config,
    situation: Situation,
    snapshot: dict[str, Any],
    maintenance_due: bool,
    now: float,
) -> Wake:
    """The decision from the health snapshot (`Jobs.health_snapshot`) and the situation."""
    mode = config.modes[situation.mode]
    firing = ", ".join(snapshot["firing"]) or "nothing"
    if situation.mode == "CRISIS":
        broke_into = (
            "MAINTENANCE"  # a crisis in a maintenance window wakes at its crisis wake
            if situation.maintenance_until is not None
            else scheduled_period(
                dt.datetime.fromtimestamp(now, dt.UTC), config.schedule, config.budget
            ).mode
        )
        wake = config.modes[broke_into].crisis_wake or mode.heartbeat
        return Wake(Kind.CRISIS, (f"a critical alert fires ({firing})",), wake)
    if situation.escalation >= 2:
        return Wake(Kind.ISSUES, (f"issues: {firing} firing",), ISSUES_WAKE_SECONDS)
    if maintenance_due:
        return Wake(
            Kind.MAINTENANCE, ("a maintenance window: its scheduled tasks",), mode.heartbeat
        )
    improvable = [
        text.format(snapshot[key])
        for key, text in IMPROVABLE.items()
        if (snapshot.get(key) or 0) > 0
    ]
    if improvable and snapshot["budget_tier"] == TIERS[0] and "MEDIUM" in mode.priorities:
        return Wake(Kind.IMPROVEMENT, tuple(improvable), IMPROVEMENT_WAKE_SECONDS)
    calm = (
        f"all good: {snapshot['swarms_running']} swarms run, {snapshot['agents_stuck']} agents"
        f" stuck, {snapshot['budget_spent_ratio']:.0%} of the budget spent"
    )
    return Wake(Kind.GOOD, (calm, *improvable), mode.heartbeat)


def problems(firing: list[tuple[str, str, str]]) -> frozenset[str]:
    """The firing alerts that are issues of the project: not the fleet's own (the
    budget tiers, AgentDied, SwarmFailed, SwarmsBelowMinimum, the stuck ones), which
    J2, the retries, the stuck kills and the breaker answer, and which Warden's own
    refusals often cause (issue 29: a person was called for them 58 times a week)."""
    return frozenset(
        name
        for name, sev, comp in firing
        if sev in ("critical", "warning") and comp not in NOT_A_CRISIS
    )
