"""The rules, their promtool tests and the Alertmanager routing, checked with the real tools."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tests.docs_table import DOC
from warden.alertspecs import ALERTS, LEARNING, PERFORMANCE

RULES = REPO / "prometheus" / "rules" / "warden.rules.yml"
RULE_TESTS = REPO / "prometheus" / "tests" / "warden.rules.test.yml"
RECORDING_TESTS = REPO / "prometheus" / "tests" / "warden.recording.test.yml"
AM_CONFIG = REPO / "alertmanager" / "alertmanager.yml"
REQUIREMENTS = REPO.parent / "shared" / "REQUIREMENTS.md"

# The alertnames of REQUIREMENTS.md's T, W and X tables.
REQUIRED = {
    "T": [
        "BuildFailing",
        "TestsFailing",
        "AgentDied",
        "SwarmFailed",
        "BudgetNearlyExhausted",
        "ErrorLogSpike",
        "OpenClawDisconnected",
        "DiskSpaceLow",
    ],
    "W": [
        "SlowResponse",
        "MemoryHigh",
        "SwarmStuck",
        "AgentStuckSpawning",
        "CoverageDecreased",
        "CommitsAwaitingReview",
    ],
    "X": [
        "ResponderHeartbeatMissing",
        "SwarmsBelowMinimum",
        "TargetDown",
        "CollectorFailing",
        "Watchdog",
    ],
}


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: run the README's test command, which installs it")
    return path


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, check=False, timeout=120)


def rendered_alerts() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def test_committed_rules_are_what_the_shipped_config_renders() -> None:
    res = run(sys.executable, "-m", "warden.shell.cli", "rules", "-c", "warden.yml", "--check")
    assert res.returncode == 0, res.stderr


def test_promtool_checks_and_unit_tests_pass() -> None:
    check = run(tool("promtool"), "check", "rules", str(RULES))
    assert check.returncode == 0, check.stdout + check.stderr
    test = run(tool("promtool"), "test", "rules", str(RULE_TESTS), str(RECORDING_TESTS))
    assert test.returncode == 0, test.stdout + test.stderr


@pytest.mark.parametrize(
    ("override", "broken"),
    [
        ("ErrorLogSpike: {lines_per_minute: 12}", "ErrorLogSpike fires above 10"),
        ("BuildFailing: {for: 30s}", "BuildFailing fires on the first"),
        ("MemoryHigh: {used_ratio: 0.86}", "MemoryHigh fires above 80"),
    ],
)
def test_unit_tests_catch_a_changed_threshold(tmp_path: Path, override: str, broken: str) -> None:
    """A threshold set in warden.yml reaches the rules: the shipped tests then fail."""
    config = (
        (REPO / "warden.yml").read_text().replace("examples/demo", str(REPO / "examples" / "demo"))
    )
    name = override.split(":")[0]
    config = re.sub(rf"^    {name}: .*$", f"    {override}", config, flags=re.M)
    (tmp_path / "warden.yml").write_text(config)
    # The same layout as the repository's: rules/ beside tests/.
    out = tmp_path / "rules" / "warden.rules.yml"
    res = run(
        sys.executable,
        "-m",
        "warden.shell.cli",
        "rules",
        "-c",
        str(tmp_path / "warden.yml"),
        "-o",
        str(out),
    )
    assert res.returncode == 0, res.stderr
    (tmp_path / "tests").mkdir()
    shutil.copy(RULE_TESTS, tmp_path / "tests" / RULE_TESTS.name)
    test = run(tool("promtool"), "test", "rules", str(tmp_path / "tests" / RULE_TESTS.name))
    assert test.returncode != 0
    assert broken in test.stdout + test.stderr


def test_every_required_alert_exists_with_labels_and_annotations() -> None:
    alerts = {r["alert"]: r for r in rendered_alerts()}
    if REQUIREMENTS.exists():  # the requirements, when this checkout has them beside it
        text = REQUIREMENTS.read_text()
        for kind, names in REQUIRED.items():
            found = re.findall(rf"^\| {kind}\d \| (\w+) \|", text, re.M)
            assert found == names, (kind, found)
    for kind, names in REQUIRED.items():
        for name in names:
            rule = alerts[name]
            severity = {"T": "critical", "W": "warning", "X": rule["labels"]["severity"]}[kind]
            assert rule["labels"]["severity"] == severity
    for tier in ("BudgetNonCriticalStopped", "BudgetCriticalOnly", "BudgetExhausted"):
        assert alerts[tier]["labels"]["notify"] == "human"
    assert alerts["Watchdog"]["labels"]["severity"] == "none"
    runbooks = (REPO / "docs" / "runbooks.md").read_text()
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in ("critical", "warning", "none")
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}, name
        assert "{{" in rule["annotations"]["description"] or name == "Watchdog", name
        anchor = rule["annotations"]["runbook_url"].split("#")[1]
        assert anchor == name.lower()
        assert re.search(rf"^## {name}$", runbooks, re.M), f"no runbook section for {name}"
        assert re.search(r"[<>=]|vector\(1\)", rule["expr"]), f"{name} has no comparison"


def test_every_rule_is_unit_tested() -> None:
    tests = [
        t for f in (RULE_TESTS, RECORDING_TESTS) for t in yaml.safe_load(f.read_text())["tests"]
    ]
    firing: set[str] = set()
    silent: set[str] = set()
    exprs = " ".join(t["expr"] for test in tests for t in test.get("promql_expr_test", []))
    for test in tests:
        for case in test.get("alert_rule_test", []):
            (firing if case["exp_alerts"] else silent).add(case["alertname"])
    names = {a.name for a in ALERTS}
    assert firing == names
    assert silent == names - {"Watchdog"}
    for rec in (*PERFORMANCE, *LEARNING):
        assert rec.record in exprs, f"no promql_expr_test for {rec.record}"


def test_every_metric_in_a_rule_is_documented() -> None:
    documented = set(re.findall(r"^\| `(warden_[a-z0-9_]+)`", DOC.read_text(), re.M))
    doc = yaml.safe_load(RULES.read_text())
    used = {
        re.sub(r"_(sum|count|bucket)$", "", m)
        for g in doc["groups"]
        for r in g["rules"]
        for m in re.findall(r"\b(warden_[a-z0-9_]+)", r["expr"])
    }
    missing = {m for m in used if m not in documented}
    assert not missing, f"metrics used in rules but not in docs/metrics.md: {sorted(missing)}"


def expected_receivers(labels: dict[str, str]) -> list[str]:
    if labels["alertname"] == "Watchdog":
        return ["responder-watchdog"]
    first = ["human"] if labels.get("notify") == "human" else []
    return [*first, f"responder-{labels['severity']}"]


def test_alertmanager_config_and_routes() -> None:
    amtool = tool("amtool")
    check = run(amtool, "check-config", str(AM_CONFIG))
    assert check.returncode == 0, check.stdout + check.stderr
    for rule in rendered_alerts():
        labels = {"alertname": rule["alert"], **rule["labels"]}
        receivers = expected_receivers(labels)
        res = run(
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={AM_CONFIG}",
            f"--verify.receivers={','.join(receivers)}",
            *(f"{k}={v}" for k, v in labels.items()),
        )
        assert res.returncode == 0, (labels, res.stdout, res.stderr)


def test_every_webhook_is_authenticated_and_local() -> None:
    am = yaml.safe_load(AM_CONFIG.read_text())
    assert "match" not in AM_CONFIG.read_text().replace("matchers", "")
    hooks = [w for r in am["receivers"] for w in r.get("webhook_configs", [])]
    assert hooks
    for w in hooks:
        assert w["url"].startswith("http://127.0.0.1:")
        assert w["http_config"]["authorization"] == {
            "type": "Bearer",
            "credentials_file": "secrets/webhook-token",
        }
    route = am["route"]
    for sub in route["routes"]:
        assert sub.get("repeat_interval", route["repeat_interval"])
    critical = next(r for r in route["routes"] if r["matchers"] == ['severity="critical"'])
    assert critical["group_wait"] == "0s"
