"""`warden up` end to end: exporter, Prometheus, Alertmanager, responder and real agents.

R4 through the real pipeline: the demo's build breaks, a CRITICAL bugfix
swarm starts with the build error in its context, non-critical work is
killed, the mode is CRISIS; the build is mended and the crisis ends. Then
Ctrl-C (SIGTERM) leaves no process of Warden's behind.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

from tests.conftest import REPO, free_port, git, http_get, run_cli, wait_for
from tests.stack import TOKEN
from tests.test_responder import alert, body, post


def stack_config(
    tmp_path: Path,
    project: Path,
    bugfix: str = "mode=hang",
    extra: tuple[tuple[str, str], ...] = (),
) -> tuple[Path, dict[str, int]]:
    """The shipped warden.yml, pointed at `project` and at free ports; `extra`
    replaces more of its lines."""
    ports = {
        "exporter": free_port(),
        "responder": free_port(),
        "prometheus": free_port(),
        "alertmanager": free_port(),
    }
    text = (REPO / "warden.yml").read_text()
    for old, new in (
        ("  dir: examples/demo", f"  dir: {project}"),
        ("state_dir: .warden", f"state_dir: {tmp_path / 'state'}"),
        ("  token_file: alertmanager/secrets/webhook-token", f"  token_file: {tmp_path / 'token'}"),
        (
            "  prometheus_config: prometheus/prometheus.yml",
            f"  prometheus_config: {REPO / 'prometheus' / 'prometheus.yml'}",
        ),
        (
            "  alertmanager_config: alertmanager/alertmanager.yml",
            f"  alertmanager_config: {REPO / 'alertmanager' / 'alertmanager.yml'}",
        ),
        ("../fake_claude.py", str(REPO / "examples" / "fake_claude.py")),
        # The probe on: an endpoint that answers (the exporter's own health).
        (
            "    enabled: false\n    interval: 15s\n    http:\n      - name: openclaw\n"
            "        url: http://127.0.0.1:18789/readyz",
            "    enabled: true\n    interval: 15s\n    http:\n      - name: openclaw\n"
            "        url: http://127.0.0.1:8947/healthz",
        ),
        ("127.0.0.1:8947", f"127.0.0.1:{ports['exporter']}"),
        ("127.0.0.1:8948", f"127.0.0.1:{ports['responder']}"),
        ("127.0.0.1:9090", f"127.0.0.1:{ports['prometheus']}"),
        ("127.0.0.1:9093", f"127.0.0.1:{ports['alertmanager']}"),
        (
            "    bugfix: {size: 1}",
            f"    bugfix: {{size: 1, stuck_after: 1h, env: {{FAKE_CLAUDE: '{bugfix}'}}}}\n"
            "    review: {stuck_after: 1h, env: {FAKE_CLAUDE: 'mode=hang'}}",
        ),
        *extra,
    ):
        assert old in text, old
        text = text.replace(old, new)
    (tmp_path / "token").write_text(TOKEN + "\n")
    cfg = tmp_path / "warden.yml"
    cfg.write_text(text)
    return cfg, ports


def status(ports: dict[str, int]) -> dict[str, Any] | None:
    try:
        code, text = http_get(f"http://127.0.0.1:{ports['responder']}/api/v1/status", 2)
    except OSError:
        return None
    return json.loads(text) if code == 200 else None


def unserved_rule_metrics(ports: dict[str, int]) -> set[str]:
    """Metrics a rule names that the live exporter and responder do not serve."""
    served = set()
    for component in ("exporter", "responder"):
        text = http_get(f"http://127.0.0.1:{ports[component]}/metrics")[1]
        served |= set(re.findall(r"^# TYPE (warden_\S+) ", text, re.M))
    rules = yaml.safe_load((REPO / "prometheus" / "rules" / "warden.rules.yml").read_text())
    used = {
        m
        for g in rules["groups"]
        for r in g["rules"]
        for m in re.findall(r"\b(warden_[a-z0-9_]+)", r["expr"])
    }
    base = {re.sub(r"_(sum|count|bucket)$", "", m) for m in used}
    return {m for m in base if m not in served}


def health_pid(url: str) -> int | None:
    try:
        return int(json.loads(http_get(url + "/healthz", 2)[1])["pid"])
    except (OSError, ValueError, KeyError):
        return None


def test_r4_through_warden_up(tmp_path: Path, demo_repo: Path) -> None:
    cfg, ports = stack_config(tmp_path, demo_repo)
    out = (tmp_path / "up.log").open("wb")
    up = subprocess.Popen(
        [sys.executable, "-m", "warden.cli", "up", "-c", str(cfg)],
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    responder = f"http://127.0.0.1:{ports['responder']}"
    try:
        wait_for(lambda: status(ports), 60)
        # Prometheus scrapes the exporter and sees the build pass first.
        wait_for(
            lambda: (
                "warden_build_success 1.0"
                in http_get(f"http://127.0.0.1:{ports['exporter']}/metrics")[1]
            ),
            60,
        )
        # Every metric a rule names is served live (coverage once the tests wrote
        # their first report: the coverage collector looks every 30 s).
        wait_for(lambda: not unserved_rule_metrics(ports), 90, 1.0)
        assert post(responder, body(alert("CommitsAwaitingReview", fp="7e1")))[0] == 200
        wait_for(lambda: [s["type"] for s in status(ports)["swarms"]] == ["review"], 30)  # type: ignore[index]

        calc = demo_repo / "src" / "calc.py"
        calc.write_text(calc.read_text() + "\ndef broken(:\n")
        t0 = time.monotonic()
        s = wait_for(
            lambda: (
                (st := status(ports))
                and st["mode"] == "CRISIS"
                and any(x["priority"] == "CRITICAL" for x in st["swarms"])
                and st
            ),
            60,
        )
        crisis_after = time.monotonic() - t0
        assert s["mode"] == "CRISIS" and s["escalation"] == 3
        swarms = s["swarms"]
        # Only CRITICAL work runs (the broken build fails the tests too, so a
        # CRITICAL tests swarm may run beside the bugfix swarm): fix first.
        assert {x["priority"] for x in swarms} == {"CRITICAL"}
        bugfix = [x for x in swarms if x["type"] == "bugfix"]
        assert len(bugfix) == 1 and bugfix[0]["trigger"].startswith("alert:BuildFailing:")
        context = next((tmp_path / "state" / "agents" / bugfix[0]["id"]).glob("context.md"))
        assert "SyntaxError: invalid syntax" in context.read_text()
        state_file = tmp_path / "state" / "state.json"  # written at the end of each cycle
        state = wait_for(
            lambda: (st := json.loads(state_file.read_text()))["mode"] == "CRISIS" and st, 10
        )
        assert state["modeConfig"]["heartbeatMs"] == 10_000
        with sqlite3.connect(tmp_path / "state" / "warden.db") as db:
            kinds = dict(db.execute("SELECT type, state FROM swarms").fetchall())
        assert kinds["review"] == "killed"

        # T3: the bugfix agent is killed from outside: the runtime starts it again
        # and AgentDied comes back through Prometheus and Alertmanager.
        db_path = tmp_path / "state" / "warden.db"

        def agents() -> list[tuple[int, str]]:
            with sqlite3.connect(db_path) as db:
                return db.execute(
                    "SELECT pid, state FROM agents WHERE swarm_id = ? ORDER BY attempt",
                    (bugfix[0]["id"],),
                ).fetchall()

        os.kill(agents()[0][0], signal.SIGKILL)
        wait_for(lambda: [a[1] for a in agents()] == ["failed", "running"], 30)

        def agent_died_seen() -> bool:
            with sqlite3.connect(db_path) as db:
                return bool(
                    db.execute(
                        "SELECT COUNT(*) FROM episodes WHERE alertname = 'AgentDied'"
                    ).fetchone()[0]
                )

        wait_for(agent_died_seen, 60)

        # R1: the responder is SIGKILLed mid-crisis; warden up starts it again and
        # it carries on: the same bugfix swarm, no second one, still CRISIS.
        pid = json.loads(http_get(responder + "/healthz")[1])["pid"]
        os.kill(pid, signal.SIGKILL)
        after = wait_for(lambda: (h := health_pid(responder)) and h != pid and status(ports), 60)
        assert after["mode"] == "CRISIS"
        assert [x["id"] for x in after["swarms"] if x["type"] == "bugfix"] == [bugfix[0]["id"]]

        git(demo_repo, "checkout", "src/calc.py")
        wait_for(lambda: status(ports)["mode"] != "CRISIS", 60)  # type: ignore[index]
        # M: a maintenance window from the command line, while the stack runs.
        assert run_cli("maintenance", "start", "--for", "1h", "-c", str(cfg)).returncode == 0
        wait_for(lambda: status(ports)["mode"] == "MAINTENANCE", 30)  # type: ignore[index]
        assert run_cli("maintenance", "stop", "-c", str(cfg)).returncode == 0
        wait_for(lambda: status(ports)["mode"] in ("ACTIVE", "NIGHT"), 30)  # type: ignore[index]
        print(f"crisis seen and a CRITICAL swarm running {crisis_after:.1f} s after the break")
    finally:
        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=60) == 0
        out.close()
    log = (tmp_path / "up.log").read_text()
    assert re.search(r"exporter +http://127\.0\.0\.1:\d+/metrics", log)
    assert "Warden is down." in log
    left = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if str(tmp_path) in cmd and p.pid != up.pid:
            left.append(cmd)
    assert not left, f"left running: {left}"


def test_budget_tiers_through_warden_up(tmp_path: Path, demo_repo: Path) -> None:
    """B: spend crosses every tier; a person is told through Alertmanager's human
    route, the tiers are enforced, and nothing more may start."""
    cfg, ports = stack_config(
        tmp_path,
        demo_repo,
        extra=(
            ("  budget_usd: 2.0 ", "  budget_usd: 0.01 "),
            ("    ACTIVE: 100 ", "    ACTIVE: 0.05 "),
            ("    NIGHT: 25\n", "    NIGHT: 0.05\n"),
        ),
    )
    up = subprocess.Popen(
        [sys.executable, "-m", "warden.cli", "up", "-c", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    responder = f"http://127.0.0.1:{ports['responder']}"
    try:
        wait_for(lambda: status(ports), 60)
        # Five coverage swarms of $0.01 each spend the whole $0.05 period.
        for i in range(5):
            assert post(responder, body(alert("CoverageDecreased", fp=f"c{i}")))[0] == 200
            wait_for(
                lambda i=i: (
                    (st := status(ports)) and st["budget"]["spend_usd"] >= 0.01 * (i + 1) - 1e-9
                ),
                30,
            )
        alerts_url = f"http://127.0.0.1:{ports['alertmanager']}/api/v2/alerts"

        def firing() -> dict[str, Any]:
            return {a["labels"]["alertname"]: a for a in json.loads(http_get(alerts_url)[1])}

        tiers = (
            "BudgetNearlyExhausted",
            "BudgetNonCriticalStopped",
            "BudgetCriticalOnly",
            "BudgetExhausted",
        )
        seen = wait_for(lambda: (f := firing()) and all(t in f for t in tiers) and f, 60)
        exhausted = seen["BudgetExhausted"]
        assert {r["name"] for r in exhausted["receivers"]} == {"human", "responder-critical"}
        assert seen["BudgetNearlyExhausted"]["status"]["state"] == "suppressed", (
            "the higher tier silences the lower ones"
        )
        # Nothing more may start in this period. (A crisis would open a period of
        # its own, with the CRISIS cap: fix first.)
        assert post(responder, body(alert("CoverageDecreased", fp="c9")))[0] == 200

        def outcome_of(fp: str) -> str | None:
            st = status(ports)
            return next(
                (
                    d["outcome"]
                    for d in (st or {}).get("decisions", [])
                    if d.get("fingerprint") == fp
                ),
                None,
            )

        outcome = wait_for(lambda: outcome_of("c9"), 30)
        assert "refused" in outcome and "budget tier" in outcome
    finally:
        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=60) == 0
