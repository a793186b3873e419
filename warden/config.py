"""Warden's one config file, `warden.yml`, as typed and validated settings.

Every component (exporter now, responder later) reads the same file through
`load_config`. A collector section that is absent is disabled; a section that
is present gets the defaults documented in the shipped `warden.yml` for every
key it leaves out. One rule for paths, as in Prometheus' own config: a
relative path is relative to the config file's folder, in every key and every
component. Defaults of files inside the project (the coverage report, the
swarms' folder) are under `project.dir`. Commands are argument lists run in
`project.dir`, as a person would type them there.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import grp
import os
import pwd
import re
import shutil
import socket
import sys
import tempfile
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from warden.access import User, refusal, which
from warden.alertspecs import ALERTS, BUDGET_TIERS, Param
from warden.configreader import NAME_RE, ConfigError, Problems, Reader, parse_bytes

DEFAULT_EXPORTER_PORT = 8947
DEFAULT_RESPONDER_PORT = 8948
S = TypeVar("S")


@dataclass(frozen=True)
class Listen:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_listen(text: str) -> Listen:
    """Parse HOST:PORT (IPv6 hosts in brackets); raises ValueError with the reason."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(
            f"expected HOST:PORT such as 127.0.0.1:{DEFAULT_EXPORTER_PORT}, got {text!r}"
        )
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"port must be 1-65535, got {port}")
    return Listen(host.strip("[]"), port)


@dataclass(frozen=True)
class CommandCheck:
    """A project command run on a schedule: build, tests or typecheck."""

    command: tuple[str, ...]
    interval: float
    timeout: float
    run_on_change: bool
    output_tail_bytes: int
    ignore: tuple[str, ...] = ()
    """Globs (relative to the project) whose changes never start a run: outputs
    that the project's `.gitignore` does not already cover."""
    unchanged_interval: float = 600.0
    """With run_on_change and file events: how often an unchanged project is
    checked again (for what events cannot see: toolchains, dependencies)."""
    env: dict[str, str] = field(default_factory=dict)


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
    env: dict[str, str] = field(default_factory=dict)
    output: str = "exit"
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
    recover: str | None = None
    """A recovery (responder.recoveries) to run first; its swarms follow only if it fails."""
    host_bound: bool | None = None
    """Only the responder of the alert's `instance` acts on it; None: the default policy's."""


@dataclass(frozen=True)
class Recovery:
    """A command that may set right what an alert reports, run before any swarm (A5)."""

    name: str
    command: tuple[str, ...]
    timeout: float
    settle: float
    """After it succeeded, how long the alert may keep firing before the swarms follow."""
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StackSettings:
    """`warden up`: where Prometheus and Alertmanager listen, and their shipped configs."""

    prometheus_listen: Listen
    alertmanager_listen: Listen
    prometheus_config: Path
    alertmanager_config: Path
    prometheus_lifecycle: bool = False
    """Prometheus' /-/reload and /-/quit: off, so no client can stop it."""
    prometheus_replica_listen: Listen | None = None
    """A second Prometheus (replica b), same rules and targets; None: one."""
    alertmanager_peer_listen: Listen | None = None
    """A second Alertmanager, gossiping with the first; None: one, unclustered."""
    hang_after: float = 60.0
    """A part whose health check fails this long is killed and restarted (R1: 2 min)."""
    other_exporters: tuple[str, ...] = ()
    """host:port of the fleet's other exporters, which this stack's Prometheus scrapes."""
    other_responders: tuple[str, ...] = ()
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
    max_connections: int = 256
    """Open HTTP connections at most (both services); one more gets 503 and a close."""
    header_timeout: float = 5.0
    """A connection must finish its request headers within this (slow clients)."""
    body_timeout: float = 10.0
    recoveries: dict[str, Recovery] = field(default_factory=dict)
    id: str = field(default_factory=socket.gethostname)
    """This responder among those that share one database (default: the host name)."""
    database: str | None = None
    """A PostgreSQL URL shared by many responders; None: SQLite in state_dir."""
    database_password_file: Path | None = None
    """The PostgreSQL password, kept out of the URL (and so out of logs)."""
    instance: str = ""
    """This host's exporter as Prometheus labels its alerts (`instance`): host-bound
    alerts with it are this responder's alone. Default: exporter.listen's host:port."""
    claim_lease: float = 30.0
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


MODES = ("ACTIVE", "NIGHT", "MAINTENANCE", "CRISIS")
PRIORITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
ADAPTERS = ("claude", "generic")
PLACEHOLDERS = (
    "{prompt}",
    "{context_file}",
    "{budget_usd}",
    "{swarm_id}",
    "{agent_id}",
    "{model}",
    "{permission_mode}",
    "{allowed_tools}",
)
CLAUDE_COMMAND = [
    "claude",
    "-p",
    "{prompt}",
    "--output-format",
    "stream-json",
    "--verbose",
    "--permission-mode",
    "{permission_mode}",
    "--allowedTools",
    "{allowed_tools}",
    "--model",
    "{model}",
    "--max-budget-usd",
    "{budget_usd}",
]
PERMISSION_MODES = ("acceptEdits", "auto", "bypassPermissions", "manual", "dontAsk", "plan")
"""What Claude Code's --permission-mode accepts (2.1)."""
BYPASS = "bypassPermissions"
ALLOWED_TOOLS = (
    "Read",
    "Edit",
    "Write",
    "Glob",
    "Grep",
    "Bash(git:*)",
    "Bash(python3:*)",
    "Bash(python:*)",
    "Bash(pytest:*)",
    "Bash(npm:*)",
    "Bash(make:*)",
)
"""Tools an agent may use without asking: edit the project, run its checks and git."""
DEFAULT_PROMPTS = {
    "bugfix": "Fix what is failing in this project. What failed, and its output, is in "
    "{context_file}. Make the smallest change that fixes it and run the checks again.",
    "tests": "Make the failing tests pass without weakening them. Details are in {context_file}.",
    "coverage": "Add meaningful tests for untested code in this project. Context: {context_file}.",
    "monitor": "Find out why the failure described in {context_file} happened and add a check "
    "that prevents it from happening again.",
    "review": "Review the commits not yet reviewed (see {context_file}); fix what is wrong, "
    "then mark them reviewed with `git update-ref refs/warden/reviewed HEAD`.",
    "improvement": "Make one small, safe improvement to this project's code or tests. "
    "Context: {context_file}.",
    "cleanup": "Free disk space and remove stale build outputs, caches and logs that this "
    "project does not need. Context: {context_file}.",
}


