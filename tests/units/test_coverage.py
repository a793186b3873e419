"""Coverage reports in the three formats give the same ratio."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client.metrics_core import Metric

from exporter.collectors.coverage import CoverageCollector
from tests.units.test_checks import value
from warden.config import CoverageSettings
from warden.reports import detect_format

ISTANBUL = {
    "total": {
        "lines": {"total": 200, "covered": 150, "skipped": 0, "pct": 75},
        "statements": {"total": 1, "covered": 1},
    }
}
COBERTURA = """<?xml version="1.0" ?>
<coverage line-rate="0.75" lines-covered="150" lines-valid="200" version="7.4">
  <packages/>
</coverage>
"""
COBERTURA_NO_TOTALS = """<coverage><packages><package><classes><class filename="a.py"><lines>
<line number="1" hits="3"/><line number="2" hits="0"/><line number="3" hits="1"/>
<line number="4" hits="0"/></lines></class></classes></package></packages></coverage>
"""
LCOV = """TN:
SF:src/a.ts
DA:1,1
LF:120
LH:100
end_of_record
SF:src/b.ts
LF:80
LH:50
end_of_record
"""


def collect(path: Path, fmt: str = "auto") -> list[Metric]:
    return list(CoverageCollector(CoverageSettings(path, fmt, 30)).collect())


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("coverage-summary.json", json.dumps(ISTANBUL)),
        ("cobertura.xml", COBERTURA),
        ("lcov.info", LCOV),
    ],
)
def test_formats_agree(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    fam = collect(path)
    assert value(fam, "warden_coverage_lines_ratio") == 0.75
    assert value(fam, "warden_coverage_lines_covered") == 150
    assert value(fam, "warden_coverage_lines") == 200
    assert value(fam, "warden_coverage_report_timestamp_seconds") == path.stat().st_mtime


def test_cobertura_counted_from_lines(tmp_path: Path) -> None:
    path = tmp_path / "coverage.xml"
    path.write_text(COBERTURA_NO_TOTALS)
    assert value(collect(path), "warden_coverage_lines_ratio") == 0.5


def test_explicit_format_and_empty_report(tmp_path: Path) -> None:
    path = tmp_path / "report.txt"
    path.write_text("TN:\nend_of_record\n")
    fam = collect(path, "lcov")
    assert value(fam, "warden_coverage_lines") == 0
    assert value(fam, "warden_coverage_lines_ratio") == 1.0
    with pytest.raises(ValueError, match="set `format`"):
        detect_format(path)


def test_missing_report_fails_the_collector(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        collect(tmp_path / "coverage-summary.json")
