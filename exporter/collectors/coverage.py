"""Coverage collector (H4, W5): line coverage from Istanbul, Cobertura or lcov files."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors import Collector
from warden.config import CoverageSettings


@dataclass(frozen=True)
class LineCoverage:
    covered: int
    total: int

    @property
    def ratio(self) -> float:
        # A project with no measurable lines is fully covered, not 0 %:
        # 0 would set off CoverageDecreased for an empty report.
        return self.covered / self.total if self.total else 1.0


def detect_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".json"):
        return "istanbul"
    if name.endswith(".xml"):
        return "cobertura"
    if name.endswith(".info") or "lcov" in name:
        return "lcov"
    raise ValueError(f"cannot tell the coverage format of {path.name}; set `format`")


def parse_istanbul(path: Path) -> LineCoverage:
    lines = json.loads(path.read_text(encoding="utf-8"))["total"]["lines"]
    return LineCoverage(int(lines["covered"]), int(lines["total"]))


def parse_cobertura(path: Path) -> LineCoverage:
    root = ET.parse(path).getroot()  # noqa: S314  (the project's own report)
    if "lines-valid" in root.attrib:
        return LineCoverage(int(root.attrib["lines-covered"]), int(root.attrib["lines-valid"]))
    hits = [int(line.attrib.get("hits", "0")) for line in root.iter("line")]
    return LineCoverage(sum(1 for h in hits if h > 0), len(hits))


def parse_lcov(path: Path) -> LineCoverage:
    covered = total = 0
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("LF:"):
                total += int(line[3:])
            elif line.startswith("LH:"):
                covered += int(line[3:])
    return LineCoverage(covered, total)


PARSERS = {"istanbul": parse_istanbul, "cobertura": parse_cobertura, "lcov": parse_lcov}


class CoverageCollector(Collector):
    name = "coverage"

    def __init__(self, settings: CoverageSettings) -> None:
        self.settings = settings
        self.interval = settings.interval
        self.watch = (settings.path,)

    def changed(self, paths: Collection[Path]) -> bool:
        return self.settings.path in paths

    def collect(self) -> Sequence[Metric]:
        path = self.settings.path
        fmt = self.settings.format
        cov = PARSERS[detect_format(path) if fmt == "auto" else fmt](path)
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
                value=os.stat(path).st_mtime,
            ),
        ]
