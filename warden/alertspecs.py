"""Every alert Warden raises, as data: expression template, parameters, labels, texts.

Why data and not a hand-written rules file: each threshold must be set in one
place, `warden.yml`. The config validates the `alerts:` section against the
parameters declared here, and `warden rules` renders `prometheus/rules/` from
both; CI checks that the committed rules are what the shipped config renders.

An expression template names its parameters as `{name}`. Durations render as
Prometheus durations (`5m`) where they select a range (`window`, `for`) and as
seconds where they are compared with a metric.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SEVERITIES = ("critical", "warning", "none")


@dataclass(frozen=True)
class Param:
    kind: str
    """"number", "ratio" (0-1), "window" (a duration rendered as a range
    selector, `5m`), "seconds" (a duration compared with a metric, rendered
    as a number), "names" (label values, rendered as a regex alternation) or
    "budget" (taken from `budget.tiers`, not set per alert)."""
    default: float | str | tuple[str, ...]
    """A number or ratio; a duration's text (`5m`); label values; a budget tier's name."""
    doc: str


@dataclass(frozen=True)
class AlertSpec:
    name: str
    requirement: str
    severity: str
    component: str
    expr: str
    for_: str
    summary: str
    description: str
    params: dict[str, Param] = field(default_factory=dict)
    notify_human: bool = False
    """Also route to the `human` receiver: a person must see it."""
    every_second: bool = False
    """A critical alert evaluated every second, not every 5 s: its signal is fresh
    within a second (a build's or a test run's result; the exporter is scraped every
    second) and a CRITICAL swarm waits on it. ErrorLogSpike is not: a rate over a
    minute gains little from a look every second. The others read signals refreshed every
    5 s (the responder's scrape) or slower (host and probe collectors, 15 s), so
    evaluating them every second cost Prometheus CPU and gained nothing."""

    @property
    def anchor(self) -> str:
        """The runbook section id, as GitHub renders `## Name` headings."""
        return self.name.lower()


ALERTS: tuple[AlertSpec, ...] = (
    # ---- T: critical triggers -------------------------------------------------
    AlertSpec(
        "BuildFailing",
        "T1",
        "critical",
        "build",
        "warden_build_consecutive_failures >= {failures}",
        "0s",
        "The project's build is failing.",
        "The build command failed {{{{ $value }}}} time(s) in a row on {{{{ $labels.instance }}}}. "
        "Its output is at /api/v1/checks of the exporter.",
        {"failures": Param("number", 1, "failed builds in a row that count as broken")},
        every_second=True,
    ),
    AlertSpec(
        "TestsFailing",
        "T2",
        "critical",
        "tests",
        '(max by (job, instance) (warden_tests_cases{{result="failed"}}) >= {failed_cases})'
        " or (max by (job, instance) (warden_tests_consecutive_failures) >= 1)",
        "0s",
        "Tests of the project are failing.",
        "{{{{ $value }}}} failing test case(s) or failed test run(s) on "
        "{{{{ $labels.instance }}}}.",
        {"failed_cases": Param("number", 1, "failed test cases that count as failing")},
        every_second=True,
    ),
    AlertSpec(
        "AgentDied",
        "T3",
        "critical",
        "agents",
        "sum by (job, instance, type) (increase(warden_swarm_agent_deaths_total[{window}])) > 0",
        "0s",
        "An agent process died.",
        "{{{{ $value | humanize }}}} agent death(s) of {{{{ $labels.type }}}} swarms in the last "
        "{window}.",
        {"window": Param("window", "1m", "how far back a death counts")},
    ),
    AlertSpec(
        "SwarmFailed",
        "T4",
        "critical",
        "swarms",
        "sum by (job, instance, type) "
        '(increase(warden_swarms_finished_total{{result="failed"}}[{window}])) > 0',
        "0s",
        "A swarm exhausted its retries.",
        "{{{{ $value | humanize }}}} {{{{ $labels.type }}}} swarm(s) failed after all retries "
        "in the last {window}.",
        {"window": Param("window", "5m", "how far back a failure counts")},
    ),
    AlertSpec(
        "BudgetNearlyExhausted",
        "T5, B",
        "critical",
        "budget",
        "warden_budget_spend_usd / warden_budget_cap_usd >= {notify}",
        "0s",
        "The period's budget is nearly spent: a person is told.",
        "{{{{ $value | humanizePercentage }}}} of the {{{{ $labels.period }}}} budget is spent.",
        {"notify": Param("budget", "notify", "from budget.tiers.notify")},
        notify_human=True,
    ),
    AlertSpec(
        "ErrorLogSpike",
        "T6",
        "critical",
        "logs",
        "sum without (source) (rate(warden_log_error_lines_total[{window}])) * 60 "
        "> {lines_per_minute}",
        "0s",
        "Error lines are flooding the watched logs.",
        "{{{{ $value | humanize }}}} error lines per minute in the logs watched by "
        "{{{{ $labels.instance }}}} (threshold {lines_per_minute}).",
        {
            "lines_per_minute": Param("number", 10, "error lines per minute, all sources"),
            "window": Param("window", "1m", "rate window"),
        },
    ),
    AlertSpec(
        "OpenClawDisconnected",
        "T7",
        "critical",
        "probes",
        'warden_probe_success{{probe=~"{probes}"}} == 0',
        "30s",
        "The OpenClaw gateway is unreachable.",
        "Probe {{{{ $labels.probe }}}} ({{{{ $labels.kind }}}}) fails on "
        "{{{{ $labels.instance }}}}.",
        {
            "probes": Param(
                "names", ("openclaw", "openclaw_health"), "names of the probes that check OpenClaw"
            )
        },
    ),
    AlertSpec(
        "DiskSpaceLow",
        "T8",
        "critical",
        "disk",
        "warden_host_filesystem_free_bytes / warden_host_filesystem_size_bytes < {free_ratio}",
        "0s",
        "A watched filesystem is almost full.",
        "Only {{{{ $value | humanizePercentage }}}} is free on the filesystem of "
        "{{{{ $labels.path }}}}.",
        {"free_ratio": Param("ratio", 0.20, "free space below which it fires")},
        notify_human=True,
    ),
    # ---- W: warning triggers --------------------------------------------------
    AlertSpec(
        "SlowResponse",
        "W1",
        "warning",
        "probes",
        "warden_probe_duration_seconds > {seconds}",
        "30s",
        "A probed endpoint answers slowly.",
        "Probe {{{{ $labels.probe }}}} took {{{{ $value | humanizeDuration }}}} "
        "(threshold {seconds}s).",
        {"seconds": Param("seconds", "5s", "answer time above which it fires")},
    ),
    AlertSpec(
        "MemoryHigh",
        "W2",
        "warning",
        "memory",
        "1 - warden_host_memory_available_bytes / warden_host_memory_total_bytes > {used_ratio}",
        "1m",
        "Host memory use is high.",
        "{{{{ $value | humanizePercentage }}}} of the memory of {{{{ $labels.instance }}}} "
        "is in use.",
        {"used_ratio": Param("ratio", 0.80, "memory use above which it fires")},
    ),
    AlertSpec(
        "SwarmStuck",
        "W3",
        "warning",
        "swarms",
        'sum by (job, instance, type) (increase(warden_swarm_agents_stuck_total{{why="silent"}}'
        "[{window}])) > 0",
        "0s",
        "A swarm made no progress: Warden replaced a silent agent.",
        "{{{{ $value | humanize }}}} agent(s) of {{{{ $labels.type }}}} swarms went silent past "
        "swarms.stuck_after and were replaced in the last {window}.",
        {"window": Param("window", "10m", "how far back a replaced silent agent counts")},
    ),
    AlertSpec(
        "AgentStuckSpawning",
        "W4",
        "warning",
        "agents",
        'sum by (job, instance, type) (increase(warden_swarm_agents_stuck_total{{why="spawning"}}'
        "[{window}])) > 0",
        "0s",
        "An agent never started working: Warden replaced it.",
        "{{{{ $value | humanize }}}} agent(s) of {{{{ $labels.type }}}} swarms printed nothing "
        "within swarms.spawn_timeout and were replaced in the last {window}.",
        {"window": Param("window", "10m", "how far back a replaced agent counts")},
    ),
    AlertSpec(
        "CoverageDecreased",
        "W5",
        "warning",
        "coverage",
        "max_over_time(warden_coverage_lines_ratio[{window}]) - warden_coverage_lines_ratio"
        " > {drop}",
        "0s",
        "Test coverage went down.",
        "Line coverage is {{{{ $value | humanizePercentage }}}} below its best of the last "
        "{window}.",
        {
            "drop": Param("ratio", 0.0, "drop (0-1) that counts; 0 is any drop"),
            "window": Param("window", "1h", "how far back the best coverage is taken"),
        },
    ),
    AlertSpec(
        "CommitsAwaitingReview",
        "W6",
        "warning",
        "review",
        "warden_git_unreviewed_commits >= {commits}",
        "5m",
        "Commits are waiting for a review.",
        "{{{{ $value }}}} commit(s) on the watched branch are not reviewed yet.",
        {"commits": Param("number", 1, "unreviewed commits that call for a review")},
    ),
    # ---- X: the pipeline watching itself -------------------------------------
    AlertSpec(
        "ResponderHeartbeatMissing",
        "X1, R1",
        "critical",
        "pipeline",
        "(time() - max_over_time(warden_responder_heartbeat_timestamp_seconds[1h]) > {max_age})"
        " or (absent_over_time(warden_responder_heartbeat_timestamp_seconds[1h]) * 3600)",
        "0s",
        "The responder's heartbeat stopped.",
        "The responder's last heartbeat was {{{{ $value | humanizeDuration }}}} ago "
        "(1h 0m 0s: none seen in the last hour).",
        {"max_age": Param("seconds", "2m", "heartbeat age after which it fires")},
        notify_human=True,
    ),
    AlertSpec(
        "SwarmsBelowMinimum",
        "X2, R2",
        "warning",
        "swarms",
        '(sum(warden_swarms{{state="running"}}) or vector(0)) < {minimum}'
        " unless on () (max(warden_budget_spend_usd / warden_budget_cap_usd) >= {stop})",
        "1m",
        "Fewer swarms are running than the minimum.",
        "Only {{{{ $value }}}} swarm(s) running; the minimum is {minimum}.",
        {
            "minimum": Param("number", 3, "swarms that should always run (J2)"),
            "stop": Param("budget", "stop", "from budget.tiers.stop"),
        },
    ),
    AlertSpec(
        "TargetDown",
        "X3",
        "warning",
        "pipeline",
        'up{{job=~"warden-exporter|warden-responder"}} == 0',
        "30s",
        "A Warden component cannot be scraped.",
        "Prometheus cannot scrape {{{{ $labels.job }}}} at {{{{ $labels.instance }}}}.",
        notify_human=True,
    ),
    AlertSpec(
        "CollectorFailing",
        "X4",
        "warning",
        "pipeline",
        "warden_collector_success == 0",
        "5m",
        "An exporter collector keeps failing.",
        "Collector {{{{ $labels.collector }}}} on {{{{ $labels.instance }}}} has been failing; "
        "its last error is at /healthz of the exporter.",
        notify_human=True,
    ),
    AlertSpec(
        "Watchdog",
        "X5",
        "none",
        "pipeline",
        "vector(1)",
        "0s",
        "Always firing: proves the alerting pipeline works end to end.",
        "This alert always fires. The responder expects it on its watchdog endpoint; if it "
        "stops arriving, Prometheus, Alertmanager or the route between them is broken.",
    ),
    # ---- B: the budget tiers above T5 ----------------------------------------
    AlertSpec(
        "BudgetNonCriticalStopped",
        "B",
        "critical",
        "budget",
        "warden_budget_spend_usd / warden_budget_cap_usd >= {kill_non_critical}",
        "0s",
        "The budget's kill tier is reached: every swarm but CRITICAL ones is killed.",
        "{{{{ $value | humanizePercentage }}}} of the {{{{ $labels.period }}}} budget is spent; "
        "Warden kills every swarm that is not CRITICAL (HIGH too); CRITICAL ones go on.",
        {
            "kill_non_critical": Param(
                "budget", "kill_non_critical", "from budget.tiers.kill_non_critical"
            )
        },
        notify_human=True,
    ),
    AlertSpec(
        "BudgetCriticalOnly",
        "B",
        "critical",
        "budget",
        "warden_budget_spend_usd / warden_budget_cap_usd >= {critical_only}",
        "0s",
        "The budget's critical-only tier is reached: only CRITICAL swarms may run.",
        "{{{{ $value | humanizePercentage }}}} of the {{{{ $labels.period }}}} budget is spent; "
        "only CRITICAL swarms may run or start.",
        {"critical_only": Param("budget", "critical_only", "from budget.tiers.critical_only")},
        notify_human=True,
    ),
    AlertSpec(
        "BudgetExhausted",
        "B",
        "critical",
        "budget",
        "warden_budget_spend_usd / warden_budget_cap_usd >= {stop}",
        "0s",
        "The budget is spent: spending stops, and only CRITICAL work runs until the next day.",
        "{{{{ $value | humanizePercentage }}}} of the {{{{ $labels.period }}}} budget is spent; "
        "Warden stops every swarm; until the next day only CRITICAL work runs, in any period.",
        {"stop": Param("budget", "stop", "from budget.tiers.stop")},
        notify_human=True,
    ),
)

WATCHDOG_SILENCE_SECONDS = 90.0
"""X5: the Watchdog's route repeats every 30 s; the responder calls the pipeline
silent after three missed repeats, and the Pipeline dashboard turns red there."""

BUDGET_TIERS: dict[str, float] = {
    "notify": 0.90,
    "kill_non_critical": 0.95,
    "critical_only": 0.99,
    "stop": 1.0,
}
"""B: fractions of the period's cap at which each tier starts."""


@dataclass(frozen=True)
class RecordingSpec:
    record: str
    requirement: str
    expr: str
    doc: str


PERFORMANCE: tuple[RecordingSpec, ...] = (
    RecordingSpec(
        "job:warden_swarms_completed:ratio_1h",
        "P1",
        'sum by (job) (increase(warden_swarms_finished_total{result="succeeded"}[1h]))'
        " / sum by (job) (increase(warden_swarms_finished_total[1h]))",
        "Swarm completion rate: succeeded swarms over all that ended, last hour.",
    ),
    RecordingSpec(
        "job:warden_swarm_time_to_fix_seconds:avg_1h",
        "P2",
        "sum by (job) (increase(warden_swarm_duration_seconds_sum"
        '{type="bugfix", result="succeeded"}[1h]))'
        " / sum by (job) (increase(warden_swarm_duration_seconds_count"
        '{type="bugfix", result="succeeded"}[1h]))',
        "Average time to fix: mean duration of successful bugfix swarms, last hour.",
    ),
    RecordingSpec(
        "job:warden_spend_usd_per_improvement:ratio_1h",
        "P3",
        "sum by (job) (increase(warden_ledger_spend_usd_total[1h]))"
        ' / sum by (job) (increase(warden_swarms_finished_total{result="succeeded"}[1h]))',
        "Budget efficiency: dollars spent per successful swarm, last hour.",
    ),
    RecordingSpec(
        "job:warden_coverage_lines_ratio:delta_1h",
        "P4",
        "max by (job) (delta(warden_coverage_lines_ratio[1h]))",
        "Coverage velocity: change of line coverage (0-1) over the last hour.",
    ),
    RecordingSpec(
        "job:warden_log_error_lines:increase_1h",
        "P5",
        "sum by (job) (increase(warden_log_error_lines_total[1h]))",
        "Error rate: error log lines in the last hour.",
    ),
    RecordingSpec(
        "job:warden_crisis_recovery_seconds:avg_1h",
        "P6",
        "sum by (job) (increase(warden_crisis_duration_seconds_sum[1h]))"
        " / sum by (job) (increase(warden_crisis_duration_seconds_count[1h]))",
        "Recovery time: mean time from a crisis starting to its end, crises ended last hour.",
    ),
)

LEARNING: tuple[RecordingSpec, ...] = (
    RecordingSpec(
        "type:warden_swarms_completed:ratio_1d",
        "L1",
        'sum by (job, type) (increase(warden_swarms_finished_total{result="succeeded"}[1d]))'
        " / sum by (job, type) (increase(warden_swarms_finished_total[1d]))",
        "Which swarm types are most effective: success rate by type, last day.",
    ),
    RecordingSpec(
        "alertname:warden_alert_episodes:increase_1d",
        "L2",
        "sum by (job, alertname) (increase(warden_responder_alert_episodes_total[1d]))",
        "Which patterns cause issues: firing episodes by alert, last day.",
    ),
    RecordingSpec(
        "type:warden_spend_usd:increase_1d",
        "L3",
        "sum by (job, type) (increase(warden_ledger_spend_usd_total[1d]))",
        "Budget allocation: dollars spent by swarm type, last day.",
    ),
    RecordingSpec(
        "type:warden_spend_usd_per_success:ratio_1d",
        "L3",
        "sum by (job, type) (increase(warden_ledger_spend_usd_total[1d]))"
        ' / sum by (job, type) (increase(warden_swarms_finished_total{result="succeeded"}[1d]))',
        "Budget allocation efficiency: dollars per successful swarm by type, last day.",
    ),
    RecordingSpec(
        "class:warden_swarm_agent_failures:increase_1d",
        "L2",
        "sum by (job, class) (increase(warden_swarm_agent_failures_total[1d]))",
        "Failure classes: failed agent runs by why they failed, last day (which patterns"
        " cause issues).",
    ),
    RecordingSpec(
        "hour:warden_learning_improvement_swarms_completed:ratio",
        "L4",
        'sum by (job, hour) (warden_learning_improvement_swarms{result="succeeded"})'
        " / sum by (job, hour) (warden_learning_improvement_swarms)",
        "Self-improvement by hour: improvement swarms' success rate by the local hour they"
        " started, over the store's history.",
    ),
    RecordingSpec(
        "hour:warden_learning_improvement_swarms_completed:ratio_topk1",
        "L4",
        "topk by (job) (1, sum by (job, hour)"
        ' (warden_learning_improvement_swarms{result="succeeded"})'
        " / sum by (job, hour) (warden_learning_improvement_swarms)"
        " and on (job, hour) sum by (job, hour) (warden_learning_improvement_swarms) >= 2)",
        "Best time for self-improvement: the hour (label) whose improvement swarms succeeded"
        " most often, 2 runs at least, and its success rate. J8 runs at it.",
    ),
    RecordingSpec(
        "type_size:warden_swarms_completed:ratio_1d",
        "L5",
        "sum by (job, type, size) (increase(warden_swarms_finished_total"
        '{result="succeeded"}[1d]))'
        " / sum by (job, type, size) (increase(warden_swarms_finished_total[1d]))",
        "Optimal swarm size per task: success rate by type and size, last day.",
    ),
)
