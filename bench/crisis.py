"""Crisis response through the whole stack (`warden up`): from the broken file
being saved, and from the build command exiting non-zero, to the CRITICAL
bugfix swarm's agent process running; and from the fix being saved to the
exporter publishing the passing build.

A copy of the demo project in a git repository, the shipped warden.yml with
free ports and a fake agent that keeps running, and `warden up` with the
shipped configs. Each trial breaks the build (a syntax error), waits for the
bugfix agent, mends the build, and waits for the crisis to end. The build's
exit time is the exporter's own record (`/api/v1/checks`: start + duration);
the agent's start is the runtime's (`started_at` in SQLite).

Run: .venv/bin/python -m bench.crisis [--trials 20]
With `--defaults`, Prometheus and Alertmanager run with their default
intervals instead (1m scrape and evaluation, 30s group_wait, 5m
group_interval): minutes a trial. The Watchdog's route keeps its 30 s repeat,
so the responder's own fallback (reading the exporter after 90 s without a
Watchdog) stays out of that figure.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.common import percentile
from tests.conftest import REPO, enterable, make_demo_repo, wait_for
from tests.stack.test_up import Ports, stack_config, status
from warden.auth import Credentials, fetch


def defaults_configs(tmp: Path, cfg: Path) -> None:
    """Point the stack at copies of the shipped configs with the intervals removed."""
    prom = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())
    prom["global"] = {}
    for job in prom["scrape_configs"]:
        job.pop("scrape_interval", None)
        job.pop("scrape_timeout", None)
    am = yaml.safe_load((REPO / "alertmanager" / "alertmanager.yml").read_text())
    # The Watchdog's route keeps its 30 s repeat: it is Warden's dead man's
    # switch, not a speed setting, and without it the responder would read the
    # exporter itself after 90 s of silence and hide the defaults' delay.
    routes = [r for r in am["route"]["routes"] if 'alertname="Watchdog"' not in r["matchers"]]
    for route in [am["route"], *routes]:
        for key in ("group_wait", "group_interval", "repeat_interval"):
            route.pop(key, None)
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(prom))
    (tmp / "alertmanager.yml").write_text(yaml.safe_dump(am))
    text = cfg.read_text()
    text = text.replace(str(REPO / "prometheus" / "prometheus.yml"), str(tmp / "prometheus.yml"))
    text = text.replace(
        str(REPO / "alertmanager" / "alertmanager.yml"), str(tmp / "alertmanager.yml")
    )
    # The lifecycle API, to reload Prometheus with the default rule intervals.
    text = text.replace("prometheus_lifecycle: false", "prometheus_lifecycle: true")
    cfg.write_text(text)


def default_rule_intervals(tmp: Path, ports: Ports) -> None:
    """`warden up` renders the rules with their own group intervals; take them out
    (every group then runs at Prometheus' default 1m) and reload Prometheus."""
    rules = tmp / "state" / "stack" / "prometheus" / "warden.rules.yml"
    doc = yaml.safe_load(rules.read_text())
    for group in doc["groups"]:
        group.pop("interval", None)
    rules.write_text(yaml.safe_dump(doc))
    url = f"http://127.0.0.1:{ports['prometheus']}/-/reload"
    wait_for(lambda: http_post_ok(url, ports.auth("prometheus")), 60, 0.5)


def http_post_ok(url: str, credentials: Credentials) -> bool:
    try:
        fetch(url, credentials, 5, data=b"")
        return True
    except OSError:
        return False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--defaults", action="store_true")
    args = ap.parse_args()
    rng = random.Random(11)  # noqa: S311  (trial spacing, not a secret)
    with tempfile.TemporaryDirectory(prefix="warden-bench-crisis-") as t:
        tmp = enterable(Path(t))  # the agents' user (nobody, as root) works in here
        project = make_demo_repo(tmp / "demo")
        # Bugfix agents work for 2 s and succeed, so each trial's swarm has
        # ended before the next break (one bugfix swarm per alert at a time).
        cfg, ports = stack_config(tmp, project, bugfix="turns=20,delay=0.1")
        if args.defaults:
            defaults_configs(tmp, cfg)
        up = subprocess.Popen(
            [sys.executable, "-m", "warden.shell.cli", "up", "-c", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        timeout = 900 if args.defaults else 120
        latencies: list[float] = []
        from_save: list[float] = []  # break saved -> agent running, minus the build's run
        fixed: list[float] = []  # fix saved -> passing build published, minus its run
        try:
            wait_for(lambda: status(ports), 60)
            if args.defaults:
                default_rule_intervals(tmp, ports)
            checks = "/api/v1/checks"
            wait_for(
                lambda: "warden_build_success 1.0" in ports.http("exporter", "/metrics")[1],
                60,
            )
            time.sleep(5)  # let Prometheus scrape the passing build
            db = sqlite3.connect(tmp / "state" / "warden.db")
            calc = project / "src" / "calc.py"
            good = calc.read_text()
            for i in range(args.trials):
                time.sleep(rng.uniform(0, 4))  # random phases of the 2 s cycles
                seen = {r[0] for r in db.execute("SELECT id FROM swarms")}
                saved = time.time()
                calc.write_text(good + "\ndef broken(:\n")

                def agent_started(seen: set[str] = seen) -> float | None:
                    row = db.execute(
                        "SELECT s.id, a.started_at FROM swarms s JOIN agents a ON a.swarm_id"
                        " = s.id WHERE s.priority = 'CRITICAL' AND s.type = 'bugfix' AND"
                        " a.started_at IS NOT NULL ORDER BY a.started_at DESC LIMIT 1"
                    ).fetchone()
                    return float(row[1]) if row and row[0] not in seen else None

                started = wait_for(agent_started, timeout, 0.02)
                failure = json.loads(ports.http("exporter", checks)[1])["build"]["last_failure"]
                exited = failure["started_at"] + failure["duration_seconds"]
                latencies.append(started - exited)
                from_save.append(started - saved - failure["duration_seconds"])
                mended = time.time()
                calc.write_text(good)

                def passed(after: float = mended) -> dict[str, float] | None:
                    run = json.loads(ports.http("exporter", checks)[1])["build"]["last_run"]
                    return run if run["ok"] and run["started_at"] >= after else None

                run = wait_for(passed, timeout, 0.01)
                fixed.append(run["started_at"] - mended)  # published at start + duration
                print(
                    f"  trial {i + 1:2d}: exit->agent {latencies[-1]:5.2f} s, "
                    f"save->agent {from_save[-1]:5.2f} s + run, "
                    f"fix->pass {fixed[-1]:5.2f} s + run",
                    flush=True,
                )
                wait_for(lambda: (s := status(ports)) and s["mode"] != "CRISIS", timeout, 0.2)
            db.close()
        finally:
            up.send_signal(signal.SIGTERM)
            up.wait(timeout=60)
        label = "defaults" if args.defaults else "shipped"
        for what, values in (
            ("build exit -> CRITICAL bugfix agent running", latencies),
            ("break saved -> CRITICAL bugfix agent running, minus the build's run", from_save),
            ("fix saved -> passing build published, minus the build's run", fixed),
        ):
            print(
                f"{label}: {what}, n={len(values)}: p50={percentile(values, 50):.2f} s "
                f"p95={percentile(values, 95):.2f} s max={max(values):.2f} s"
            )


if __name__ == "__main__":
    main()
