"""Warden's settings as every part uses them: typed, resolved and checked.

`load.py` makes them from a `warden.yml` the schema (`schema.py`) accepted:
durations are seconds, paths absolute, patterns compiled, each swarm type
complete. No default is written here: a setting's default is the schema's.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from warden.config.listen import Listen


@dataclass(frozen=True)
class CommandCheck:
    """A project command run on a schedule: build, tests or typecheck."""

    command: tuple[str, ...]
    interval: float
    timeout: float
    run_on_change: bool
    output_tail_bytes: int
    ignore: tuple[str, ...]
    """Globs (relative to the project) whose changes never start a run: outputs
    that the project's `.gitignore` does not already cover."""
    unchanged_interval: float
    """With run_on_change and file events: how often an unchanged project is
    checked again (for what events cannot see: toolchains, dependencies)."""
    env: dict[str, str]


@dataclass(frozen=True)
class TestsSettings:
    check: CommandCheck | None
    junit_report: Path | None
    interval: float


@dataclass(frozen=True)
class TypecheckSettings:
    check: CommandCheck
    error_pattern: re.Pattern[str]
    total_pattern: re.Pattern[str]
    """The checker's own count of its errors (its first matched group); it
    wins over the lines counted by `error_pattern`."""


@dataclass(frozen=True)
class CoverageSettings:
    path: Path
    format: str
    interval: float


@dataclass(frozen=True)
class GitSettings:
    branch: str
    review_ref: str
    interval: float


@dataclass(frozen=True)
class LogSource:
    name: str
    path: Path
    patterns: tuple[re.Pattern[str], ...]


@dataclass(frozen=True)
class LogsSettings:
    sources: tuple[LogSource, ...]
    poll_interval: float
    start_at: str
    offsets_save_interval: float


@dataclass(frozen=True)
class HostSettings:
    paths: tuple[Path, ...]
    interval: float


@dataclass(frozen=True)
class HttpProbe:
    name: str
    url: str
    timeout: float
    headers: dict[str, str]
    expect_status: tuple[int, ...]


@dataclass(frozen=True)
class CommandProbe:
    name: str
    command: tuple[str, ...]
    timeout: float
    env: dict[str, str]
    output: str
    """`exit`: the exit code decides; `json`: exit 0 and the printed JSON's `ok` is true
    (`openclaw health --json`), its `error.kind` exported."""


@dataclass(frozen=True)
class ProbesSettings:
    interval: float
    http: tuple[HttpProbe, ...]
    commands: tuple[CommandProbe, ...]


@dataclass(frozen=True)
class AgentPattern:
    name: str
    match: re.Pattern[str]


@dataclass(frozen=True)
class AgentsSettings:
    interval: float
    patterns: tuple[AgentPattern, ...]


@dataclass(frozen=True)
class ExporterSettings:
    listen: Listen


@dataclass(frozen=True)
class PolicySettings:
    """One alert's policy as written in `responder.policies` (see responder/rules/policy.py)."""

    spawn: tuple[tuple[str, str], ...]
    max_running: int
    recover: str | None
    """A recovery (responder.recoveries) to run first; its swarms follow only if it fails."""
    host_bound: bool | None
    """Only the responder of the alert's `instance` acts on it; None: the default policy's."""


@dataclass(frozen=True)
class Recovery:
    """A command that may set right what an alert reports, run before any swarm (A5)."""

    name: str
    command: tuple[str, ...]
    timeout: float
    settle: float
    """After it succeeded, how long the alert may keep firing before the swarms follow."""
    env: dict[str, str]


@dataclass(frozen=True)
class StackSettings:
    """`warden up`: where Prometheus and Alertmanager listen, and their shipped configs."""

    prometheus_listen: Listen
    alertmanager_listen: Listen
    prometheus_config: Path
    alertmanager_config: Path
    prometheus_lifecycle: bool
    """Prometheus' /-/reload and /-/quit: off, so no client can stop it."""
    prometheus_replica_listen: Listen | None
    """A second Prometheus (replica b), same rules and targets; None: one."""
    alertmanager_peer_listen: Listen | None
    """A second Alertmanager, gossiping with the first; None: one, unclustered."""
    hang_after: float
    """A part whose health check fails this long is killed and restarted (R1: 2 min)."""
    other_exporters: tuple[str, ...]
    """host:port of the fleet's other exporters, which this stack's Prometheus scrapes."""
    other_responders: tuple[str, ...]
    """host:port of the fleet's other responders: scraped, and sent every alert."""


@dataclass(frozen=True)
class ResponderSettings:
    listen: Listen
    token_file: Path
    """The webhook bearer token, the same file Alertmanager's credentials_file reads."""
    max_body_bytes: int
    alertmanager_url: str
    prometheus_url: str
    poll_interval: float
    policies: dict[str, PolicySettings]
    max_connections: int
    """Open HTTP connections at most (both services); one more gets 503 and a close."""
    header_timeout: float
    """A connection must finish its request headers within this (slow clients)."""
    body_timeout: float
    recoveries: dict[str, Recovery]
    id: str
    """This responder among those that share one database (default: the host name)."""
    database: str | None
    """A PostgreSQL URL shared by many responders; None: SQLite in state_dir."""
    database_password_file: Path | None
    """The PostgreSQL password, kept out of the URL (and so out of logs)."""
    instance: str
    """This host's exporter as Prometheus labels its alerts (`instance`): host-bound
    alerts with it are this responder's alone. Default: exporter.listen's host:port."""
    claim_lease: float
    """How long a claimed episode stays this responder's without a renewal: after
    it died, others wait this long before taking its work over."""


AlertValue = float | tuple[str, ...]


