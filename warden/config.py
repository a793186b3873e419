"""Warden's one config file, `warden.yml`, as typed and validated settings.

Every component (exporter now, responder later) reads the same file through
`load_config`. A collector section that is absent is disabled; a section that
is present gets the defaults documented in the shipped `warden.yml` for every
key it leaves out. Relative paths are resolved against the config file's
folder (project settings) or the project folder (files inside the project).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import yaml

from warden.alertspecs import ALERTS, BUDGET_TIERS, Param
from warden.configreader import ConfigError, Problems, Reader

DEFAULT_EXPORTER_PORT = 8947
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
    change_poll_interval: float
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
    state_dir: Path


@dataclass(frozen=True)
class AlertSettings:
    runbook_base_url: str
    values: dict[str, dict[str, object]]
    """Per alert, every parameter's value (seconds for durations)."""
    for_: dict[str, float]
    """Per alert, its `for:` in seconds."""


@dataclass(frozen=True)
class BudgetSettings:
    tiers: dict[str, float]


@dataclass(frozen=True)
class Config:
    file: Path
    project_dir: Path
    exporter: ExporterSettings
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


def load_config(file: Path | str) -> Config:
    """Read and validate `file`; raise ConfigError listing every problem found."""
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
    config = _parse(root)
    root.finish()
    problems.raise_if_any()
    return config


def _parse(root: Reader) -> Config:
    project = root.section("project") or Reader({}, "project", root.problems, root.base_dir)
    project_dir = project.path_value("dir", ".", must_exist="dir")
    project.finish()

    exp = root.section("exporter") or Reader({}, "exporter", root.problems, root.base_dir)
    listen_text = exp.string("listen", f"127.0.0.1:{DEFAULT_EXPORTER_PORT}")
    try:
        listen = parse_listen(listen_text)
    except ValueError as exc:
        exp.problems.add(exp.key("listen"), str(exc))
        listen = Listen("127.0.0.1", DEFAULT_EXPORTER_PORT)
    exporter = ExporterSettings(listen, exp.path_value("state_dir", ".warden"))
    exp.finish()

    col = root.section("collectors") or Reader({}, "collectors", root.problems, root.base_dir)
    sub = _Sections(col, project_dir)
    config = Config(
        file=root.problems.file,
        project_dir=project_dir,
        exporter=exporter,
        build=sub.enabled(
            "build", lambda r: _check(r, project_dir, ["npm", "run", "build"], "30s", "10m", True)
        ),
        tests=sub.enabled("tests", lambda r: _tests(r, project_dir)),
        typecheck=sub.enabled("typecheck", lambda r: _typecheck(r, project_dir)),
        coverage=sub.enabled("coverage", lambda r: _coverage(r, project_dir)),
        git=sub.enabled("git", _git),
        logs=sub.enabled("logs", lambda r: _logs(r, project_dir)),
        host=sub.enabled("host", lambda r: _host(r, project_dir), default_on=True),
        probes=sub.enabled("probes", lambda r: _probes(r, project_dir)),
        agents=sub.enabled("agents", _agents),
        budget=_budget(_section(root, "budget")),
        alerts=_alerts(_section(root, "alerts")),
    )
    col.finish()
    return config


def _section(root: Reader, name: str) -> Reader:
    return root.section(name) or Reader({}, name, root.problems, root.base_dir)


def _budget(r: Reader) -> BudgetSettings:
    t = _section(r, "tiers")
    tiers = {name: t.ratio(name, default) for name, default in BUDGET_TIERS.items()}
    t.finish()
    values = list(tiers.values())
    if values != sorted(values):
        t.problems.add(t.path, f"tiers must rise in the order {', '.join(tiers)}, got {values}")
    r.finish()
    return BudgetSettings(tiers)


