"""Build, tests and typecheck collectors run real commands in a real project."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector as PromCollector

from exporter.collectors.build import BuildCollector
from exporter.collectors.tests import SuiteReportCollector, suite_collector
from exporter.collectors.typecheck import TypecheckCollector
from tests.conftest import write_config
from warden.config import Config, load_config
from warden.reports import parse_junit
from warden.runner import CommandRunner


class Fixed(PromCollector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> list[Metric]:
        return self.families


def value(
    families: Iterable[Metric], name: str, labels: dict[str, str] | None = None
) -> float | None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed(families))
    return registry.get_sample_value(name, labels)


def project_config(project: Path, collectors: str) -> Config:
    """Load a config whose project is `project`, with these collector sections."""
    body = f"project: {{dir: {project}}}\ncollectors:\n" + textwrap.indent(
        textwrap.dedent(collectors), "  "
    )
    return load_config(write_config(project / ".warden-test.yml", body))


def test_build_success_failure_and_recovery(demo_repo: Path) -> None:
    cfg = project_config(
        demo_repo,
        f"""
          build: {{command: [{sys.executable}, build.py], run_on_change: false}}
    """,
    )
    assert cfg.build is not None
    build = BuildCollector(cfg.build, demo_repo, CommandRunner())
    fam = build.collect()
    assert value(fam, "warden_build_success") == 1
    assert value(fam, "warden_build_consecutive_failures") == 0

    calc = demo_repo / "src" / "calc.py"
    good = calc.read_text()
    calc.write_text(good + "\ndef broken(:\n")
    for n in (1, 2):
        fam = build.collect()
        assert value(fam, "warden_build_success") == 0
        assert value(fam, "warden_build_exit_code") == 1
        assert value(fam, "warden_build_consecutive_failures") == n
    assert value(fam, "warden_build_runs_total", {"result": "failure"}) == 2
    report = build.report()
    assert report["last_failure"]["exit_code"] == 1
    assert "invalid syntax" in report["last_failure"]["output_tail"]
    assert "ERROR build: calc.py does not compile" in (demo_repo / "logs" / "app.log").read_text()

    calc.write_text(good)
    fam = build.collect()
    assert value(fam, "warden_build_success") == 1
    assert value(fam, "warden_build_consecutive_failures") == 0
    assert value(fam, "warden_build_runs_total", {"result": "success"}) == 2
    assert build.report()["last_failure"]["exit_code"] == 1, "the last failure is kept"


def test_build_timeout(tmp_path: Path) -> None:
    cfg = project_config(
        tmp_path,
        f"""
          build: {{command: [{sys.executable}, -c, 'import time; time.sleep(60)'], timeout: 500ms}}
    """,
    )
    assert cfg.build is not None
    fam = BuildCollector(cfg.build, tmp_path, CommandRunner()).collect()
    assert value(fam, "warden_build_success") == 0
    assert value(fam, "warden_build_exit_code") == -1
    assert value(fam, "warden_build_runs_total", {"result": "timeout"}) == 1


def test_tests_command_and_junit(demo_repo: Path) -> None:
    cfg = project_config(
        demo_repo,
        f"""
          tests: {{command: [{sys.executable}, run_tests.py], junit_report: reports/junit.xml}}
    """,
    )
    assert cfg.tests is not None
    collector = suite_collector(cfg.tests, demo_repo, CommandRunner())
    fam = collector.collect()
    assert value(fam, "warden_tests_success") == 1
    assert value(fam, "warden_tests_cases", {"result": "passed"}) == 4
    assert value(fam, "warden_tests_cases", {"result": "failed"}) == 0

    test_file = demo_repo / "tests" / "test_calc.py"
    test_file.write_text(test_file.read_text().replace("add(2, 3), 5", "add(2, 3), 6"))
    fam = collector.collect()
    assert value(fam, "warden_tests_success") == 0
    assert value(fam, "warden_tests_cases", {"result": "failed"}) == 1
    assert value(fam, "warden_tests_cases", {"result": "passed"}) == 3


JUNIT = """<?xml version="1.0"?>
<testsuites>
  <testsuite name="a">
    <testcase name="ok1"/><testcase name="ok2"><system-out>x</system-out></testcase>
    <testcase name="bad"><failure message="boom"/></testcase>
    <testcase name="err"><error message="crash"/></testcase>
    <testcase name="skip"><skipped/></testcase>
  </testsuite>
  <testsuite name="b"><testcase name="ok3"/></testsuite>
</testsuites>
"""


def test_junit_report_only(tmp_path: Path) -> None:
    (tmp_path / "junit.xml").write_text(JUNIT)
    counts = parse_junit(tmp_path / "junit.xml")
    assert (counts.passed, counts.failed, counts.skipped) == (3, 2, 1)
    cfg = project_config(
        tmp_path,
        """
          tests: {junit_report: junit.xml, interval: 10s}
    """,
    )
    assert cfg.tests is not None and cfg.tests.check is None
    collector = suite_collector(cfg.tests, tmp_path, CommandRunner())
    assert isinstance(collector, SuiteReportCollector) and collector.interval == 10
    fam = collector.collect()
    assert value(fam, "warden_tests_cases", {"result": "failed"}) == 2
    assert value(fam, "warden_tests_success") is None


def test_typecheck_counts_errors(demo_repo: Path) -> None:
    cfg = project_config(
        demo_repo,
        f"""
          typecheck: {{command: [{sys.executable}, typecheck.py]}}
    """,
    )
    assert cfg.typecheck is not None
    collector = TypecheckCollector(cfg.typecheck, demo_repo, CommandRunner())
    fam = collector.collect()
    assert value(fam, "warden_typecheck_errors") == 0
    assert value(fam, "warden_typecheck_success") == 1
    calc = demo_repo / "src" / "calc.py"
    calc.write_text(calc.read_text() + "\n\ndef untyped(a, b):\n    return a\n")
    fam = collector.collect()
    assert value(fam, "warden_typecheck_errors") == 3  # two parameters and the return
    assert value(fam, "warden_typecheck_success") == 0


def test_typecheck_pattern_is_configurable(tmp_path: Path) -> None:
    script = "print('a.py:1: error: bad'); print('b.py:2: error: worse'); print('note: x')"
    cfg = project_config(
        tmp_path,
        f"""
          typecheck:
            command: [{sys.executable}, -c, "{script}"]
            error_pattern: ': error: '
    """,
    )
    assert cfg.typecheck is not None
    fam = TypecheckCollector(cfg.typecheck, tmp_path, CommandRunner()).collect()
    assert value(fam, "warden_typecheck_errors") == 2