@dataclass(frozen=True)
class ScheduleSettings:
    """Local time of the project's day: when NIGHT and ACTIVE begin (M1, M2, J9)."""

    timezone: ZoneInfo
    night_start: dt.time
    day_start: dt.time


@dataclass(frozen=True)
class ModeSettings:
    """M1-M4: how each mode runs (the budget cap is `budget.caps`)."""

    heartbeat: float
    crisis_wake: float
    max_swarms: int
    priorities: tuple[str, ...]
    """Priorities of swarms that may start in this mode."""


MODE_DEFAULTS: dict[str, tuple[str, str, int, tuple[str, ...]]] = {
    "ACTIVE": ("1m", "10s", 10, PRIORITIES),
    "NIGHT": ("3m", "30s", 3, ("CRITICAL", "HIGH")),
    "MAINTENANCE": ("5m", "1m", 5, PRIORITIES),
    "CRISIS": ("10s", "0s", 15, ("CRITICAL", "HIGH")),
}


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
    stuck_after: float
    spawn_timeout: float
    kill_grace: float
    pause_after: int = 3
    """The circuit breaker: runs in a row failed the same permanent way (0: never)."""
    model: str = "sonnet"
    permission_mode: str = "acceptEdits"
    allowed_tools: tuple[str, ...] = ALLOWED_TOOLS
    user: str | None = None
    """Who agents run as (a name); None: Warden's own user, which must not be root."""
    group: str | None = None
    """Their group; None: the user's own group."""
    memory_max: int | None = None
    """Bytes an agent's cgroup may use (cgroup v2 memory.max), where the host allows."""
    pids_max: int | None = None
    """Processes an agent's cgroup may hold (pids.max), where the host allows."""


@dataclass(frozen=True)
class BudgetSettings:
    tiers: dict[str, float]
    caps: dict[str, float]
    """Cap per period, by the mode the period belongs to (M1-M4)."""
    ceilings: dict[str, float] = field(default_factory=dict)
    """Caps over every period of a local calendar day, week or month (B5)."""


