"""`collectors:` in `warden.yml`: what the exporter watches, each key with its default.

A collector section that is absent is off; present, it is on with a default
for every key it leaves out; `enabled: false` turns it off and keeps its
settings. `host` needs no settings and runs unless its section says
`enabled: false`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, model_validator

from warden.config.section import Section, key
from warden.config.values import (
    EMPTY_LIST,
    Choice,
    Command,
    Count,
    Duration,
    Flag,
    Name,
    Removed,
    Text,
    TextMap,
    Texts,
    Url,
    refuse,
)

DEFAULT_TOTAL_PATTERN = r"\bFound (\d+) errors?\b|^\s*(\d+) errors?, \d+ warnings?\b"
"""mypy and tsc: "Found 232 errors in 40 files"; pyright: "3 errors, 1 warning, ..."."""
DEFAULT_LOG_PATTERNS = [r"\b(ERROR|FATAL|CRITICAL)\b", r"\bTraceback \(most recent call last\)"]

POLLED = (
    "no longer a key: changes are file events from the kernel, seen at once, "
    "not polled; remove it (docs/configuration.md)"
)
Sections = EMPTY_LIST


class Collector(Section):
    enabled: Annotated[bool, Flag()] = key(
        True, description="false turns the collector off and keeps its settings"
    )


class BuildCheck(Collector):
    """T1, J3: the project's build, run in `project.dir`."""

    command: Annotated[list[str], Command()] | None = key(
        ["npm", "run", "build"], description="an argument list, run in project.dir"
    )
    interval: Annotated[float, Duration()] = key("30s", description="run this often ...")
    run_on_change: Annotated[bool, Flag()] = key(
        True,
        description="... or rather at once when a file of the project changes (file events; "
        "what .gitignore ignores, reports and Warden's files are not changes)",
    )
    unchanged_interval: Annotated[float, Duration(minimum=1)] = key(
        "10m",
        description="with run_on_change: an unchanged project is checked again after this",
    )
    ignore: Annotated[list[str], Texts()] = key(
        [], description="globs of outputs .gitignore does not cover, e.g. ['dist/*']"
    )
    timeout: Annotated[float, Duration()] = key(
        "10m", description="then the command's whole process group is killed"
    )
    output_tail_bytes: Annotated[int, Count(256)] = key(
        16384, description="how much of the output /api/v1/checks keeps"
    )
    env: Annotated[dict[str, str], TextMap()] = key(
        {}, description="extra environment variables for the command"
    )
    change_poll_interval: Annotated[None, Removed(POLLED)] = key(None, validate_default=False)


def _command_or_report(schema: dict[str, Any]) -> None:
    schema["anyOf"] = [{"required": ["command"]}, {"required": ["junit_report"]}]


class TestsCheck(BuildCheck):
    """T2: the test run. Without a command the JUnit report is only read (something
    else runs the tests)."""

    model_config = ConfigDict(json_schema_extra=_command_or_report)

    command: Annotated[list[str], Command()] | None = key(
        None, description="an argument list, run in project.dir; null: none"
    )
    junit_report: Annotated[str, Text()] | None = key(
        None, description="the JUnit XML report the run writes; null: none"
    )
    interval: Annotated[float, Duration()] = key("2m", description="run this often")
    timeout: Annotated[float, Duration()] = key(
        "15m", description="then the command's whole process group is killed"
    )
    run_on_change: Annotated[bool, Flag()] = key(
        False, description="run at once when a file of the project changes"
    )

    @model_validator(mode="after")
    def _something_to_read(self) -> TestsCheck:
        if self.command is None and self.junit_report is None:
            refuse("needs `command`, `junit_report` or both")
        return self


class TypecheckCheck(BuildCheck):
    """H3: the type checker. Its errors are the total it prints itself
    (`total_pattern`'s group), else the output's lines matching `error_pattern`."""

    command: Annotated[list[str], Command()] | None = key(
        ["npx", "tsc", "--noEmit"], description="an argument list, run in project.dir"
    )
    interval: Annotated[float, Duration()] = key("2m", description="run this often")
    run_on_change: Annotated[bool, Flag()] = key(
        False, description="run at once when a file of the project changes"
    )
    error_pattern: Annotated[str, Text()] = key(
        r"error TS\d+", description="a regular expression: lines that are errors"
    )
    total_pattern: Annotated[str, Text()] = key(
        DEFAULT_TOTAL_PATTERN,
        description="a regular expression whose first group is the checker's own count",
    )


class CoverageReport(Collector):
    """H4, W5: line coverage from a report."""

    path: Annotated[str, Text()] | None = key(
        None, description="the report; null: coverage/coverage-summary.json in project.dir"
    )
    format: Annotated[str, Choice(("auto", "istanbul", "cobertura", "lcov"))] = key(
        "auto",
        description="auto (by file name), istanbul (coverage-summary.json), cobertura (XML) "
        "or lcov (lcov.info)",
    )
    interval: Annotated[float, Duration()] = key("30s", description="read it this often")


