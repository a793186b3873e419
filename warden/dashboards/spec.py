"""Dashboards as data: boards of sections of panels, each with its queries.

The boards are written as these small specs, not as grafanalib objects, so
the tests and the docs can walk every panel and query (`Query.always` says a
running stack must return data for it); `render` turns them into grafanalib
and Grafana JSON.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from warden.alertspecs import ALERTS
from warden.config import Config

Kind = Literal["stat", "series", "bars", "timeline"]
# Threshold steps from low to high: (from value or None for the base, colour).
Steps = tuple[tuple[float | None, str], ...]

GREEN_ONLY: Steps = ((None, "green"),)
# An alert's colour: critical red, warning orange (the rules' severities).
COLOURS = {"critical": "red", "warning": "orange"}
# Grafana colours a value from a step's value up; a strict `>` in a rule
# starts the colour just above the threshold.
STRICT = 1e-9


def alert_steps(alert: str, value: float, op: str) -> Steps:
    """Steps that turn a panel the alert's colour exactly where `value op
    threshold` holds (op: >=, >, <)."""
    colour = COLOURS[next(a.severity for a in ALERTS if a.name == alert)]
    if op == ">=":
        return ((None, "green"), (value, colour))
    if op == ">":
        return ((None, "green"), (value + STRICT, colour))
    if op == "<":
        return ((None, colour), (value, "green"))
    raise ValueError(f"unknown operator {op!r}")


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    always: bool = False  # a running stack always has data for it (tests check)


@dataclass(frozen=True)
class Panel:
    kind: Kind
    title: str
    description: str
    unit: str
    queries: tuple[Query, ...]
    steps: Steps = GREEN_ONLY
    width: int = 6
    height: int = 6
    mappings: tuple[tuple[str, str, str], ...] = ()  # value, text, colour
    stacked: bool = False
    alert: str = ""  # the alert this panel goes with, for the docs


@dataclass(frozen=True)
class Section:
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Board:
    uid: str
    title: str
    description: str
    sections: tuple[Section, ...]
    variables: tuple[tuple[str, str], ...] = ()  # name, label_values() query
    tags: tuple[str, ...] = field(default=("warden",))

    def panels(self) -> list[Panel]:
        return [p for s in self.sections for p in s.panels]


def threshold(config: Config, alert: str, param: str) -> float:
    """An alert's threshold as the config sets it (the rules render the same)."""
    return config.alerts.number(alert, param)


def at_all(expr: str) -> str:
    """The query with every template variable at "All" (each is a regex
    matcher, and All is `.*`): as Grafana runs it by default, and as the
    report charts and the tests run it outside Grafana."""
    return re.sub(r"\$[a-z]\w*", ".*", expr)