@dataclass(frozen=True)
class LearningSettings:
    """Level 3 (L1-L5): how each swarm's type and size are chosen for a kind of work."""

    enabled: bool = True
    """False: every swarm takes its configured type and size (J2 takes its types in turn)."""
    window: int = 6
    """The latest runs of each choice that count: older ones are forgotten, so a choice
    that stopped working is abandoned within `window` runs."""
    sizes: tuple[int, ...] = ()
    """Sizes any type may take; (): its configured size and one more."""
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Per kind of work (an alertname, or the jobs J1, J2, J8): the swarm types that may
    do it, the first being the default; absent: the policy's or the job's own type(s)."""


LEARNED_JOBS = ("J1", "J2", "J8")
"""The scheduled jobs that start swarms (kinds of work besides alerts)."""


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
    learning: LearningSettings = field(default_factory=LearningSettings)
    warnings: tuple[str, ...] = ()
    """What works but will not do what was meant (`warden check-config` shows them,
    every component logs them at start)."""


def load_config(file: Path | str, check_programs: bool = True) -> Config:
    """Read and validate `file`; raise ConfigError listing every problem found.

    `check_programs=False` is for commands that only read Warden's state
    (`warden swarm list`, `warden budget`, `warden status`): they start no
    agent, so the agent program need not be on PATH where they run."""
    path = Path(file)
    problems = Problems(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, [f"cannot read the config file: {exc.strerror}"]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(path, [f"not valid YAML: {exc}"]) from exc
    root = Reader(data, "", problems, path.resolve().parent)
    config = _parse(root, check_programs)
    root.finish()
    if check_programs:
        _check_own_folders(problems, config)
        _check_agents_reach(problems, config)
    problems.raise_if_any()
    return dataclasses.replace(config, warnings=tuple(problems.warnings))


def _parse(root: Reader, check_programs: bool) -> Config:
    project = root.section("project") or Reader({}, "project", root.problems, root.base_dir)
    project_dir = project.path_value("dir", ".", must_exist="dir")
    project.finish()

    exp = _section(root, "exporter")
    exporter = ExporterSettings(_listen(exp, DEFAULT_EXPORTER_PORT))
    exp.finish()
    stack = _stack(_section(root, "stack"))
    responder = _responder(_section(root, "responder"), root, exporter, stack, project_dir)

    col = root.section("collectors") or Reader({}, "collectors", root.problems, root.base_dir)
    sub = _Sections(col)
    config = Config(
        file=root.problems.file,
        project_dir=project_dir,
        state_dir=(state_dir := root.path_value("state_dir", ".warden")),
        secrets_dir=(
            root.path_value("secrets_dir") if _given(root, "secrets_dir") else state_dir / "secrets"
        ),
        exporter=exporter,
        responder=responder,
        stack=stack,
        build=sub.enabled(
            "build", lambda r: _check(r, project_dir, ["npm", "run", "build"], "30s", "10m", True)
        ),
        tests=sub.enabled("tests", lambda r: _tests(r, project_dir)),
        typecheck=sub.enabled("typecheck", lambda r: _typecheck(r, project_dir)),
        coverage=sub.enabled("coverage", lambda r: _coverage(r, project_dir)),
        git=sub.enabled("git", _git),
        logs=sub.enabled("logs", _logs),
        host=sub.enabled("host", lambda r: _host(r, project_dir), default_on=True),
        probes=sub.enabled("probes", lambda r: _probes(r, project_dir)),
        agents=sub.enabled("agents", _agents),
        budget=_budget(_section(root, "budget")),
        alerts=_alerts(_section(root, "alerts")),
        schedule=_schedule(_section(root, "schedule")),
        modes=_modes(_section(root, "modes")),
        swarm_types=_swarms(root.section("swarms"), root, project_dir, check_programs),
    )
    col.finish()
    _check_policies(root, config)
    return dataclasses.replace(config, learning=_learning(_section(root, "learning"), config))


def _responder(
    resp: Reader, root: Reader, exporter: ExporterSettings, stack: StackSettings, project_dir: Path
) -> ResponderSettings:
    responder = ResponderSettings(
        listen=_listen(resp, DEFAULT_RESPONDER_PORT),
        token_file=resp.path_value("token_file", "alertmanager/secrets/webhook-token"),
        max_body_bytes=resp.integer("max_body_bytes", 1 << 20, minimum=1024),
        alertmanager_url=_stack_url(
            resp, "alertmanager_url", stack.alertmanager_listen, "stack.alertmanager_listen", root
        ),
        prometheus_url=_stack_url(
            resp, "prometheus_url", stack.prometheus_listen, "stack.prometheus_listen", root
        ),
        poll_interval=resp.duration("poll_interval", "200ms"),
        policies=_policies(_section(resp, "policies")),
        max_connections=resp.integer("max_connections", 256, minimum=8),
        header_timeout=resp.duration("header_timeout", "5s", minimum=0.1),
        body_timeout=resp.duration("body_timeout", "10s", minimum=0.1),
        recoveries=_recoveries(_section(resp, "recoveries"), root.problems.file, project_dir),
        id=_responder_id(resp),
        database=_database(resp),
        instance=(
            resp.string("instance", "")
            if _given(resp, "instance")
            else f"{exporter.listen.host}:{exporter.listen.port}"
        ),
        claim_lease=resp.duration("claim_lease", "30s", minimum=1.0),
        database_password_file=(
            resp.path_value("database_password_file", must_exist="file")
            if _given(resp, "database_password_file")
            else None
        ),
    )
    resp.finish()
    return responder


def _check_own_folders(problems: Problems, config: Config) -> None:
    """state_dir and secrets_dir are folders Warden writes: a file there, or a folder
    nothing can be written in (`/proc/self`), is refused now rather than at the
    first write of a running responder."""
    refused: list[Path] = []
    for key, folder in (("state_dir", config.state_dir), ("secrets_dir", config.secrets_dir)):
        existing = _nearest(folder)
        if any(r == folder or r in folder.parents for r in refused):
            continue  # inside a folder refused already (secrets_dir's default)
        refused.append(folder)
        if not existing.is_dir():
            problems.add(key, f"{str(existing)!r} is a file, not a folder ({folder} must be one)")
            continue
        try:
            with tempfile.TemporaryFile(dir=existing):
                refused.remove(folder)
        except OSError as exc:
            problems.add(key, f"Warden cannot write in {str(existing)!r} ({exc.strerror})")


def _check_agents_reach(problems: Problems, config: Config) -> None:
    """As root, agents run as `user` (A3), who may not reach what root does: a clone in
    root's home (0700) or in a `mktemp -d` folder. Each type's program and the files
    its arguments name, its working folder, the project and the way to the state
    folder (its context and home are there) must be open to that user; a working
    folder it may not write in is a warning (its agents could not edit it)."""
    if os.geteuid() != 0:
        return
    told: set[tuple[str, Path, str]] = set()
    for name, t in config.swarm_types.items():
        try:
            user = User.named(t.user or "")
        except KeyError:
            continue  # no user, or one this host does not know (said already)
        program = t.command[0]
        if (
            "/" not in program
            and shutil.which(program)
            and (user.name, Path(program), "x") not in told
        ):
            told.add((user.name, Path(program), "x"))
            found, why = which(program, user)
            if found is None:
                problems.add(
                    f"{_key_of(config, name, t)}.command[0]",
                    f"agents run as {user.name} (swarms.user) and cannot run {program!r} "
                    f"from PATH: {why}",
                )
        for what, path, want, key in _agent_needs(config, name, t):
            if (user.name, path, want) in told:
                continue
            told.add((user.name, path, want))
            why = refusal(path, user, want)
            if why is None:
                continue
            text = f"agents run as {user.name} (swarms.user) and cannot use {what} {path}: {why}"
            if "w" in want:
                fix = f"chown it to {user.name}, or let a group of {user.name}'s write"
                problems.warn(key, f"{text}; its agents could not edit it ({fix})")
            else:
                problems.add(key, text)


def _agent_needs(config: Config, name: str, t: SwarmType) -> list[tuple[str, Path, str, str]]:
    """(what, path, permission, config key) of what a type's agents need."""
    key = _key_of(config, name, t)
    needs = []
    program = t.command[0]
    if "/" in program:
        needs.append(("the agent program", t.cwd / program, "x", f"{key}.command[0]"))
    for i, arg in enumerate(t.command[1:], start=1):
        named = Path(os.path.normpath(t.cwd / arg))
        if arg not in PLACEHOLDERS and named.is_file():
            needs.append(("a file its command names", named, "r", f"{key}.command[{i}]"))
    return [
        *needs,
        ("its working folder", t.cwd, "x", f"{key}.cwd"),
        ("its working folder", t.cwd, "wx", f"{key}.cwd"),
        ("the project", config.project_dir, "x", "project.dir"),
        ("the way to its context and home", _nearest(config.state_dir.parent), "x", "state_dir"),
    ]


