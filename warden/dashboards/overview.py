"""Overview: is everything fine, and if not, which seed area is red (H, M, E, B)."""

from __future__ import annotations

from warden.alertspecs import ALERTS
from warden.config import Config
from warden.dashboards.budget import budget_ratio, runs_out_in, spend_against_cap
from warden.dashboards.spec import Board, Panel, Query, Section, alert_steps, threshold
from warden.dashboards.swarms import by_priority

MODES = ("ACTIVE", "NIGHT", "MAINTENANCE", "CRISIS")
MODE_EXPR = " + ".join(
    f'max(warden_mode{{mode="{m}"}}) * {i}' for i, m in enumerate(MODES, start=1)
)
MODE_MAPPINGS = (
    ("1", "ACTIVE", "green"),
    ("2", "NIGHT", "blue"),
    ("3", "MAINTENANCE", "purple"),
    ("4", "CRISIS", "red"),
)
LEVEL_MAPPINGS = (("1", "normal", "green"), ("2", "issues", "orange"), ("3", "crisis", "red"))
LEVEL_STEPS = ((None, "green"), (2.0, "orange"), (3.0, "red"))
FIRING = 'ALERTS{alertstate="firing", alertname!="Watchdog"}'
# The seed's areas, by the first letter of each alert's requirement ID.
AREAS = (
    ("T", "T: critical triggers"),
    ("W", "W: warnings"),
    ("X", "X: Warden's own pipeline"),
    ("B", "B: budget tiers"),
)


OUTCOMES_BY_TYPE = Panel(
    "bars",
    "Swarm outcomes by type",
    "Swarms that ended in each hour, by type and result (succeeded, failed, killed).",
    "short",
    (
        Query(
            "sum by (type, result) (increase(warden_swarms_finished_total[1h]))",
            "{{type}} {{result}}",
        ),
    ),
    width=12,
    height=7,
    stacked=True,
)
COVERAGE_OVER_TIME = Panel(
    "series",
    "Coverage over time",
    "Line coverage of each report; CoverageDecreased fires on a fall from the last hour's high.",
    "percentunit",
    (Query("max(warden_coverage_lines_ratio)", "coverage", always=True),),
    width=12,
    height=7,
)


def area_panel(letter: str, title: str) -> Panel:
    names = [a.name for a in ALERTS if a.requirement.startswith(letter) and a.name != "Watchdog"]
    severe = (
        "critical"
        if any(a.severity == "critical" for a in ALERTS if a.name in names)
        else "warning"
    )
    pattern = "|".join(sorted(names))
    return Panel(
        "stat",
        title,
        f"Alerts of seed area {letter} firing now ({', '.join(sorted(names))}).",
        "short",
        (
            Query(
                f'count(ALERTS{{alertstate="firing", alertname=~"{pattern}"}}) or vector(0)',
                always=True,
            ),
        ),
        steps=alert_steps(
            next(a.name for a in ALERTS if a.name in names and a.severity == severe), 1, ">="
        ),
        width=6,
        height=4,
    )


def _now(config: Config) -> Section:
    mode = Panel(
        "stat",
        "Mode",
        "The operating mode now (M1-M4): ACTIVE by day, NIGHT from 23:00, MAINTENANCE"
        " in a window, CRISIS while a critical alert fires.",
        "none",
        (Query(MODE_EXPR, always=True),),
        mappings=MODE_MAPPINGS,
        width=4,
        height=4,
    )
    level = Panel(
        "stat",
        "Escalation level",
        "1 normal, 2 issues (a warning fires), 3 crisis (a critical alert fires) (E).",
        "none",
        (Query("max(warden_escalation_level)", always=True),),
        steps=LEVEL_STEPS,
        mappings=LEVEL_MAPPINGS,
        width=4,
        height=4,
    )
    return Section(
        "Now",
        (
            mode,
            level,
            Panel(
                "stat",
                "Build: failures in a row",
                "Consecutive failed runs of the build command; red where BuildFailing fires.",
                "short",
                (Query("max(warden_build_consecutive_failures)", always=True),),
                steps=alert_steps(
                    "BuildFailing", threshold(config, "BuildFailing", "failures"), ">="
                ),
                width=4,
                height=4,
                alert="BuildFailing",
            ),
            Panel(
                "stat",
                "Tests: failing cases",
                "Failed test cases in the last report; red where TestsFailing fires.",
                "short",
                (Query('max(warden_tests_cases{result="failed"})', always=True),),
                steps=alert_steps(
                    "TestsFailing", threshold(config, "TestsFailing", "failed_cases"), ">="
                ),
                width=4,
                height=4,
                alert="TestsFailing",
            ),
            Panel(
                "stat",
                "Type errors",
                "Errors the type checker reported in its last run. No alert: a trend to watch.",
                "short",
                (Query("max(warden_typecheck_errors)", always=True),),
                width=4,
                height=4,
            ),
            Panel(
                "stat",
                "Coverage",
                "Line coverage of the last report (H).",
                "percentunit",
                (Query("max(warden_coverage_lines_ratio)", always=True),),
                width=4,
                height=4,
            ),
            budget_ratio(config, width=6),
            runs_out_in(width=6),
            Panel(
                "stat",
                "Swarms running",
                "Swarms running now; red below the minimum, where SwarmsBelowMinimum fires (R2).",
                "short",
                (Query('sum(warden_swarms{state="running"}) or vector(0)', always=True),),
                steps=alert_steps(
                    "SwarmsBelowMinimum", threshold(config, "SwarmsBelowMinimum", "minimum"), "<"
                ),
                width=6,
                height=4,
                alert="SwarmsBelowMinimum",
            ),
            Panel(
                "stat",
                "Alerts firing",
                "Alerts firing now, the Watchdog left out.",
                "short",
                (Query(f"count({FIRING}) or vector(0)", always=True),),
                steps=((None, "green"), (1.0, "orange")),
                width=6,
                height=4,
            ),
        ),
    )


def _areas(config: Config) -> Section:
    return Section("Seed areas", tuple(area_panel(letter, title) for letter, title in AREAS))


def _over_time(config: Config) -> Section:
    return Section(
        "Over time",
        (
            Panel(
                "timeline",
                "Mode over time",
                "The operating mode through the period; crises are also marked on every graph.",
                "none",
                (Query(MODE_EXPR, "mode", always=True),),
                mappings=MODE_MAPPINGS,
                width=12,
                height=5,
            ),
            Panel(
                "timeline",
                "Escalation over time",
                "The escalation level through the period.",
                "none",
                (Query("max(warden_escalation_level)", "level", always=True),),
                steps=LEVEL_STEPS,
                mappings=LEVEL_MAPPINGS,
                width=12,
                height=5,
            ),
            spend_against_cap(width=12),
            by_priority(width=12),
            OUTCOMES_BY_TYPE,
            COVERAGE_OVER_TIME,
            Panel(
                "bars",
                "Firing alerts",
                "Which alerts fired when, one bar per alert name.",
                "short",
                (Query(f"count by (alertname) ({FIRING})", "{{alertname}}"),),
                width=24,
                height=7,
                stacked=True,
            ),
        ),
    )


def board(config: Config) -> Board:
    return Board(
        "warden-overview",
        "Warden / Overview",
        "Is everything fine, what is Warden doing, what does it cost.",
        (_now(config), _areas(config), _over_time(config)),
    )