class GitRepo(Collector):
    """W6: commits not yet reviewed (`git update-ref refs/warden/reviewed <commit>`)."""

    branch: Annotated[str, Text()] = key("HEAD", description="the branch watched")
    review_ref: Annotated[str, Text()] = key(
        "refs/warden/reviewed", description="the last commit a person or swarm reviewed"
    )
    interval: Annotated[float, Duration()] = key("30s", description="look this often")


class LogSource(Section):
    name: Annotated[str, Name()] = key(description="a unique name; labels the metrics")
    path: Annotated[str, Text()] = key(description="the log file, followed like tail -F")
    patterns: Annotated[list[str], Texts()] | None = key(
        None, description="regular expressions of error lines; null: the logs' patterns"
    )


class LogFiles(Collector):
    """T6, J4: log files followed like `tail -F`; lines matching a pattern are errors."""

    patterns: Annotated[list[str], Texts()] = key(
        DEFAULT_LOG_PATTERNS, description="regular expressions of error lines"
    )
    poll_interval: Annotated[float, Duration()] = key(
        "250ms", description="how often the files are read"
    )
    start_at: Annotated[str, Choice(("end", "beginning"))] = key(
        "end", description="end: skip what a file held before Warden first saw it"
    )
    offsets_save_interval: Annotated[float, Duration()] = key(
        "5s", description="how often the read offsets are saved"
    )
    sources: Annotated[list[LogSource], Sections] = key([], description="the files")


class HostStats(Collector):
    """H7, H8, T8, W2: memory, filesystems of these paths, processes, load."""

    paths: Annotated[list[str], Texts()] | None = key(
        None, description="filesystems to measure; null: / and project.dir"
    )
    interval: Annotated[float, Duration()] = key("15s", description="measure this often")


class HttpProbe(Section):
    name: Annotated[str, Name()] = key(description="a unique name; labels the metrics")
    url: Annotated[str, Url()] = key(description="what is asked (GET)")
    timeout: Annotated[float, Duration()] = key("10s", description="then the probe fails")
    headers: Annotated[dict[str, str], TextMap()] = key(
        {}, description="request headers (never exported or logged)"
    )
    expect_status: Annotated[list[str], Texts()] = key(
        [], description="HTTP status codes that are success, as strings; empty: any 2xx"
    )


class CommandProbe(Section):
    name: Annotated[str, Name()] = key(description="a unique name; labels the metrics")
    command: Annotated[list[str], Command()] = key(description="an argument list")
    timeout: Annotated[float, Duration()] = key("10s", description="then the probe fails")
    env: Annotated[dict[str, str], TextMap()] = key(
        {}, description="extra environment variables for the command"
    )
    output: Annotated[str, Choice(("exit", "json"))] = key(
        "exit",
        description="exit: the exit code decides; json: exit 0 and the printed JSON's `ok`",
    )


class Probes(Collector):
    """T7, W1: is the real thing answering? Each probe has a unique name."""

    interval: Annotated[float, Duration()] = key("15s", description="probe this often")
    http: Annotated[list[HttpProbe], Sections] = key([], description="HTTP probes")
    commands: Annotated[list[CommandProbe], Sections] = key([], description="command probes")


class AgentPattern(Section):
    name: Annotated[str, Name()] = key(description="a unique name; labels the metrics")
    match: Annotated[str, Text()] = key(
        description="a regular expression matched against the process name and command line"
    )


class AgentProcesses(Collector):
    """H6, W4: agent processes on the whole host."""

    interval: Annotated[float, Duration()] = key("15s", description="look this often")
    patterns: Annotated[list[AgentPattern], Sections] = key([], description="at least one pattern")


def _null_as_the_section_says(schema: dict[str, Any]) -> None:
    """`build:` with nothing after it is the build with its defaults, not no build:
    null is what each section's own schema says of it."""
    for prop in schema["properties"].values():
        kinds = [k for k in prop.pop("anyOf", []) if k != {"type": "null"}]
        if kinds:
            prop.update(kinds[0])


class Collectors(Section):
    model_config = ConfigDict(json_schema_extra=_null_as_the_section_says)

    build: BuildCheck | None = key(None, description="off unless present")
    tests: TestsCheck | None = key(None, description="off unless present")
    typecheck: TypecheckCheck | None = key(None, description="off unless present")
    coverage: CoverageReport | None = key(None, description="off unless present")
    git: GitRepo | None = key(None, description="off unless present")
    logs: LogFiles | None = key(None, description="off unless present")
    host: HostStats = key({}, description="on unless `enabled: false`")
    probes: Probes | None = key(None, description="off unless present")
    agents: AgentProcesses | None = key(None, description="off unless present")

    @model_validator(mode="before")
    @classmethod
    def _written_is_on(cls, data: Any) -> Any:
        """`build:` with no value is the build with its defaults, not no build."""
        if isinstance(data, dict):
            return {k: ({} if v is None else v) for k, v in data.items()}
        return data