def _key_of(config: Config, name: str, t: SwarmType) -> str:
    """Where a type's command and cwd are set: the `swarms:` defaults when other types
    share them."""
    alike = [o for o in config.swarm_types.values() if (o.command, o.cwd) == (t.command, t.cwd)]
    return "swarms" if len(alike) > 1 else f"swarms.types.{name}"


def _nearest(path: Path) -> Path:
    """`path`, or its nearest folder that exists."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _given(r: Reader, key: str) -> bool:
    """The key is there and not null (null: its default)."""
    return r.has(key) and not r.raw_is_null(key)


def _responder_id(r: Reader) -> str:
    value = r.string("id", socket.gethostname()) if _given(r, "id") else socket.gethostname()
    if not NAME_RE.match(value):
        r.problems.add(
            r.key("id"), f"expected a short name of letters, digits, '_', '.', '-', got {value!r}"
        )
    return value


def _database(r: Reader) -> str | None:
    """A PostgreSQL URL without a password (that goes in database_password_file)."""
    url = _optional(r, "database", None)
    if url is None:
        return None
    if not url.startswith(("postgresql://", "postgres://")):
        r.problems.add(
            r.key("database"),
            f"expected a URL such as postgresql://warden@db.example/warden, got {url!r} "
            "(leave it out for SQLite in state_dir)",
        )
        return None
    if re.match(r"^postgres(ql)?://[^/@]*:[^/@]*@", url):
        r.problems.add(
            r.key("database"),
            "the URL holds a password; put it in responder.database_password_file "
            "(or libpq's PGPASSWORD / ~/.pgpass) so config files and logs never show it",
        )
        return None
    return url


def _policies(r: Reader) -> dict[str, PolicySettings]:
    """Overrides of the default policies, per alertname; checked against the
    swarm types and priorities once the swarm types are known (`_check_policies`)."""
    out: dict[str, PolicySettings] = {}
    for name in r.names():
        p = _section(r, name)
        spawn = []
        for s in p.sections("spawn"):
            spawn.append((s.string("type"), s.choice("priority", PRIORITIES, "HIGH")))
            s.finish()
        for gone in ("kill_below", "enforce_budget"):
            p.removed(
                gone,
                "no longer a policy key: the admission rule stops what may not run "
                "(R4, modes, budget tiers) for every alert; remove it (docs/responder.md)",
            )
        recover = _optional(p, "recover", None)
        host_bound = p.boolean("host_bound", False) if _given(p, "host_bound") else None
        max_running = p.integer("max_running", 1, minimum=1)
        out[name] = PolicySettings(tuple(spawn), max_running, recover, host_bound)
        p.finish()
    return out


def default_recoveries(config_file: Path) -> dict[str, Recovery]:
    """The recoveries the default policies name: OpenClaw's own restart, and Warden's
    cleanup of its old agent logs and reports (`warden cleanup`)."""
    return {
        "openclaw_restart": Recovery(
            "openclaw_restart", ("openclaw", "gateway", "restart"), 60.0, 120.0
        ),
        "disk_cleanup": Recovery(
            "disk_cleanup",
            (sys.executable, "-m", "warden.shell.cli", "cleanup", "-c", str(config_file)),
            300.0,
            300.0,
        ),
    }


def _recoveries(r: Reader, file: Path, project_dir: Path) -> dict[str, Recovery]:
    """Named recovery commands, run in the project folder. Their programs are not
    required on PATH: a host without OpenClaw needs no `openclaw`, and a missing
    program fails its recovery (`cannot start`), so the swarms follow."""
    out = default_recoveries(file.resolve())
    for name in r.names():
        p = _section(r, name)
        if not NAME_RE.match(name):
            r.problems.add(r.key(name), "expected a short name of letters, digits and _")
        out[name] = Recovery(
            name,
            p.command("command", None, project_dir, check_program=False),
            p.duration("timeout", "1m", minimum=0.1),
            p.duration("settle", "2m", minimum=0),
            p.string_map("env"),
        )
        p.finish()
    r.finish()
    return out


def _check_policies(root: Reader, config: Config) -> None:
    for name, policy in config.responder.policies.items():
        if policy.recover is not None and policy.recover not in config.responder.recoveries:
            known = ", ".join(sorted(config.responder.recoveries))
            root.problems.add(
                f"responder.policies.{name}.recover",
                f"unknown recovery {policy.recover!r} (known: {known})",
            )
        for i, (stype, _) in enumerate(policy.spawn):
            if stype not in config.swarm_types:
                known = ", ".join(sorted(config.swarm_types))
                root.problems.add(
                    f"responder.policies.{name}.spawn[{i}].type",
                    f"unknown swarm type {stype!r} (known: {known})",
                )


def _learning(r: Reader, config: Config) -> LearningSettings:
    """`learning:`; the kinds of work are checked against the policies' alertnames and
    the jobs that start swarms, the types against the swarm types."""
    works = {*(a.name for a in ALERTS), *config.responder.policies, *LEARNED_JOBS}
    choices: dict[str, tuple[str, ...]] = {}
    c = _section(r, "choices")
    for work in c.names():
        if work not in works:
            c.problems.add(
                c.key(work),
                f"unknown kind of work {work!r} (an alertname with a policy, or "
                f"{', '.join(LEARNED_JOBS)})",
            )
        types = c.string_list(work, [])
        for i, t in enumerate(types):
            if t not in config.swarm_types:
                c.problems.add(
                    f"{c.key(work)}[{i}]",
                    f"unknown swarm type {t!r} (known: {', '.join(sorted(config.swarm_types))})",
                )
        if not types:
            c.problems.add(c.key(work), "expected at least one swarm type")
        choices[work] = tuple(types)
    c.finish()
    settings = LearningSettings(
        enabled=r.boolean("enabled", True),
        window=r.integer("window", 6, minimum=1),
        sizes=tuple(sorted(set(r.integer_list("sizes", [], minimum=1)))),
        choices=choices,
    )
    r.finish()
    return settings


SHIPPED_DIR = Path(__file__).resolve().parent.parent
"""Where Warden's shipped Prometheus and Alertmanager configs are."""


