"""What a project's checks leave behind, read the same way by the exporter's
collectors and by the responder's verification of a swarm's work: a JUnit
report's cases, a type checker's error count, a coverage report."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FAILING_CASES = 50
"""Failing cases named in /api/v1/checks at most (a bugfix swarm reads them first)."""


@dataclass(frozen=True)
class CaseCounts:
    passed: int
    failed: int
    skipped: int
    failing: tuple[tuple[str, str], ...] = ()
    """(test id, first line of its failure message) of the first failing cases."""


def cases(path: Path) -> list[tuple[str, str, str]]:
    """Every case of a JUnit XML report: (test id, passed | failed | skipped, the
    first line of its failure message)."""
    # The report is written by the project's own test runner on this host.
    root = ET.parse(path).getroot()  # noqa: S314
    out: list[tuple[str, str, str]] = []
    for case in root.iter("testcase"):
        name = ".".join(filter(None, (case.get("classname"), case.get("name"))))
        bad = next((c for c in case if c.tag in ("failure", "error")), None)
        if bad is not None:
            message = (bad.attrib.get("message") or bad.text or bad.tag).strip()
            out.append((name, "failed", message.splitlines()[0][:200] if message else bad.tag))
        elif any(c.tag == "skipped" for c in case):
            out.append((name, "skipped", ""))
        else:
            out.append((name, "passed", ""))
    return out


def parse_junit(path: Path) -> CaseCounts:
    """Count test cases of a JUnit XML report (jest-junit, pytest, surefire...).

    Cases are counted one by one rather than trusting the suites' totals,
    which runners fill in inconsistently (errors vs failures, nested suites).
    """
    found = cases(path)
    count = Counter(status for _, status, _ in found)
    failing = [(name, message) for name, status, message in found if status == "failed"]
    return CaseCounts(
        count["passed"], count["failed"], count["skipped"], tuple(failing[:FAILING_CASES])
    )


class ErrorCount:
    """Counts one run's errors as its lines go by."""

    def __init__(self, error: re.Pattern[str], total: re.Pattern[str]) -> None:
        self._error = error
        self._total = total
        self.counted = 0
        self.reported: int | None = None
        """The checker's own total, from the last line that states one."""

    def feed(self, line: str) -> None:
        self.counted += len(self._error.findall(line))
        m = self._total.search(line)
        if m:
            self.reported = int(next(g for g in m.groups() if g is not None))

    @property
    def errors(self) -> int:
        return self.counted if self.reported is None else self.reported


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
