"""Tests collector (T2): runs the test command and/or reads its JUnit XML report."""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.changes import ProjectChanges
from exporter.collectors import Collector
from exporter.collectors.check import CommandCheckCollector
from warden.config import TestsSettings
from warden.reports import parse_junit
from warden.runner import CommandResult, CommandRunner


class _ReportReader:
    def __init__(self, report: Path | None) -> None:
        self.report = report
        self.failing: tuple[tuple[str, str], ...] = ()

    def families(self) -> list[Metric]:
        if self.report is None:
            return []
        counts = parse_junit(self.report)
        self.failing = counts.failing
        cases = GaugeMetricFamily(
            "warden_tests_cases",
            "Test cases in the last JUnit report, by result (passed, failed, skipped).",
            labels=["result"],
        )
        cases.add_metric(["passed"], counts.passed)
        cases.add_metric(["failed"], counts.failed)
        cases.add_metric(["skipped"], counts.skipped)
        mtime = GaugeMetricFamily(
            "warden_tests_report_timestamp_seconds",
            "When the JUnit report was last written (file mtime, Unix time).",
            value=os.stat(self.report).st_mtime,
        )
        return [cases, mtime]


class SuiteCommandCollector(CommandCheckCollector):
    """Runs the test command, then reads the report it wrote."""

    def __init__(
        self,
        settings: TestsSettings,
        project_dir: Path,
        runner: CommandRunner,
        changes: ProjectChanges | None = None,
    ) -> None:
        assert settings.check is not None
        super().__init__("tests", settings.check, project_dir, runner, changes)
        self._report = _ReportReader(settings.junit_report)

    def read_output(self, result: CommandResult) -> list[Metric]:
        return self._report.families()

    def report(self) -> dict[str, Any]:
        out = super().report()
        with self._lock:
            out["failing_cases"] = [{"name": n, "message": m} for n, m in self._report.failing]
        return out


class SuiteReportCollector(Collector):
    """Only reads a report that something else (CI, a watcher) writes."""

    name = "tests"

    def __init__(self, settings: TestsSettings) -> None:
        assert settings.junit_report is not None
        self.interval = settings.interval
        self.watch = (settings.junit_report,)
        self._report = _ReportReader(settings.junit_report)

    def changed(self, paths: Collection[Path]) -> bool:
        return self._report.report in paths

    def collect(self) -> Sequence[Metric]:
        return self._report.families()


def suite_collector(
    settings: TestsSettings,
    project_dir: Path,
    runner: CommandRunner,
    changes: ProjectChanges | None = None,
) -> Collector:
    if settings.check is not None:
        return SuiteCommandCollector(settings, project_dir, runner, changes)
    return SuiteReportCollector(settings)
