"""Coverage collector (H4, W5): line coverage from Istanbul, Cobertura or lcov files.

Besides the totals it keeps each file's coverage for the reports of the
last `CoverageDecreased` window: when coverage falls, the swarm sent to
mend it is told which files lost coverage, from the window's best report to
the latest (`/api/v1/coverage`).
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors import Collector
from warden.config import CoverageSettings
from warden.reports import PARSERS, LineCoverage, Report, detect_format

FELL_FILES = 20
"""Files named in a coverage drop at most (the worst first)."""


class CoverageCollector(Collector):
    name = "coverage"

    def __init__(self, settings: CoverageSettings, window_seconds: float = 3600.0) -> None:
        self.settings = settings
        self.interval = settings.interval
        self.watch = (settings.path,)
        self.window = window_seconds
        self._lock = threading.Lock()
        self._reports: deque[tuple[float, Report]] = deque()
        """(mtime, report) of each distinct report within the window, oldest first."""

    def changed(self, paths: Collection[Path]) -> bool:
        return self.settings.path in paths

    def collect(self) -> Sequence[Metric]:
        path = self.settings.path
        fmt = self.settings.format
        mtime = os.stat(path).st_mtime
        report = PARSERS[detect_format(path) if fmt == "auto" else fmt](path)
        with self._lock:
            if not self._reports or self._reports[-1][0] != mtime:
                self._reports.append((mtime, report))
            while self._reports and self._reports[0][0] < mtime - self.window:
                self._reports.popleft()
        cov = report.total
        return [
            GaugeMetricFamily(
                "warden_coverage_lines_ratio",
                "Line coverage of the project (0-1) from its latest coverage report.",
                value=cov.ratio,
            ),
            GaugeMetricFamily(
                "warden_coverage_lines_covered", "Lines covered by tests.", value=cov.covered
            ),
            GaugeMetricFamily(
                "warden_coverage_lines", "Lines that coverage measures.", value=cov.total
            ),
            GaugeMetricFamily(
                "warden_coverage_report_timestamp_seconds",
                "When the coverage report was last written (file mtime, Unix time).",
                value=mtime,
            ),
        ]

    def drop(self) -> dict[str, Any]:
        """From the window's best report to the latest: the files whose coverage fell."""
        with self._lock:
            reports = list(self._reports)
        if not reports:
            return {"best": None, "latest": None, "files": []}
        best_at, best = max(reports, key=lambda r: r[1].total.ratio)
        latest_at, latest = reports[-1]
        fell = [
            (name, best.files.get(name), after)
            for name, after in latest.files.items()
            if (name in best.files and after.ratio < best.files[name].ratio)
            or (name not in best.files and after.ratio < 1.0)
        ]

        def uncovered(c: LineCoverage | None) -> int:
            return 0 if c is None else c.total - c.covered

        # The files that lost the most covered lines first.
        fell.sort(key=lambda f: uncovered(f[2]) - uncovered(f[1]), reverse=True)
        return {
            "best": {"ratio": round(best.total.ratio, 4), "report_time": best_at},
            "latest": {"ratio": round(latest.total.ratio, 4), "report_time": latest_at},
            "files": [
                {
                    "file": name,
                    "before": None if before is None else round(before.ratio, 4),
                    "after": round(after.ratio, 4),
                    "lines_uncovered_before": uncovered(before),
                    "lines_uncovered_after": uncovered(after),
                }
                for name, before, after in fell[:FELL_FILES]
            ],
        }
