"""Board specs to Grafana JSON through grafanalib: deterministic (sorted keys,
fixed uids and panel ids), so the committed files can be checked for staleness."""

from __future__ import annotations

import json
from typing import Any

from grafanalib import core as g
from grafanalib._gen import DashboardEncoder

from warden.dashboards.spec import Board, Panel, Query

DATASOURCE = {"type": "prometheus", "uid": "warden-prometheus"}  # grafana/provisioning
GRID_WIDTH = 24

# Mode changes and crises on every time axis (M, E).
ANNOTATIONS = (
    {
        "name": "Mode changes",
        "expr": "max by (mode) (warden_mode == 1)"
        " and on (mode) max by (mode) (changes(warden_mode[2m]) > 0)",
        "titleFormat": "mode {{mode}}",
        "iconColor": "blue",
    },
    {
        "name": "Crises",
        "expr": 'max(warden_mode{mode="CRISIS"}) == 1',
        "titleFormat": "CRISIS",
        "iconColor": "red",
    },
)


def _targets(queries: tuple[Query, ...]) -> list[g.Target]:
    return [
        g.Target(
            expr=q.expr,
            legendFormat=q.legend,
            refId=chr(ord("A") + i),
            datasource=DATASOURCE,
        )
        for i, q in enumerate(queries)
    ]


def _steps(p: Panel) -> list[dict[str, Any]]:
    return [{"color": colour, "value": value} for value, colour in p.steps]


def _mappings(p: Panel) -> list[dict[str, Any]]:
    if not p.mappings:
        return []
    return [
        {
            "type": "value",
            "options": {
                value: {"text": text, "color": colour, "index": i}
                for i, (value, text, colour) in enumerate(p.mappings)
            },
        }
    ]


def _panel(p: Panel, pos: g.GridPos) -> g.Panel:
    common: dict[str, Any] = {
        "title": p.title,
        "description": p.description,
        "dataSource": DATASOURCE,
        "targets": _targets(p.queries),
        "gridPos": pos,
        "thresholds": _steps(p),
        "mappings": _mappings(p),
    }
    if p.kind == "stat":
        return g.Stat(
            format=p.unit,
            reduceCalc="lastNotNull",
            graphMode="none",
            color={"mode": "thresholds"},
            noValue="no data",
            **common,
        )
    if p.kind == "timeline":
        return g.StateTimeline(extraJson={"fieldConfig": {"defaults": {"unit": p.unit}}}, **common)
    return g.TimeSeries(
        unit=p.unit,
        drawStyle="bars" if p.kind == "bars" else "line",
        fillOpacity=60 if p.kind == "bars" or p.stacked else 10,
        stacking={"mode": "normal"} if p.stacked else {"mode": "none"},
        thresholdsStyleMode="line" if len(p.steps) > 1 else "off",
        legendDisplayMode="list",
        **common,
    )


def to_grafana(board: Board) -> g.Dashboard:
    panels: list[g.Panel] = []
    y = 0
    for section in board.sections:
        panels.append(
            g.RowPanel(title=section.title, gridPos=g.GridPos(h=1, w=GRID_WIDTH, x=0, y=y))
        )
        y += 1
        x, line = 0, 0
        for p in section.panels:
            if x + p.width > GRID_WIDTH:
                x, y, line = 0, y + line, 0
            panels.append(_panel(p, g.GridPos(h=p.height, w=p.width, x=x, y=y)))
            x, line = x + p.width, max(line, p.height)
        y += line
    templates = [
        g.Template(
            name=name,
            query=f"label_values({query})",
            dataSource=DATASOURCE,
            includeAll=True,
            multi=True,
            allValue=".*",
            default="$__all",
        )
        for name, query in board.variables
    ]
    return g.Dashboard(
        title=board.title,
        uid=board.uid,
        description=board.description,
        tags=list(board.tags),
        panels=panels,
        templating=g.Templating(list=templates),
        annotations=g.Annotations(
            list=[
                {**a, "datasource": DATASOURCE, "enable": True, "step": "30s"} for a in ANNOTATIONS
            ]
        ),
        time=g.Time("now-6h", "now"),
        refresh="30s",
        schemaVersion=39,
        timezone="browser",
    ).auto_panel_ids()


def to_json(board: Board) -> str:
    data = to_grafana(board).to_json_data()
    return json.dumps(data, cls=DashboardEncoder, sort_keys=True, indent=2) + "\n"
