"""Coverage collector (H4, W5): line coverage from Istanbul, Cobertura or lcov files.

Besides the totals it keeps each file's coverage for the reports of the
last `CoverageDecreased` window: when coverage falls, the swarm sent to
mend it is told which files lost coverage, from the window's best report to
the latest (`/api/v1/coverage`).
"""

from __future__ import annotations

import json
import os
import threading
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors import Collector
from warden.config import CoverageSettings

FELL_FILES = 20
"""Files named in a coverage drop at most (the worst first)."""


@dataclass(frozen=True)
class LineCoverage:
    covered: int
    total: int

    @property
    def ratio(self) -> float:
        # A project with no measurable lines is fully covered, not 0 %:
        # 0 would set off CoverageDecreased for an empty report.
        return self.covered / self.total if self.total else 1.0


@dataclass(frozen=True)
class Report:
    total: LineCoverage
    files: dict[str, LineCoverage]


def detect_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".json"):
        return "istanbul"
    if name.endswith(".xml"):
        return "cobertura"
    if name.endswith(".info") or "lcov" in name:
        return "lcov"
    raise ValueError(f"cannot tell the coverage format of {path.name}; set `format`")


def _summed(files: dict[str, LineCoverage]) -> LineCoverage:
    return LineCoverage(
        sum(f.covered for f in files.values()), sum(f.total for f in files.values())
    )


def _lines(d: dict[str, Any]) -> LineCoverage:
    return LineCoverage(int(d["lines"]["covered"]), int(d["lines"]["total"]))


def parse_istanbul(path: Path) -> Report:
    data = json.loads(path.read_text(encoding="utf-8"))
    files = {name: _lines(v) for name, v in data.items() if name != "total"}
    return Report(_lines(data["total"]), files)


def parse_cobertura(path: Path) -> Report:
    root = ET.parse(path).getroot()  # noqa: S314  (the project's own report)
    per_file: dict[str, list[int]] = {}
    for cls in root.iter("class"):
        hits = per_file.setdefault(cls.attrib.get("filename", "?"), [0, 0])
        for line in cls.iter("line"):
            hits[1] += 1
            hits[0] += int(line.attrib.get("hits", "0")) > 0
    files = {name: LineCoverage(c, t) for name, (c, t) in per_file.items()}
    if "lines-valid" in root.attrib:
        total = LineCoverage(int(root.attrib["lines-covered"]), int(root.attrib["lines-valid"]))
    else:
        total = _summed(files)
    return Report(total, files)


def parse_lcov(path: Path) -> Report:
    files: dict[str, LineCoverage] = {}
    name, covered, total = "?", 0, 0
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("SF:"):
                name, covered, total = line[3:].strip(), 0, 0
            elif line.startswith("LF:"):
                total = int(line[3:])
            elif line.startswith("LH:"):
                covered = int(line[3:])
            elif line.startswith("end_of_record"):
                files[name] = LineCoverage(covered, total)
    return Report(_summed(files), files)


PARSERS = {"istanbul": parse_istanbul, "cobertura": parse_cobertura, "lcov": parse_lcov}


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
