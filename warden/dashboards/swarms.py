"""Swarms: by type, state and priority; durations, success, stuck and dead agents, retries."""

from __future__ import annotations

from warden.config import Config
from warden.dashboards.spec import COLOURS, Board, Panel, Query, Section, alert_steps, threshold
from warden.rules import prom_duration

TYPE = 'type=~"$type"'


def by_priority(width: int = 12) -> Panel:
    return Panel(
        "bars",
        "Running swarms by priority",
        "CRITICAL, HIGH, MEDIUM and LOW swarms running; in a crisis and at night only"
        " CRITICAL and HIGH may run.",
        "short",
        (Query('sum by (priority) (warden_swarms{state="running"})', "{{priority}}"),),
        width=width,
        height=7,
        stacked=True,
    )


def _running(config: Config) -> Section:
    return Section(
        "Running",
        (
            Panel(
                "bars",
                "Running swarms by type",
                "Swarms running, by type.",
                "short",
                (Query(f'sum by (type) (warden_swarms{{state="running", {TYPE}}})', "{{type}}"),),
                width=12,
                height=7,
                stacked=True,
            ),
            by_priority(),
            Panel(
                "series",
                "Swarms by state",
                "Spawning, running and stuck swarms.",
                "short",
                (Query(f"sum by (state) (warden_swarms{{{TYPE}}})", "{{state}}"),),
                width=12,
                height=7,
            ),
            Panel(
                "series",
                "Agents by state",
                "Agents spawning, running, stuck, or waiting for a retry.",
                "short",
                (Query(f"sum by (state) (warden_swarm_agents{{{TYPE}}})", "{{state}}"),),
                width=12,
                height=7,
            ),
        ),
    )


def _outcomes(config: Config) -> Section:
    return Section(
        "Outcomes",
        (
            Panel(
                "bars",
                "Finished swarms per hour",
                "Swarms that ended in each hour: succeeded, failed (retries ran out) or killed.",
                "short",
                (
                    Query(
                        f"sum by (result) (increase(warden_swarms_finished_total{{{TYPE}}}[1h]))",
                        "{{result}}",
                    ),
                ),
                width=12,
                height=7,
                stacked=True,
            ),
            Panel(
                "series",
                "Success rate by type, last day",
                "Share of each type's swarms that succeeded over 24 h (L1).",
                "percentunit",
                (Query(f"type:warden_swarms_completed:ratio_1d{{{TYPE}}}", "{{type}}"),),
                width=12,
                height=7,
            ),
            Panel(
                "series",
                "Swarm duration",
                "Median and 95th percentile of how long swarms ran, over the last hour.",
                "s",
                tuple(
                    Query(
                        f"histogram_quantile({q}, sum by (le) "
                        f"(rate(warden_swarm_duration_seconds_bucket{{{TYPE}}}[1h])))",
                        f"p{round(q * 100)}",
                    )
                    for q in (0.5, 0.95)
                ),
                width=24,
                height=7,
            ),
        ),
    )


def _trouble(config: Config) -> Section:
    died = prom_duration(threshold(config, "AgentDied", "window"))
    failed = prom_duration(threshold(config, "SwarmFailed", "window"))
    stuck = prom_duration(threshold(config, "SwarmStuck", "window"))
    return Section(
        "Trouble",
        (
            Panel(
                "series",
                "Longest silence",
                "The longest time an agent of each type went without output; Warden replaces"
                " it at its type's stuck_after (the line: the shortest of them, W3).",
                "s",
                (
                    Query(
                        f"max by (type) (warden_swarm_longest_silence_seconds{{{TYPE}}})",
                        "{{type}}",
                    ),
                ),
                steps=(
                    (None, "green"),
                    (min(t.stuck_after for t in config.swarm_types.values()), COLOURS["warning"]),
                ),
                width=12,
                height=7,
            ),
            Panel(
                "bars",
                "Stuck agents replaced",
                f"Agents Warden found stuck and replaced in the last {stuck}: silent (W3) or"
                " never started (W4); red where SwarmStuck or AgentStuckSpawning fires.",
                "short",
                (
                    Query(
                        f"sum by (type, why) (increase("
                        f"warden_swarm_agents_stuck_total{{{TYPE}}}[{stuck}]))",
                        "{{type}} {{why}}",
                    ),
                ),
                steps=alert_steps("SwarmStuck", 0, ">"),
                width=12,
                height=7,
                alert="SwarmStuck",
            ),
            Panel(
                "bars",
                "Agent deaths",
                f"Agents that died in the last {died}, by type and reason; red where AgentDied"
                " fires.",
                "short",
                (
                    Query(
                        f"sum by (type, reason) (increase("
                        f"warden_swarm_agent_deaths_total{{{TYPE}}}[{died}]))",
                        "{{type}} {{reason}}",
                    ),
                ),
                steps=alert_steps("AgentDied", 0, ">"),
                width=12,
                height=7,
                alert="AgentDied",
            ),
            Panel(
                "bars",
                "Failed swarms",
                f"Swarms whose retries ran out in the last {failed}; red where SwarmFailed fires.",
                "short",
                (
                    Query(
                        f"sum by (type) (increase("
                        f'warden_swarms_finished_total{{result="failed", {TYPE}}}[{failed}]))',
                        "{{type}}",
                    ),
                ),
                steps=alert_steps("SwarmFailed", 0, ">"),
                width=12,
                height=7,
                alert="SwarmFailed",
            ),
        ),
    )


def board(config: Config) -> Board:
    return Board(
        "warden-swarms",
        "Warden / Swarms",
        "What the swarms are doing, how they end, and which are in trouble.",
        (_running(config), _outcomes(config), _trouble(config)),
        variables=(("type", "warden_swarms_finished_total, type"),),
    )
