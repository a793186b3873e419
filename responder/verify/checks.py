"""The project's own checks, run in one tree: the same commands and reports the
collectors use (build, tests with their JUnit report, type check, coverage),
with the reports the config names inside the project read inside the tree.

They run as the agents' user when Warden is root, with the agents' clean
environment: what they run is the agents' work.
"""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from warden.config import CommandCheck, Config
from warden.reports import PARSERS, ErrorCount, cases, detect_format
from warden.runner import CommandResult, CommandRunner

TAIL_LINES = 12
"""Lines of a failed check's output kept for a retry's context."""


@dataclass(frozen=True)
class Hands:
    """Whom the checks run as, and with what environment."""

    as_user: tuple[int, int] | None
    env: Mapping[str, str]


@dataclass(frozen=True)
class TreeChecks:
    """What the checks said of one tree (None: that check is not configured or has
    no report there)."""

    build: bool | None = None
    tests: bool | None = None
    """The test command's own verdict (exit 0)."""
    cases: Mapping[str, bool] = field(default_factory=dict)
    """Each test case of the report: passed (True) or failed (False); skipped: absent."""
    type_errors: int | None = None
    coverage: float | None = None
    failures: tuple[str, ...] = ()
    """The tail of each failed check's output, for a person or a retry's context."""

    @property
    def failing(self) -> frozenset[str]:
        return frozenset(name for name, ok in self.cases.items() if not ok)

    @property
    def passing(self) -> frozenset[str]:
        return frozenset(name for name, ok in self.cases.items() if ok)


def moved(path: Path | None, project: Path, tree: Path) -> Path | None:
    """A file the config names inside the project, in the tree instead (None: not
    in the project, so not the tree's to write)."""
    if path is None or not path.is_relative_to(project):
        return None
    return tree / path.relative_to(project)


def run_checks(config: Config, tree: Path, runner: CommandRunner, hands: Hands) -> TreeChecks:
    """Run every configured check in `tree`, one after the other."""
    failures: list[str] = []

    def run(name: str, check: CommandCheck, scan: ErrorCount | None = None) -> bool:
        try:
            result = runner.run(
                check.command,
                tree,
                check.timeout,
                check.output_tail_bytes,
                {**hands.env, **check.env},
                scan=None if scan is None else scan.feed,
                as_user=hands.as_user,
            )
        except OSError as exc:
            failures.append(f"{name}: cannot start {check.command[0]!r}: {exc}")
            return False
        if not result.ok:
            failures.append(f"{name} {_verdict(result)}:\n{_tail(result.output_tail)}")
        return result.ok

    project = config.project_dir
    build = run("build", config.build) if config.build else None
    tests = report = None
    if config.tests is not None and config.tests.check is not None:
        report = moved(config.tests.junit_report, project, tree)
        coverage = None if config.coverage is None else config.coverage.path
        for left in (report, moved(coverage, project, tree)):  # a checkout's, not this run's
            if left is not None:
                with contextlib.suppress(OSError):
                    left.unlink()
        tests = run("tests", config.tests.check)
    found = _cases(report, failures)
    errors = None
    if config.typecheck is not None:
        count = ErrorCount(config.typecheck.error_pattern, config.typecheck.total_pattern)
        run("typecheck", config.typecheck.check, count)
        errors = count.errors
    return TreeChecks(build, tests, found, errors, _coverage(config, tree), tuple(failures))


def _cases(report: Path | None, failures: list[str]) -> dict[str, bool]:
    if report is None or not report.is_file():
        return {}
    try:
        found = cases(report)
    except ET.ParseError as exc:
        failures.append(f"tests: the report {report.name} cannot be read: {exc}")
        return {}
    return {name: status == "passed" for name, status, _ in found if status != "skipped"}


def _coverage(config: Config, tree: Path) -> float | None:
    settings = config.coverage
    path = None if settings is None else moved(settings.path, config.project_dir, tree)
    if settings is None or path is None or not path.is_file():
        return None
    fmt = settings.format if settings.format != "auto" else detect_format(path)
    try:
        return PARSERS[fmt](path).total.ratio
    except (OSError, ValueError, KeyError):
        return None


def _verdict(result: CommandResult) -> str:
    if result.timed_out:
        return f"timed out after {result.duration_seconds:.0f}s"
    return f"failed (exit {result.exit_code})"


def _tail(output: str) -> str:
    return "\n".join(output.rstrip().splitlines()[-TAIL_LINES:])
