"""Performance and learning: one panel per P and L recording rule, from the rule specs."""

from __future__ import annotations

from warden.alertspecs import LEARNING, PERFORMANCE, RecordingSpec
from warden.config import Config
from warden.dashboards.spec import Board, Panel, Query, Section


def unit(record: str) -> str:
    """Grafana's unit from the recorded metric's name (Prometheus' base units)."""
    name = record.split(":")[1]
    if "usd" in name:
        return "currencyUSD"
    if name.endswith("_seconds"):
        return "s"
    if name.endswith("_ratio") or record.split(":")[2].startswith("ratio"):
        return "percentunit"
    return "short"


def panel(spec: RecordingSpec) -> Panel:
    by = [label for label in spec.record.split(":")[0].split("_") if label != "job"]
    title, _, rest = spec.doc.partition(": ")
    return Panel(
        "series",
        title,
        f"{rest[0].upper()}{rest[1:]} ({spec.requirement}, recorded as `{spec.record}`)",
        unit(spec.record),
        (Query(spec.record, " ".join(f"{{{{{label}}}}}" for label in by) or spec.requirement),),
        width=12,
        height=7,
    )


def board(config: Config) -> Board:
    return Board(
        "warden-performance",
        "Warden / Performance and learning",
        "Is Warden getting better: the P and L recording rules over time.",
        (
            Section("Performance (P1-P6)", tuple(panel(s) for s in PERFORMANCE)),
            Section("Learning (L1-L5)", tuple(panel(s) for s in LEARNING)),
        ),
    )