def _stack(r: Reader) -> StackSettings:
    settings = StackSettings(
        prometheus_listen=_listen(r, 9090, "prometheus_listen"),
        alertmanager_listen=_listen(r, 9093, "alertmanager_listen"),
        prometheus_config=_shipped(r, "prometheus_config", "prometheus/prometheus.yml"),
        alertmanager_config=_shipped(r, "alertmanager_config", "alertmanager/alertmanager.yml"),
        prometheus_lifecycle=r.boolean("prometheus_lifecycle", False),
        hang_after=r.duration("hang_after", "1m", minimum=1.0),
        prometheus_replica_listen=(
            _listen(r, 9190, "prometheus_replica_listen")
            if _given(r, "prometheus_replica_listen")
            else None
        ),
        alertmanager_peer_listen=(
            _listen(r, 9193, "alertmanager_peer_listen")
            if _given(r, "alertmanager_peer_listen")
            else None
        ),
        other_exporters=_addresses(r, "other_exporters"),
        other_responders=_addresses(r, "other_responders"),
    )
    gossip = [
        (f"{key} (+1, its gossip)", Listen(at.host, at.port + 1))
        for key, at in (
            ("alertmanager_listen", settings.alertmanager_listen),
            ("alertmanager_peer_listen", settings.alertmanager_peer_listen),
        )
        if at is not None and settings.alertmanager_peer_listen is not None
    ]
    taken: dict[int, str] = {}
    for key, at in [
        ("prometheus_listen", settings.prometheus_listen),
        ("alertmanager_listen", settings.alertmanager_listen),
        ("prometheus_replica_listen", settings.prometheus_replica_listen),
        ("alertmanager_peer_listen", settings.alertmanager_peer_listen),
        *gossip,
    ]:
        if at is None:
            continue
        if at.port in taken:
            r.problems.add(r.key(key.split(" ")[0]), f"port {at.port} is {taken[at.port]}'s too")
        taken[at.port] = key
    r.finish()
    return settings


def _addresses(r: Reader, key: str) -> tuple[str, ...]:
    """HOST:PORT of other hosts' parts, as Prometheus and Alertmanager will reach them."""
    out = []
    for i, text in enumerate(r.string_list(key, [])):
        try:
            parse_listen(text)
        except ValueError as exc:
            r.problems.add(f"{r.key(key)}[{i}]", str(exc))
            continue
        out.append(text)
    return tuple(out)


def _shipped(r: Reader, key: str, name: str) -> Path:
    """A config `warden up` starts from: Warden's own unless the key names one,
    so a warden.yml copied anywhere still finds them."""
    if _given(r, key):
        return r.path_value(key, must_exist="file")
    path = SHIPPED_DIR / name
    if not path.is_file():
        r.problems.add(r.key(key), f"Warden's shipped {name} is missing ({path}): name one")
    return path


def _url(r: Reader, name: str, default: str) -> str:
    url = r.string(name, default)
    if not url.startswith(("http://", "https://")):
        r.problems.add(r.key(name), f"expected an http:// or https:// URL, got {url!r}")
    return url


ANY_HOST = ("0.0.0.0", "::", "")
"""Listen hosts that mean every interface: reached on loopback."""


def _stack_url(r: Reader, name: str, listen: Listen, listen_key: str, root: Reader) -> str:
    """Where the responder reaches a part of the stack: derived from the stack's
    listen address when left out (or null); when written beside a `stack`
    section, it must name the same port there, or the responder would ask a
    Prometheus that `warden up` never started."""
    host = "127.0.0.1" if listen.host in ANY_HOST else listen.host
    derived = f"http://{host}:{listen.port}"
    if not _given(r, name):
        return derived
    url = _url(r, name, derived)
    parsed = urllib.parse.urlsplit(url)
    if root.has("stack") and url.startswith(("http://", "https://")):
        try:
            port = parsed.port or (443 if parsed.scheme == "https" else 80)
        except ValueError:
            port = None
        if port != listen.port or (listen.host not in ANY_HOST and parsed.hostname != listen.host):
            r.problems.add(
                r.key(name),
                f"{url} is not where {listen_key} ({listen}) makes it listen; "
                "leave it out to derive it, or make the two agree",
            )
    return url


def _listen(r: Reader, default_port: int, key: str = "listen") -> Listen:
    text = r.string(key, f"127.0.0.1:{default_port}")
    try:
        return parse_listen(text)
    except ValueError as exc:
        r.problems.add(r.key(key), str(exc))
        return Listen("127.0.0.1", default_port)


