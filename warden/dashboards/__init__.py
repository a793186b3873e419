"""Warden's Grafana dashboards, built with grafanalib from the config's thresholds.

`warden dashboards -c warden.yml` writes them to grafana/dashboards/ (which
Grafana provisions); `--check` fails when the committed JSON is stale.
"""

from __future__ import annotations

from warden.config import Config
from warden.dashboards import budget, overview, performance, pipeline, swarms
from warden.dashboards.render import to_json
from warden.dashboards.spec import Board

DASHBOARDS_DIR = "grafana/dashboards"


def boards(config: Config) -> list[Board]:
    return [m.board(config) for m in (overview, swarms, budget, pipeline, performance)]


def render(config: Config) -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {f"{b.uid}.json": to_json(b) for b in boards(config)}