def _alerts(r: Reader) -> AlertSettings:
    """Thresholds of every alert; `warden rules` renders them into Prometheus rules."""
    base = r.string("runbook_base_url", "docs/runbooks.md")
    rules = _section(r, "rules")
    values: dict[str, dict[str, object]] = {}
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


def _param(r: Reader, name: str, p: Param) -> object:
    if p.kind == "number":
        return r.number(name, float(p.default))  # type: ignore[arg-type]
    if p.kind == "ratio":
        return r.ratio(name, float(p.default))  # type: ignore[arg-type]
    if p.kind in ("seconds", "window"):
        return r.duration(name, str(p.default))
    return r.string_list(name, list(p.default))  # type: ignore[call-overload]


class _Sections:
    """Parses collector sections: `enabled: false` means off; absent means off
    unless `default_on` (the host collector, which needs no settings)."""

    def __init__(self, reader: Reader, project_dir: Path) -> None:
        self.reader = reader
        self.project_dir = project_dir

    def enabled(
        self, name: str, parse: Callable[[Reader], S], default_on: bool = False
    ) -> S | None:
        section = self.reader.section(name)
        if section is None:
            if not default_on:
                return None
            section = Reader({}, self.reader.key(name), self.reader.problems, self.project_dir)
        section.base_dir = self.project_dir
        on = section.boolean("enabled", True)
        result = parse(section)
        section.finish()
        return result if on else None


def _check(
    r: Reader, cwd: Path, command: list[str], interval: str, timeout: str, on_change: bool
) -> CommandCheck:
    return CommandCheck(
        command=r.command("command", command, cwd),
        interval=r.duration("interval", interval),
        timeout=r.duration("timeout", timeout),
        run_on_change=r.boolean("run_on_change", on_change),
        output_tail_bytes=r.integer("output_tail_bytes", 16384, minimum=256),
        change_poll_interval=r.duration("change_poll_interval", "2s", minimum=0.1),
        env=r.string_map("env"),
    )


def _tests(r: Reader, cwd: Path) -> TestsSettings:
    report = r.string("junit_report", "")
    check = _check(r, cwd, [], "2m", "15m", False)
    if not check.command and not report:
        r.problems.add(r.path, "needs `command`, `junit_report` or both")
    return TestsSettings(
        check=check if check.command else None,
        junit_report=(cwd / report).resolve() if report else None,
        interval=check.interval,
    )


def _typecheck(r: Reader, cwd: Path) -> TypecheckSettings:
    return TypecheckSettings(
        check=_check(r, cwd, ["npx", "tsc", "--noEmit"], "2m", "10m", False),
        error_pattern=r.regex("error_pattern", r"error TS\d+"),
    )


def _coverage(r: Reader, cwd: Path) -> CoverageSettings:
    return CoverageSettings(
        path=r.path_value("path", "coverage/coverage-summary.json"),
        format=r.choice("format", ("auto", "istanbul", "cobertura", "lcov"), "auto"),
        interval=r.duration("interval", "30s"),
    )


def _git(r: Reader) -> GitSettings:
    return GitSettings(
        branch=r.string("branch", "HEAD"),
        review_ref=r.string("review_ref", "refs/warden/reviewed"),
        interval=r.duration("interval", "30s"),
    )


def _logs(r: Reader, cwd: Path) -> LogsSettings:
    default_patterns = [r"\b(ERROR|FATAL|CRITICAL)\b", r"\bTraceback \(most recent call last\)"]
    shared = [p.pattern for p in r.regex_list("patterns", default_patterns)]
    sources: list[LogSource] = []
    for s in r.sections("sources"):
        s.base_dir = cwd
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
    paths = r.string_list("paths", ["/", "."])
    return HostSettings(
        paths=tuple((cwd / p).resolve() for p in paths),
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
    for p in r.sections("commands"):
        commands.append(
            CommandProbe(
                name=p.name(),
                command=p.command("command", None, cwd),
                timeout=p.duration("timeout", "10s"),
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