def _section(root: Reader, name: str) -> Reader:
    return root.section(name) or Reader({}, name, root.problems, root.base_dir)


def _budget(r: Reader) -> BudgetSettings:
    t = _section(r, "tiers")
    tiers = {name: t.ratio(name, default) for name, default in BUDGET_TIERS.items()}
    t.finish()
    values = list(tiers.values())
    if values != sorted(values):
        t.problems.add(t.path, f"tiers must rise in the order {', '.join(tiers)}, got {values}")
    c = _section(r, "caps")
    defaults = {"ACTIVE": 100.0, "NIGHT": 25.0, "MAINTENANCE": 50.0, "CRISIS": 200.0}
    caps = {mode: float(c.number(mode, default)) for mode, default in defaults.items()}
    c.finish()
    # B5: every period of a calendar day draws on one ceiling; week and month
    # ceilings only when configured (null turns one off).
    e = _section(r, "ceilings")
    ceilings: dict[str, float] = {}
    for name, default in (("day", caps["CRISIS"]), ("week", None), ("month", None)):
        if e.has(name) and e.raw_is_null(name):
            continue
        value = e.number(name, -1.0 if default is None else default)
        if value >= 0:
            ceilings[name] = float(value)
    e.finish()
    r.finish()
    return BudgetSettings(tiers, caps, ceilings)


def _modes(r: Reader) -> dict[str, ModeSettings]:
    out: dict[str, ModeSettings] = {}
    for mode, (heartbeat, wake, max_swarms, priorities) in MODE_DEFAULTS.items():
        m = _section(r, mode)
        allowed = m.string_list("priorities", list(priorities))
        for p in allowed:
            if p not in PRIORITIES:
                m.problems.add(m.key("priorities"), f"unknown priority {p!r}")
        out[mode] = ModeSettings(
            heartbeat=m.duration("heartbeat", heartbeat),
            crisis_wake=m.duration("crisis_wake", wake, minimum=0),
            max_swarms=m.integer("max_swarms", max_swarms),
            priorities=tuple(allowed),
        )
        m.finish()
    r.finish()
    return out


def _clock_time(r: Reader, name: str, default: str) -> dt.time:
    text = r.string(name, default)
    try:
        return dt.time.fromisoformat(text)
    except ValueError:
        r.problems.add(r.key(name), f"expected a time of day like 23:00, got {text!r}")
        return dt.time.fromisoformat(default)


def _schedule(r: Reader) -> ScheduleSettings:
    name = r.string("timezone", "UTC")
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        r.problems.add(
            r.key("timezone"), f"unknown time zone {name!r}, expected e.g. Europe/Berlin"
        )
        zone = ZoneInfo("UTC")
    settings = ScheduleSettings(
        zone, _clock_time(r, "night_start", "23:00"), _clock_time(r, "day_start", "07:00")
    )
    r.finish()
    return settings


def _swarm_type(r: Reader, name: str, base: SwarmType | None, cwd: Path, check: bool) -> SwarmType:
    """One swarm type: every key falls back to `base` (the `swarms:` defaults)."""

    def dur(key: str, default: str) -> float:
        return r.duration(key, default) if r.has(key) or base is None else getattr(base, key)

    command = (
        r.command("command", list(CLAUDE_COMMAND), cwd, check_program=check)
        if r.has("command") or base is None
        else base.command
    )
    for i, arg in enumerate(command):
        if arg.startswith("{") and arg.endswith("}") and arg not in PLACEHOLDERS:
            r.problems.add(
                f"{r.key('command')}[{i}]",
                f"unknown placeholder {arg} (known: {', '.join(PLACEHOLDERS)})",
            )
    t = SwarmType(
        name=name,
        prompt=r.string("prompt", DEFAULT_PROMPTS.get(name, base.prompt if base else "")),
        command=command,
        adapter=r.choice("adapter", ADAPTERS, base.adapter if base else "claude"),
        cwd=r.path_value("cwd", ".", must_exist="dir" if r.has("cwd") else "", default_in=cwd)
        if r.has("cwd") or base is None
        else base.cwd,
        env={**(base.env if base else {}), **r.string_map("env")},
        timeout=dur("timeout", "1h"),
        retries=r.integer("retries", base.retries if base else 3),
        retry_backoff=dur("retry_backoff", "5s"),
        budget_usd=float(r.number("budget_usd", base.budget_usd if base else 2.0)),
        size=r.integer("size", base.size if base else 1, minimum=1),
        stuck_after=dur("stuck_after", "10m"),
        spawn_timeout=dur("spawn_timeout", "5m"),
        kill_grace=dur("kill_grace", "10s"),
        pause_after=r.integer("pause_after", base.pause_after if base else 3),
        model=r.string("model", base.model if base else "sonnet"),
        permission_mode=r.choice(
            "permission_mode", PERMISSION_MODES, base.permission_mode if base else "acceptEdits"
        ),
        allowed_tools=tuple(
            r.string_list("allowed_tools", list(base.allowed_tools if base else ALLOWED_TOOLS))
        ),
        user=_optional(r, "user", base.user if base else None),
        group=_optional(r, "group", base.group if base else None),
        memory_max=_size(r, "memory_max", base.memory_max if base else None),
        pids_max=_optional_int(r, "pids_max", base.pids_max if base else None),
    )
    if base is None or (t.user, t.group, t.command, t.permission_mode) != (
        base.user,
        base.group,
        base.command,
        base.permission_mode,
    ):  # a type that changes none of these has the defaults' verdict
        _check_identity(r, t, check)
    r.finish()
    return t


def _optional(r: Reader, key: str, default: str | None) -> str | None:
    if not r.has(key):
        return default
    return None if r.raw_is_null(key) else r.string(key)


