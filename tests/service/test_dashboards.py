"""The Grafana dashboards: fresh, complete, and red exactly where the rules fire.

Their queries run against a live Prometheus in the end-to-end test
(tests/stack/test_up.py), which also checks every metric they name is served.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, run_cli
from tests.service.test_rules import rendered_alerts
from warden.config import load_config
from warden.dashboards import boards
from warden.dashboards.spec import STRICT

FILES = sorted((REPO / "grafana" / "dashboards").glob("*.json"))
PROVISIONED_UID = yaml.safe_load(
    (REPO / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
)["datasources"][0]["uid"]


def panels(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in doc["panels"] if p["type"] != "row"]


def test_the_committed_dashboards_are_fresh() -> None:
    result = run_cli("dashboards", "-c", str(REPO / "warden.yml"), "--check")
    assert result.returncode == 0, result.stderr
    assert len(FILES) == 5


def test_a_changed_threshold_makes_them_stale(tmp_path: Path) -> None:
    text = (REPO / "warden.yml").read_text()
    assert "free_ratio: 0.2" in text
    cfg = tmp_path / "warden.yml"
    text = text.replace("examples/demo", str(REPO / "examples" / "demo"))
    cfg.write_text(text.replace("free_ratio: 0.2", "free_ratio: 0.3"))
    out = tmp_path / "dashboards"
    assert run_cli("dashboards", "-c", str(cfg), "-o", str(out)).returncode == 0
    result = run_cli("dashboards", "-c", str(REPO / "warden.yml"), "-o", str(out), "--check")
    assert result.returncode == 1
    assert "warden-pipeline.json" in result.stderr and "warden-overview" not in result.stderr
    disk = next(
        p
        for p in panels(json.loads((out / "warden-pipeline.json").read_text()))
        if p["title"] == "Disk free"
    )
    assert disk["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"] == 0.3


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_panel_has_a_title_unit_description_and_the_datasource(path: Path) -> None:
    doc = json.loads(path.read_text())
    assert doc["uid"] == path.stem and doc["title"].startswith("Warden / ")
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    for p in panels(doc):
        assert p["title"] and p["description"], p["title"]
        assert p["fieldConfig"]["defaults"]["unit"], p["title"]
        assert p["targets"] and all(t["expr"] for t in p["targets"]), p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == PROVISIONED_UID
        pos = p["gridPos"]
        assert pos["x"] + pos["w"] <= 24
    annotations = doc["annotations"]["list"]
    assert {a["datasource"]["uid"] for a in annotations} == {PROVISIONED_UID}
    names = {a["name"] for a in annotations}
    assert names == {"Mode changes", "Crises"}


def test_panels_do_not_overlap() -> None:
    for path in FILES:
        cells: set[tuple[int, int]] = set()
        for p in json.loads(path.read_text())["panels"]:
            g = p["gridPos"]
            mine = {
                (x, y)
                for x in range(g["x"], g["x"] + g["w"])
                for y in range(g["y"], g["y"] + g["h"])
            }
            assert not cells & mine, (path.name, p["title"])
            cells |= mine


def test_a_panel_turns_red_where_its_alert_fires() -> None:
    """The threshold of each panel that goes with an alert is the number in the
    rendered rule's expression, with the alert's severity colour."""
    alerts = {r["alert"]: r for r in rendered_alerts()}
    config = load_config(REPO / "warden.yml", check_programs=False)
    checked = 0
    for board in boards(config):
        for panel in board.panels():
            if not panel.alert:
                continue
            rule = alerts[panel.alert]
            colour = {"critical": "red", "warning": "orange"}[rule["labels"]["severity"]]
            (value, step_colour), *_ = [s for s in panel.steps if s[0] is not None]
            assert value is not None
            below = panel.steps[0][1] == colour  # `<` rules colour the base
            assert (step_colour == "green") if below else (step_colour == colour), panel.title
            numbers = {float(n) for n in re.findall(r"(?<![\w.])(\d+(?:\.\d+)?)", rule["expr"])}
            if rule["expr"].endswith("== 0"):  # a 0/1 metric: red below 1 is red at 0
                assert below and value == 1, panel.title
            else:
                exact = value in numbers or round(value - STRICT, 9) in numbers
                assert exact, (panel.title, rule["expr"])
            checked += 1
    assert checked >= 14


def test_docs_explain_every_panel() -> None:
    docs = (REPO / "docs" / "dashboards.md").read_text()
    for board in boards(load_config(REPO / "warden.yml", check_programs=False)):
        assert f"## {board.title}" in docs
        for panel in board.panels():
            assert f"| {panel.title} |" in docs, panel.title
            if panel.alert:
                row = next(
                    line for line in docs.splitlines() if line.startswith(f"| {panel.title} |")
                )
                assert panel.alert in row, panel.title
