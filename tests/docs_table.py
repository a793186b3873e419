"""Reads the metric tables of docs/metrics.md, so tests can hold code and docs together."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"


def documented_metrics(section: str) -> dict[str, str]:
    """Metric name -> type, for the table under the `## {section}` heading."""
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(section)}.*?$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no section {section!r} in {DOC}"
    rows = re.findall(r"^\| `(warden_[a-z0-9_]+)` \| (\w+) \|", match.group(1), re.M)
    return dict(rows)


def served_metrics(exposition: str) -> dict[str, str]:
    """Metric name -> type from `# TYPE` lines of a scrape."""
    return dict(re.findall(r"^# TYPE (warden_\S+) (\S+)$", exposition, re.M))
