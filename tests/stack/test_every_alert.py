"""Every shipped alert fires from the real components: the exporter's collectors,
the responder's runtime, real Prometheus evaluating the rendered rules.

promtool's unit tests prove each rule on synthetic series; this proves that
the metric each rule reads really goes over its threshold when the thing it
watches happens, through `warden up`. The thresholds are lowered in the test's
config (as a user may), so each condition can be met within seconds; `for:` is
0 for the same reason. The four budget tiers are driven through the same stack
by `test_up.py::test_budget_tiers_through_warden_up`.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import commit_all, free_port, http_get, wait_for
from tests.stack.test_up import StackClock, _query, stack_config, warden_up
from warden.alertspecs import ALERTS
from warden.auth import SecretError

BUDGET_TIERS = {
    "BudgetNearlyExhausted",
    "BudgetNonCriticalStopped",
    "BudgetCriticalOnly",
    "BudgetExhausted",
}


class Slow(BaseHTTPRequestHandler):
    """An endpoint that answers, slowly (W1)."""

    def do_GET(self) -> None:
        time.sleep(0.6)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        return


COVERAGE = "warden_coverage_lines_ratio"


@pytest.mark.slow
@pytest.mark.timeout(600)  # about 3 minutes
def test_every_alert_fires_from_the_real_components(tmp_path: Path, demo_repo: Path) -> None:
    slow = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=slow.serve_forever, daemon=True).start()
    logs = demo_repo / "logs" / "app.log"
    logs.parent.mkdir(exist_ok=True)
    logs.write_text("")
    coverage = demo_repo / "coverage" / "driven.json"
    cfg, ports = stack_config(
        tmp_path,
        demo_repo,
        extra=(
            # Collectors look every second; the coverage report is the test's own.
            (
                f"    path: {coverage.parent / 'coverage-summary.json'}  # default: under "
                "project.dir\n    format: auto\n    interval: 30s",
                f"    path: {coverage}\n    format: istanbul\n    interval: 1s",
            ),
            (
                "    review_ref: refs/warden/reviewed\n    interval: 30s",
                "    review_ref: refs/warden/reviewed\n    interval: 1s",
            ),
            (
                f"    paths: ['/', {demo_repo}]     # default: / and project.dir\n"
                "    interval: 15s",
                f"    paths: ['/', {demo_repo}]\n    interval: 1s",
            ),
            # Probes: a slow endpoint (W1) and an OpenClaw gateway that is not there (T7).
            (
                "    interval: 15s\n    http:\n      - name: openclaw\n",
                f"    interval: 1s\n    http:\n      - name: slow\n"
                f"        url: http://127.0.0.1:{slow.server_port}/\n"
                f"      - name: openclaw\n        url: http://127.0.0.1:{free_port()}/readyz\n"
                "      - name: exporter\n",
            ),
            # Agents: cleanup dies (T3, T4), monitor hangs (W3), coverage never speaks (W4).
            (
                "    coverage: {size: 1}",
                "    coverage: {spawn_timeout: 2s, env: {FAKE_CLAUDE: 'mode=silent'}}\n"
                "    monitor: {stuck_after: 2s, env: {FAKE_CLAUDE: 'mode=hang'}}\n"
                # A death some seconds in: Prometheus must have seen the counter at 0
                # (an increase before the first scrape is no increase to it).
                "    cleanup: {retries: 1, retry_backoff: 1s,"
                " env: {FAKE_CLAUDE: 'mode=crash,delay=4'}}",
            ),
            # Thresholds a few seconds can meet.
            (
                "ErrorLogSpike: {for: 0s, lines_per_minute: 10,",
                "ErrorLogSpike: {for: 0s, lines_per_minute: 1,",
            ),
            ("OpenClawDisconnected: {for: 30s,", "OpenClawDisconnected: {for: 0s,"),
            (
                "DiskSpaceLow: {for: 0s, free_ratio: 0.2}",
                "DiskSpaceLow: {for: 0s, free_ratio: 0.9999}",
            ),
            ("SlowResponse: {for: 30s, seconds: 5s}", "SlowResponse: {for: 0s, seconds: 300ms}"),
            ("MemoryHigh: {for: 1m, used_ratio: 0.8}", "MemoryHigh: {for: 0s, used_ratio: 0.01}"),
            ("CommitsAwaitingReview: {for: 5m,", "CommitsAwaitingReview: {for: 0s,"),
            (
                "ResponderHeartbeatMissing: {for: 0s, max_age: 2m}",
                "ResponderHeartbeatMissing: {for: 0s, max_age: 5s}",
            ),
            ("SwarmsBelowMinimum: {for: 1m,", "SwarmsBelowMinimum: {for: 0s,"),
            ("TargetDown: {for: 30s}", "TargetDown: {for: 0s}"),
            # A5: the recoveries fail, so the swarms follow at once (the cleanup agent
            # that dies is how AgentDied and SwarmFailed are driven).
            (
                "  recoveries:\n",
                '  recoveries:\n    disk_cleanup: {command: ["false"]}\n',
            ),
            ("CollectorFailing: {for: 5m}", "CollectorFailing: {for: 0s}"),
        ),
    )
    seen: set[str] = set()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                body = json.loads(ports.http("prometheus", "/api/v1/alerts", 2)[1])
                seen.update(
                    a["labels"]["alertname"]
                    for a in body["data"]["alerts"]
                    if a["state"] == "firing"
                )
            except (OSError, ValueError, KeyError, SecretError):
                pass  # not up yet (its secrets are made as it starts)
            time.sleep(0.5)

    def fired(names: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not names <= seen and time.monotonic() < deadline:
            time.sleep(0.5)
        assert names <= seen, f"never fired: {sorted(names - seen)} (seen: {sorted(seen)})"

    watcher = threading.Thread(target=watch)
    expected = {a.name for a in ALERTS} - BUDGET_TIERS
    try:
        with warden_up(cfg, StackClock(tmp_path / "clock"), tmp_path / "up.log"):
            watcher.start()
            # X4 first: the coverage report does not exist yet, so its collector fails.
            fired({"CollectorFailing"}, 90)
            # W5: coverage is measured, then drops.
            for pct in (90, 60):
                coverage.parent.mkdir(exist_ok=True)
                lines = {"covered": pct, "total": 100, "pct": pct}
                coverage.write_text(json.dumps({"total": {"lines": lines}}))
                # Prometheus has it: the drop is measured against it.
                wait_for(
                    lambda r=pct / 100: (
                        [round(v, 9) for v in _query(ports, "prometheus", COVERAGE)] == [r]
                    ),
                    60,
                )
            # T6: error lines are written to the followed log.
            with logs.open("a") as fh:
                fh.writelines(f"ERROR {i}: something broke\n" for i in range(30))
            # W6: a commit nobody reviewed.
            (demo_repo / "NOTES.md").write_text("unreviewed\n")
            commit_all(demo_repo, "an unreviewed commit")
            fired({"SwarmStuck", "AgentStuckSpawning", "AgentDied", "CoverageDecreased"}, 120)
            # T1, T2: the build breaks (the demo's tests fail with it).
            with (demo_repo / "src" / "calc.py").open("a") as fh:
                fh.write("\ndef broken(:\n")
            fired({"BuildFailing", "TestsFailing"}, 60)
            # X1, X3: the responder freezes; its heartbeat stops and its scrapes fail.
            health = http_get(f"http://127.0.0.1:{ports['responder']}/healthz")[1]
            pid = int(json.loads(health)["pid"])
            os.kill(pid, signal.SIGSTOP)
            try:
                fired({"ResponderHeartbeatMissing", "TargetDown"}, 40)
            finally:
                os.kill(pid, signal.SIGCONT)
            fired(expected, 60)
    finally:
        stop.set()
        if watcher.is_alive():
            watcher.join()
        slow.shutdown()