def _size(r: Reader, key: str, default: int | None) -> int | None:
    """A size in bytes: 2GiB, 512MiB, or a plain number; null for none."""
    text = _optional(r, key, None if default is None else str(default))
    if text is None:
        return None
    try:
        value = parse_bytes(text)
    except ValueError:
        value = 0
    if value <= 0:
        r.problems.add(r.key(key), f"expected a size such as 2GiB or 512MiB, got {text!r}")
        return None
    return value


def _optional_int(r: Reader, key: str, default: int | None) -> int | None:
    if not r.has(key):
        return default
    return None if r.raw_is_null(key) else r.integer(key, 0, minimum=1)


def _check_identity(r: Reader, t: SwarmType, starting: bool) -> None:
    """A3: agents never run as root. `user` is whom they run as when Warden runs
    as root (otherwise they run as Warden's own user). A permission bypass lets
    an agent do anything its user may, and Claude Code refuses it as root."""
    uid = None
    if t.user is not None:
        try:
            uid = pwd.getpwnam(t.user).pw_uid
        except KeyError:
            r.problems.add(r.key("user"), f"no such user {t.user!r} on this host")
            return
    if t.group is not None:
        try:
            grp.getgrnam(t.group)
        except KeyError:
            r.problems.add(r.key("group"), f"no such group {t.group!r} on this host")
    if os.geteuid() != 0:
        return
    bypass = (
        "--dangerously-skip-permissions" in t.command
        or BYPASS in t.command
        or (t.permission_mode == BYPASS and "{permission_mode}" in t.command)
    )
    what = "the swarms (every type)" if t.name == "default" else f"swarm type {t.name!r}"
    if uid == 0 or (uid is None and bypass):
        why = "bypasses permissions" if bypass else "runs agents"
        r.problems.add(
            r.key("user"),
            f"{what} {why} as root: agents never run as root (an agent "
            "may do anything its user may, and Claude Code refuses a bypass as root); "
            "set `user` to an unprivileged user",
        )
    elif uid is None and starting:
        r.problems.add(
            r.key("user"),
            f"Warden runs as root and agents never do: name the user {what} run as "
            "(e.g. `user: nobody`, or an account made for agents)",
        )


def _swarms(
    section: Reader | None, root: Reader, project_dir: Path, check_programs: bool
) -> dict[str, SwarmType]:
    """Swarm types. Without a `swarms:` section the defaults (Claude Code) are
    used unchecked: a config for the exporter alone needs no `claude` on PATH."""
    check = section is not None and check_programs
    r = section or Reader({}, "swarms", root.problems, root.base_dir)
    types_reader = _section(r, "types")
    base = _swarm_type(r, "default", None, project_dir, check)
    out: dict[str, SwarmType] = {}
    names = list(DEFAULT_PROMPTS) + [n for n in types_reader.names() if n not in DEFAULT_PROMPTS]
    for name in names:
        t = _section(types_reader, name)
        if not NAME_RE.match(name):
            r.problems.add(types_reader.key(name), "expected a short name of letters and digits")
        out[name] = _swarm_type(t, name, base, project_dir, check)
    types_reader.finish()
    return out


def _alerts(r: Reader) -> AlertSettings:
    """Thresholds of every alert; `warden rules` renders them into Prometheus rules."""
    base = r.string("runbook_base_url", "docs/runbooks.md")
    rules = _section(r, "rules")
    values: dict[str, dict[str, AlertValue]] = {}
    for_: dict[str, float] = {}
    for spec in ALERTS:
        a = _section(rules, spec.name)
        for_[spec.name] = a.duration("for", spec.for_, minimum=0)
        values[spec.name] = {
            name: _param(a, name, p) for name, p in spec.params.items() if p.kind != "budget"
        }
        a.finish()
    rules.finish()
    r.finish()
    return AlertSettings(base, values, for_)


def _param(r: Reader, name: str, p: Param) -> AlertValue:
    default = p.default
    if p.kind in ("seconds", "window"):
        return r.duration(name, str(default))
    if isinstance(default, tuple):
        return tuple(r.string_list(name, list(default)))
    if isinstance(default, str):
        raise ValueError(f"{name}: a {p.kind} parameter has no value of its own")
    return r.ratio(name, float(default)) if p.kind == "ratio" else r.number(name, float(default))


