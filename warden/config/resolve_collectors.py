"""The collectors' settings from what `collectors:` says: paths resolved, programs
found, patterns compiled, names unique."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import warden.config.collectors as written
from warden.config.place import Place
from warden.config.settings import (
    AgentPattern,
    AgentsSettings,
    CommandCheck,
    CommandProbe,
    CoverageSettings,
    GitSettings,
    HostSettings,
    HttpProbe,
    LogSource,
    LogsSettings,
    ProbesSettings,
    TestsSettings,
    TypecheckSettings,
)

KEY = "collectors"


@dataclass(frozen=True)
class Collected:
    build: CommandCheck | None
    tests: TestsSettings | None
    typecheck: TypecheckSettings | None
    coverage: CoverageSettings | None
    git: GitSettings | None
    logs: LogsSettings | None
    host: HostSettings | None
    probes: ProbesSettings | None
    agents: AgentsSettings | None


def collectors(c: written.Collectors, at: Place, project: Path) -> Collected:
    """Every collector's settings; one turned off is None, its settings still checked."""
    build = _check(f"{KEY}.build", c.build, at, project) if c.build else None
    tests = _tests(c.tests, at, project) if c.tests else None
    typecheck = _typecheck(c.typecheck, at, project) if c.typecheck else None
    coverage = _coverage(c.coverage, at, project) if c.coverage else None
    git = GitSettings(c.git.branch, c.git.review_ref, c.git.interval) if c.git else None
    logs = _logs(c.logs, at) if c.logs else None
    host = HostSettings(
        paths=tuple((at.base_dir / p).resolve() for p in c.host.paths or ["/", str(project)]),
        interval=c.host.interval,
    )
    probes = _probes(c.probes, at, project) if c.probes else None
    agents = _agents(c.agents, at) if c.agents else None
    return Collected(
        build=build if _on(c.build) else None,
        tests=tests if _on(c.tests) else None,
        typecheck=typecheck if _on(c.typecheck) else None,
        coverage=coverage if _on(c.coverage) else None,
        git=git if _on(c.git) else None,
        logs=logs if _on(c.logs) else None,
        host=host if _on(c.host) else None,
        probes=probes if _on(c.probes) else None,
        agents=agents if _on(c.agents) else None,
    )


def _on(section: written.Collector | None) -> bool:
    return section is not None and section.enabled


def _check(key: str, c: written.BuildCheck, at: Place, project: Path) -> CommandCheck:
    command = tuple(c.command or ())
    if command:
        at.program(f"{key}.command", command, project)
    for glob in c.ignore:
        if glob.startswith("/") or ".." in Path(glob).parts:
            at.problems.add(f"{key}.ignore", f"expected globs inside the project, got {glob!r}")
    return CommandCheck(
        command=command,
        interval=c.interval,
        timeout=c.timeout,
        run_on_change=c.run_on_change,
        output_tail_bytes=c.output_tail_bytes,
        ignore=tuple(c.ignore),
        unchanged_interval=c.unchanged_interval,
        env=dict(c.env),
    )


def _tests(c: written.TestsCheck, at: Place, project: Path) -> TestsSettings:
    check = _check(f"{KEY}.tests", c, at, project)
    return TestsSettings(
        check=check if check.command else None,
        junit_report=(at.base_dir / c.junit_report).resolve() if c.junit_report else None,
        interval=check.interval,
    )


def _typecheck(c: written.TypecheckCheck, at: Place, project: Path) -> TypecheckSettings:
    key = f"{KEY}.typecheck"
    total = at.regex(f"{key}.total_pattern", c.total_pattern)
    if total.groups < 1:
        at.problems.add(f"{key}.total_pattern", "expected a group that captures the count")
    return TypecheckSettings(
        check=_check(key, c, at, project),
        error_pattern=at.regex(f"{key}.error_pattern", c.error_pattern),
        total_pattern=total,
    )


def _coverage(c: written.CoverageReport, at: Place, project: Path) -> CoverageSettings:
    path = at.path(
        f"{KEY}.coverage.path", c.path, "coverage/coverage-summary.json", default_in=project
    )
    return CoverageSettings(path=path, format=c.format, interval=c.interval)


def _logs(c: written.LogFiles, at: Place) -> LogsSettings:
    key = f"{KEY}.logs"
    shared = at.regexes(f"{key}.patterns", c.patterns)
    sources = tuple(
        LogSource(
            name=s.name,
            path=at.path(f"{key}.sources[{i}].path", s.path),
            patterns=(
                shared
                if s.patterns is None
                else at.regexes(f"{key}.sources[{i}].patterns", s.patterns)
            ),
        )
        for i, s in enumerate(c.sources)
    )
    at.unique(f"{key}.sources", [s.name for s in sources])
    return LogsSettings(
        sources=sources,
        poll_interval=c.poll_interval,
        start_at=c.start_at,
        offsets_save_interval=c.offsets_save_interval,
    )


def _probes(c: written.Probes, at: Place, project: Path) -> ProbesSettings:
    key = f"{KEY}.probes"
    http = tuple(
        HttpProbe(
            name=p.name,
            url=p.url,
            timeout=p.timeout,
            headers=dict(p.headers),
            expect_status=_statuses(f"{key}.http[{i}].expect_status", p.expect_status, at),
        )
        for i, p in enumerate(c.http)
    )
    commands: list[CommandProbe] = []
    for i, p in enumerate(c.commands):
        if c.enabled:  # a probe that is off needs no program on PATH
            at.program(f"{key}.commands[{i}].command", tuple(p.command), project)
        commands.append(
            CommandProbe(
                name=p.name,
                command=tuple(p.command),
                timeout=p.timeout,
                env=dict(p.env),
                output=p.output,
            )
        )
    at.unique(f"{key}.http/commands", [p.name for p in http] + [p.name for p in commands])
    return ProbesSettings(interval=c.interval, http=http, commands=tuple(commands))


def _statuses(key: str, texts: list[str], at: Place) -> tuple[int, ...]:
    out: list[int] = []
    for t in texts:
        if not (t.isdigit() and 100 <= int(t) <= 599):
            at.problems.add(key, f"expected HTTP status codes such as '200', got {t!r}")
        else:
            out.append(int(t))
    return tuple(out)


def _agents(c: written.AgentProcesses, at: Place) -> AgentsSettings:
    key = f"{KEY}.agents"
    patterns = tuple(
        AgentPattern(name=p.name, match=at.regex(f"{key}.patterns[{i}].match", p.match))
        for i, p in enumerate(c.patterns)
    )
    if not patterns:
        at.problems.add(f"{key}.patterns", "expected at least one agent pattern")
    at.unique(f"{key}.patterns", [p.name for p in patterns])
    return AgentsSettings(interval=c.interval, patterns=patterns)
