"""The real pipeline: exporter -> Prometheus -> Alertmanager -> an authenticated webhook."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.alerting import TOKEN, Receiver, Stack, build_project
from tests.conftest import ExporterProcess, wait_for
from warden.config import load_config


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    yield r
    r.stop()


@pytest.fixture
def stack_factory(
    tmp_path: Path, receiver: Receiver
) -> Iterator[Callable[[ExporterProcess | None], Stack]]:
    """A stack scraping `exporter` (None: none, alerts are posted directly)."""
    started: list[Stack] = []

    def start(exporter: ExporterProcess | None) -> Stack:
        stack = Stack(
            tmp_path / f"stack{len(started)}",
            exporter.port if exporter else 1,
            receiver.port,
            secrets=load_config(exporter.config, check_programs=False).secrets_dir
            if exporter
            else None,
        )
        started.append(stack)
        stack.start()
        return stack

    yield start
    for s in started:
        s.stop()


def test_build_failure_reaches_the_responder_webhook(
    tmp_path: Path,
    receiver: Receiver,
    stack_factory: Callable[[ExporterProcess | None], Stack],
    exporter_factory: type[ExporterProcess],
) -> None:
    cfg = build_project(tmp_path, "import sys\nprint('error TS2322: boom')\nsys.exit(2)\n")
    exporter = exporter_factory(cfg)
    stack_factory(exporter)

    hits = wait_for(lambda: receiver.alerts("BuildFailing"), timeout=60)
    hook, alert = hits[0]
    assert hook.path == "/api/v1/alerts"
    assert hook.authorization == f"Bearer {TOKEN}"
    assert hook.body["version"] == "4"
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["job"] == "warden-exporter"
    assert alert["annotations"]["runbook_url"] == "docs/runbooks.md#buildfailing"
    assert "failed" in alert["annotations"]["description"]

    watchdog = wait_for(lambda: receiver.alerts("Watchdog"), timeout=30)
    assert watchdog[0][0].path == "/api/v1/watchdog"
    assert watchdog[0][0].authorization == f"Bearer {TOKEN}"
    # Only Watchdog goes to the watchdog endpoint, and nothing else goes there.
    assert all(
        a["labels"]["alertname"] == "Watchdog"
        for h in receiver.hooks
        if h.path == "/api/v1/watchdog"
        for a in h.body["alerts"]
    )


def test_inhibition_and_human_routing(
    tmp_path: Path,
    receiver: Receiver,
    stack_factory: Callable[[ExporterProcess | None], Stack],
) -> None:
    stack = stack_factory(None)  # no exporter needed: alerts are posted directly
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def alert(name: str, severity: str, component: str, **labels: str) -> dict[str, object]:
        base = {"alertname": name, "severity": severity, "component": component}
        return {"labels": {**base, **labels}, "startsAt": now}

    stack.post_alerts(
        [
            alert("BudgetExhausted", "critical", "budget", notify="human", period="day"),
            alert("BudgetNearlyExhausted", "critical", "budget", notify="human", period="day"),
            alert("BudgetNearlyExhausted", "critical", "budget", notify="human", period="night"),
            alert("OpenClawDisconnected", "critical", "probes", probe="openclaw", instance="e:1"),
            alert("SlowResponse", "warning", "probes", probe="openclaw", instance="e:1"),
            alert("SlowResponse", "warning", "probes", probe="other", instance="e:1"),
            alert("MemoryHigh", "warning", "memory", instance="e:1"),
        ]
    )

    def state() -> dict[tuple[str, str], dict[str, Any]]:
        return {
            (a["labels"]["alertname"], a["labels"].get("period") or a["labels"].get("probe", "")): a
            for a in stack.am_alerts()
        }

    alerts = wait_for(lambda: (s := state()) and len(s) == 7 and s, timeout=20)
    alerts = wait_for(
        lambda: (
            (s := state())[("BudgetNearlyExhausted", "day")]["status"]["state"] == "suppressed"
            and s
        ),
        timeout=20,
    )

    def suppressed(key: tuple[str, str]) -> bool:
        return bool(alerts[key]["status"]["state"] == "suppressed")

    assert suppressed(("BudgetNearlyExhausted", "day"))
    assert not suppressed(("BudgetNearlyExhausted", "night")), "another period is not inhibited"
    assert not suppressed(("BudgetExhausted", "day"))
    assert suppressed(("SlowResponse", "openclaw"))
    assert not suppressed(("SlowResponse", "other")), "another probe is not inhibited"
    assert not suppressed(("MemoryHigh", ""))

    def receivers(key: tuple[str, str]) -> set[str]:
        return {r["name"] for r in alerts[key]["receivers"]}

    assert receivers(("BudgetExhausted", "day")) == {"human", "responder-critical"}
    assert receivers(("MemoryHigh", "")) == {"responder-warning"}