class _Sections:
    """Parses collector sections: `enabled: false` means off; absent means off
    unless `default_on` (the host collector, which needs no settings)."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def enabled(
        self, name: str, parse: Callable[[Reader], S], default_on: bool = False
    ) -> S | None:
        section = self.reader.section(name)
        if section is None:
            if not default_on:
                return None
            section = Reader({}, self.reader.key(name), self.reader.problems, self.reader.base_dir)
        on = section.boolean("enabled", True)
        result = parse(section)
        section.finish()
        return result if on else None


def _check(
    r: Reader, cwd: Path, command: list[str], interval: str, timeout: str, on_change: bool
) -> CommandCheck:
    r.removed(
        "change_poll_interval",
        "no longer a key: changes are file events from the kernel, seen at once, "
        "not polled; remove it (docs/configuration.md)",
    )
    return CommandCheck(
        command=r.command("command", command, cwd),
        interval=r.duration("interval", interval),
        timeout=r.duration("timeout", timeout),
        run_on_change=r.boolean("run_on_change", on_change),
        output_tail_bytes=r.integer("output_tail_bytes", 16384, minimum=256),
        ignore=_ignore(r),
        unchanged_interval=r.duration("unchanged_interval", "10m", minimum=1),
        env=r.string_map("env"),
    )


def _ignore(r: Reader) -> tuple[str, ...]:
    globs = r.string_list("ignore", [])
    for g in globs:
        if g.startswith("/") or ".." in Path(g).parts:
            r.problems.add(r.key("ignore"), f"expected globs inside the project, got {g!r}")
    return tuple(globs)


def _tests(r: Reader, cwd: Path) -> TestsSettings:
    report = r.string("junit_report", "")
    check = _check(r, cwd, [], "2m", "15m", False)
    if not check.command and not report:
        r.problems.add(r.path, "needs `command`, `junit_report` or both")
    return TestsSettings(
        check=check if check.command else None,
        junit_report=(r.base_dir / report).resolve() if report else None,
        interval=check.interval,
    )


def _typecheck(r: Reader, cwd: Path) -> TypecheckSettings:
    return TypecheckSettings(
        check=_check(r, cwd, ["npx", "tsc", "--noEmit"], "2m", "10m", False),
        error_pattern=r.regex("error_pattern", r"error TS\d+"),
        total_pattern=_total_pattern(r),
    )


# mypy and tsc: "Found 232 errors in 40 files"; pyright: "3 errors, 1 warning, ...".
DEFAULT_TOTAL_PATTERN = r"\bFound (\d+) errors?\b|^\s*(\d+) errors?, \d+ warnings?\b"


def _total_pattern(r: Reader) -> re.Pattern[str]:
    pattern = r.regex("total_pattern", DEFAULT_TOTAL_PATTERN)
    if pattern.groups < 1:
        r.problems.add(r.key("total_pattern"), "expected a group that captures the count")
    return pattern


def _coverage(r: Reader, cwd: Path) -> CoverageSettings:
    return CoverageSettings(
        path=r.path_value("path", "coverage/coverage-summary.json", default_in=cwd),
        format=r.choice("format", ("auto", "istanbul", "cobertura", "lcov"), "auto"),
        interval=r.duration("interval", "30s"),
    )


def _git(r: Reader) -> GitSettings:
    return GitSettings(
        branch=r.string("branch", "HEAD"),
        review_ref=r.string("review_ref", "refs/warden/reviewed"),
        interval=r.duration("interval", "30s"),
    )


def _logs(r: Reader) -> LogsSettings:
    default_patterns = [r"\b(ERROR|FATAL|CRITICAL)\b", r"\bTraceback \(most recent call last\)"]
    shared = [p.pattern for p in r.regex_list("patterns", default_patterns)]
    sources: list[LogSource] = []
    for s in r.sections("sources"):
        sources.append(
            LogSource(
                name=s.name(),
                path=s.path_value("path"),
                patterns=tuple(s.regex_list("patterns", shared)),
            )
        )
        s.finish()
    _unique(r, "sources", [s.name for s in sources])
    return LogsSettings(
        sources=tuple(sources),
        poll_interval=r.duration("poll_interval", "250ms"),
        start_at=r.choice("start_at", ("end", "beginning"), "end"),
        offsets_save_interval=r.duration("offsets_save_interval", "5s"),
    )


def _host(r: Reader, cwd: Path) -> HostSettings:
    paths = r.string_list("paths", ["/", str(cwd)])
    return HostSettings(
        paths=tuple((r.base_dir / p).resolve() for p in paths),
        interval=r.duration("interval", "15s"),
    )


def _probes(r: Reader, cwd: Path) -> ProbesSettings:
    http: list[HttpProbe] = []
    for p in r.sections("http"):
        url = p.string("url")
        if url and not url.startswith(("http://", "https://")):
            p.problems.add(p.key("url"), f"expected an http:// or https:// URL, got {url!r}")
        statuses = p.string_list("expect_status", [])
        http.append(
            HttpProbe(
                name=p.name(),
                url=url,
                timeout=p.duration("timeout", "10s"),
                headers=p.string_map("headers"),
                expect_status=_statuses(p, statuses),
            )
        )
        p.finish()
    commands: list[CommandProbe] = []
    on = r.boolean("enabled", True)  # a probe that is off needs no program on PATH
    for p in r.sections("commands"):
        commands.append(
            CommandProbe(
                name=p.name(),
                command=p.command("command", None, cwd, check_program=on),
                timeout=p.duration("timeout", "10s"),
                env=p.string_map("env"),
                output=p.choice("output", ("exit", "json"), "exit"),
            )
        )
        p.finish()
    _unique(r, "http/commands", [p.name for p in http] + [p.name for p in commands])
    return ProbesSettings(
        interval=r.duration("interval", "15s"), http=tuple(http), commands=tuple(commands)
    )


def _statuses(r: Reader, texts: list[str]) -> tuple[int, ...]:
    out: list[int] = []
    for t in texts:
        if not (t.isdigit() and 100 <= int(t) <= 599):
            r.problems.add(
                r.key("expect_status"), f"expected HTTP status codes such as '200', got {t!r}"
            )
        else:
            out.append(int(t))
    return tuple(out)


def _agents(r: Reader) -> AgentsSettings:
    patterns: list[AgentPattern] = []
    for p in r.sections("patterns"):
        patterns.append(AgentPattern(name=p.name(), match=p.regex("match")))
        p.finish()
    if not patterns:
        r.problems.add(r.key("patterns"), "expected at least one agent pattern")
    _unique(r, "patterns", [p.name for p in patterns])
    return AgentsSettings(interval=r.duration("interval", "15s"), patterns=tuple(patterns))


def _unique(r: Reader, key: str, names: list[str]) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            r.problems.add(
                r.key(key), f"name {n!r} is used twice; names label metrics and must be unique"
            )
        seen.add(n)


__all__ = ["Config", "ConfigError", "load_config", "parse_listen"]