@dataclass(frozen=True)
class AlertSettings:
    runbook_base_url: str
    values: dict[str, dict[str, AlertValue]]
    """Per alert, every parameter's value (seconds for durations)."""
    for_: dict[str, float]
    """Per alert, its `for:` in seconds."""

    def number(self, alert: str, param: str) -> float:
        """A threshold, ratio or duration (in seconds) of an alert."""
        value = self.values[alert][param]
        if isinstance(value, tuple):
            raise TypeError(f"alerts.rules.{alert}.{param} is a list of names, not a number")
        return float(value)

    def names(self, alert: str, param: str) -> tuple[str, ...]:
        """The label values an alert's parameter lists."""
        value = self.values[alert][param]
        if not isinstance(value, tuple):
            raise TypeError(f"alerts.rules.{alert}.{param} is a number, not a list of names")
        return value


@dataclass(frozen=True)
class ScheduleSettings:
    """Local time of the project's day: when NIGHT and ACTIVE begin (M1, M2, J9)."""

    timezone: ZoneInfo
    night_start: dt.time
    day_start: dt.time
    maintenance: tuple[tuple[str, float], ...] = ()
    """Maintenance windows that recur: (cron expression, seconds) (M3)."""


@dataclass(frozen=True)
class ModeSettings:
    """M1-M4: how each mode runs (the budget cap is `budget.caps`)."""

    heartbeat: float
    crisis_wake: float
    max_swarms: int
    priorities: tuple[str, ...]
    """Priorities of swarms that may start in this mode."""


@dataclass(frozen=True)
class SwarmType:
    name: str
    prompt: str
    command: tuple[str, ...]
    adapter: str
    cwd: Path
    env: dict[str, str]
    timeout: float
    retries: int
    retry_backoff: float
    budget_usd: float
    """Spending cap of one agent run (`{budget_usd}`, Claude's --max-budget-usd)."""
    size: int
    max_running: int | None
    """Swarms of the type running at once, fleet-wide (None: only the mode's cap)."""
    stuck_after: float
    spawn_timeout: float
    kill_grace: float
    pause_after: int
    """The circuit breaker: runs in a row failed the same permanent way (0: never)."""
    model: str
    permission_mode: str
    allowed_tools: tuple[str, ...]
    user: str | None
    """Who agents run as (a name); None: Warden's own user, which must not be root."""
    group: str | None
    """Their group; None: the user's own group."""
    memory_max: int | None
    """Bytes an agent's cgroup may use (cgroup v2 memory.max), where the host allows."""
    pids_max: int | None
    """Processes an agent's cgroup may hold (pids.max), where the host allows."""
    isolation: str
    """worktree: each swarm in its own git worktree, its work verified before it
    lands; none: agents work in `cwd` and their word is taken."""
    land: str
    """What becomes of verified work: merge (fast-forward), branch or none."""
    expects_change: bool
    """A swarm that changed nothing has not done its work (`no_change`)."""
    worktree_setup: tuple[str, ...]
    """Run once in a new worktree, before its agents (may be empty)."""
    worktree_share: tuple[str, ...]
    """Paths of the project linked into each worktree, never committed."""


@dataclass(frozen=True)
class BudgetSettings:
    tiers: dict[str, float]
    caps: dict[str, float]
    """Cap per period, by the mode the period belongs to (M1-M4)."""
    ceilings: dict[str, float]
    """Caps over every period of a local calendar day, week or month (B5)."""
    report_limit: float
    """A reported cost above this many times the run's cap is set aside (B6)."""
    prices: dict[str, tuple[float, float, float, float]]
    """Part of a model's name -> USD per million (input, output, cache write, cache
    read) tokens, the longest part first."""


@dataclass(frozen=True)
class LearningSettings:
    """Level 3 (L1-L5): how each swarm's type and size are chosen for a kind of work."""

    enabled: bool
    """False: every swarm takes its configured type and size (J2 takes its types in turn)."""
    window: int
    """The latest runs of each type that count, all its sizes."""
    half_life: float
    """Seconds in which a run's weight halves: old runs fade, so the choice follows a
    change within hours."""
    sizes: tuple[int, ...]
    """Sizes any type may take; (): its configured size and one more."""
    choices: dict[str, tuple[str, ...]]
    """Per kind of work (an alertname, or the jobs J1, J2, J8): the swarm types that may
    do it, the first being the default; absent: the policy's or the job's own type(s)."""


@dataclass(frozen=True)
class EscalationSettings:
    """N1: the ladder of one problem episode (responder/decide/ladder.py)."""

    attempts: int
    """Swarms of the usual size that may end with the problem still firing."""
    max_size: int
    """The bigger swarm that follows is one agent bigger than any before, at most this."""


@dataclass(frozen=True)
class Config:
    file: Path
    project_dir: Path
    state_dir: Path
    secrets_dir: Path
    """The passwords between the parts (warden.auth); default state_dir/secrets."""
    exporter: ExporterSettings
    responder: ResponderSettings
    stack: StackSettings
    build: CommandCheck | None
    tests: TestsSettings | None
    typecheck: TypecheckSettings | None
    coverage: CoverageSettings | None
    git: GitSettings | None
    logs: LogsSettings | None
    host: HostSettings | None
    probes: ProbesSettings | None
    agents: AgentsSettings | None
    budget: BudgetSettings
    alerts: AlertSettings
    schedule: ScheduleSettings
    modes: dict[str, ModeSettings]
    swarm_types: dict[str, SwarmType]
    learning: LearningSettings
    escalation: EscalationSettings
    warnings: tuple[str, ...]
    """What works but will not do what was meant (`warden check-config` shows them,
    every component logs them at start)."""
