"""Crisis response through the whole stack (`warden up`): from the broken file
being saved, and from the build command exiting non-zero, to the CRITICAL
bugfix swarm's agent process running (BuildFailing's: a bugfix swarm that
ErrorLogSpike starts when the repeated breaks fill the logs does not count);
and from the fix being saved to the exporter publishing the passing build.

A copy of the demo project in a git repository, the shipped warden.yml with
free ports and a fake agent that keeps running, and `warden up` with the
shipped configs. Each trial breaks the build (a syntax error), waits for the
bugfix agent, mends the build, and waits for the crisis to end. The build's
exit time is the exporter's own record (`/api/v1/checks`: start + duration);
the agent's start is the runtime's (`started_at` in SQLite).

Run: .venv/bin/python -m bench.crisis [--trials 20] [--default-trials 2] [--load 1]

The anchor, in the same run: `--default-trials` more trials on a second stack
whose Prometheus and Alertmanager run with their own default intervals (1m
scrape and evaluation, 30s group_wait, 5m group_interval, no resend flag):
minutes a trial. The Watchdog's route keeps its 30 s repeat, so the
responder's own fallback (reading the exporter after 90 s without a Watchdog)
stays out of that figure. The ratio of the two is printed.

`--load N` runs N busy processes beside the stack (a CPU load, as on a machine
that does other work). A trial whose agent never starts is lost: the bench
keeps that stack's state under `--keep` (bench/out/crisis), prints what the
responder decided and goes on; it exits 1 if any trial was lost.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bench.common import cpu_load, percentile
from tests.conftest import REPO, enterable, make_demo_repo, wait_for
from tests.stack.test_up import Ports, aligned_delay, stack_config, status
from warden.auth import Credentials, fetch

SLOW_SECONDS = 3.0
"""A trial whose build exit -> agent took longer is printed with what was decided."""
NOT_SENT = ("prometheus_notifications_dropped_total", "prometheus_notifications_errors_total")


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
    # The shipped warden.yml leaves both null (Warden's own files): name the copies.
    for key, copy in (
        ("prometheus_config", tmp / "prometheus.yml"),
        ("alertmanager_config", tmp / "alertmanager.yml"),
        # The lifecycle API, to reload Prometheus with the default rule intervals.
        ("prometheus_lifecycle", "true"),
    ):
        text = re.sub(rf"(?m)^(  {key}:) \S+", rf"\1 {copy}", text, count=1)
        if f"  {key}: {copy}" not in text:
            raise SystemExit(f"bench.crisis: stack.{key} not found in the stack's config")
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


@dataclass
class Trials:
    """One stack's trials (seconds), and what was lost."""

    label: str
    exit_to_agent: list[float] = field(default_factory=list)
    save_to_agent: list[float] = field(default_factory=list)
    """Break saved -> agent running, minus the build's run."""
    fix_to_pass: list[float] = field(default_factory=list)
    """Fix saved -> passing build published, minus the build's run."""
    lost: list[str] = field(default_factory=list)
    """Per lost trial: where its state was kept, and what the responder decided."""


def run(defaults: bool, n: int, keep: Path) -> Trials:
    """`n` trials on a stack of its own (shipped intervals, or the tools' defaults)."""
    out = Trials("defaults" if defaults else "shipped")
    if n == 0:
        return out
    rng = random.Random(11)  # noqa: S311  (trial spacing, not a secret)
    with tempfile.TemporaryDirectory(prefix="warden-bench-crisis-") as t:
        tmp = enterable(Path(t))  # the agents' user (nobody, as root) works in here
        project = make_demo_repo(tmp / "demo")
        # Bugfix agents work for 2 s and succeed, so each trial's swarm has
        # ended before the next break (one bugfix swarm per alert at a time).
        cfg, ports = stack_config(tmp, project, bugfix="turns=20,delay=0.1")
        if defaults:
            defaults_configs(tmp, cfg)
        up = subprocess.Popen(
            [sys.executable, "-m", "warden.shell.cli", "up", "-c", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        timeout = 900 if defaults else 120
        try:
            wait_for(lambda: status(ports), 60)
            if defaults:
                default_rule_intervals(tmp, ports)
            wait_for(
                lambda: "warden_build_success 1.0" in ports.http("exporter", "/metrics")[1],
                60,
            )
            wait_for(lambda: _passing_seen(ports), 60, 0.5)  # Prometheus has the passing build
            if not defaults:  # `warden up` aligned the rules with the scrape (warden/phase.py)
                aligned = wait_for(lambda: _aligned(ports), 60, 0.5)
                print(f"  {out.label}: scrape to evaluation {aligned:.3f} s")
            db = sqlite3.connect(tmp / "state" / "warden.db")
            calc = project / "src" / "calc.py"
            good = calc.read_text()
            for i in range(n):
                # From a quiet state: the last trial's bugfix swarm has ended (one bugfix
                # swarm per alert at a time: a break while it works waits for its end).
                wait_for(lambda: not _bugfix_running(db), timeout, 0.1)
                time.sleep(rng.uniform(0, 4))  # random phases of the 2 s cycles
                _trial(out, i, db, calc, good, ports, timeout, tmp, keep)
            db.close()
        finally:
            up.send_signal(signal.SIGTERM)
            up.wait(timeout=60)
    return out


def _aligned(ports: Ports) -> float | None:
    """The scrape-to-evaluation delay once the rules are aligned and Prometheus knows
    its Alertmanager (for up to 5 s after its start or a reload it knows none, and an
    alert that fires then waits for the 10 s resend: prometheus#13064)."""
    delay = aligned_delay(ports)
    if delay is None:
        return None
    code, text = ports.http("prometheus", "/api/v1/alertmanagers")
    return delay if code == 200 and json.loads(text)["data"]["activeAlertmanagers"] else None


def _bugfix_running(db: sqlite3.Connection) -> bool:
    row = db.execute("SELECT COUNT(*) FROM swarms WHERE type = 'bugfix' AND state = 'running'")
    return bool(row.fetchone()[0])


def _passing_seen(ports: Ports) -> bool:
    code, text = ports.http("prometheus", "/api/v1/query?query=warden_build_success")
    return code == 200 and '"1"' in text


def _trial(
    out: Trials,
    i: int,
    db: sqlite3.Connection,
    calc: Path,
    good: str,
    ports: Ports,
    timeout: float,
    tmp: Path,
    keep: Path,
) -> None:
    checks = "/api/v1/checks"
    seen = {r[0] for r in db.execute("SELECT id FROM swarms")}
    saved = time.time()
    calc.write_text(good + "\ndef broken(:\n")

    def agent_started() -> float | None:
        row = db.execute(
            "SELECT s.id, a.started_at FROM swarms s JOIN agents a ON a.swarm_id"
            " = s.id WHERE s.priority = 'CRITICAL' AND s.type = 'bugfix' AND"
            " s.trigger LIKE 'alert:BuildFailing:%' AND"  # by the alert, or J1 for it
            " a.started_at IS NOT NULL ORDER BY a.started_at DESC LIMIT 1"
        ).fetchone()
        return float(row[1]) if row and row[0] not in seen else None

    try:
        started = wait_for(agent_started, timeout, 0.02)
    except AssertionError:
        out.lost.append(_keep_lost(out.label, i, db, ports, tmp, keep, timeout))
        print(f"  trial {i + 1:3d}: LOST: {out.lost[-1]}", flush=True)
        started = None
    slow = ""
    if started is not None:
        failure = json.loads(ports.http("exporter", checks)[1])["build"]["last_failure"]
        exited = failure["started_at"] + failure["duration_seconds"]
        out.exit_to_agent.append(started - exited)
        out.save_to_agent.append(started - saved - failure["duration_seconds"])
        if failure["started_at"] < saved:
            slow = "; the failing build started before the save (its save->agent is no latency)"
        if started - exited > SLOW_SECONDS:
            slow += "; " + _why_slow(db, ports, saved)
    mended = time.time()
    calc.write_text(good)

    def passed(after: float = mended) -> dict[str, float] | None:
        run = json.loads(ports.http("exporter", checks)[1])["build"]["last_run"]
        return run if run["ok"] and run["started_at"] >= after else None

    run = wait_for(passed, timeout, 0.01)
    out.fix_to_pass.append(run["started_at"] - mended)  # published at start + duration
    if started is not None:
        print(
            f"  {out.label} trial {i + 1:3d}: exit->agent {out.exit_to_agent[-1]:5.2f} s, "
            f"save->agent {out.save_to_agent[-1]:5.2f} s + run, "
            f"fix->pass {out.fix_to_pass[-1]:5.2f} s + run{slow}",
            flush=True,
        )
    wait_for(lambda: (s := status(ports)) and s["mode"] != "CRISIS", timeout, 0.2)


def _why_slow(db: sqlite3.Connection, ports: Ports, since: float) -> str:
    """What a slow trial's responder decided since the break, and what Prometheus
    failed to send to Alertmanager so far (it re-sends after its resend delay)."""
    decided = [
        f"{at - since:.2f}s {kind} {detail[:120]}"
        for at, kind, detail in db.execute(
            "SELECT at, kind, detail FROM decisions WHERE at >= ? ORDER BY id", (since,)
        )
    ]
    text = ports.http("prometheus", "/metrics")[1]
    sent = [line for line in text.splitlines() if line.startswith(NOT_SENT)]
    return f"SLOW: decided {decided}; Prometheus {sent}"


def _keep_lost(
    label: str, i: int, db: sqlite3.Connection, ports: Ports, tmp: Path, keep: Path, timeout: float
) -> str:
    """Keep the lost trial's state (database, logs, rendered configs) and say what the
    responder decided since the break, so the cause can be found."""
    kept = keep / f"{label}-trial{i + 1}-{int(time.time())}"
    shutil.copytree(tmp / "state", kept, ignore=shutil.ignore_patterns("*.sock"))
    decided = [
        f"{kind} {detail[:160]}"
        for kind, detail in db.execute(
            "SELECT kind, detail FROM decisions WHERE at > ? ORDER BY id",
            (time.time() - timeout - 5,),
        )
    ]
    mode = (status(ports) or {}).get("mode")
    return (
        f"no CRITICAL bugfix agent within {timeout:.0f} s; mode {mode}; state kept in {kept};"
        f" decisions since the break: {decided or 'none'}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=20, help="with the shipped intervals (20)")
    ap.add_argument(
        "--default-trials",
        type=int,
        default=2,
        help="the anchor: with Prometheus' and Alertmanager's default intervals (2)",
    )
    ap.add_argument("--load", type=int, default=1, help="busy processes beside the stack (1)")
    ap.add_argument("--keep", default=str(REPO / "bench" / "out" / "crisis"))
    args = ap.parse_args(argv)
    keep = Path(args.keep)
    with cpu_load(args.load):
        runs = [run(False, args.trials, keep), run(True, args.default_trials, keep)]
    print(f"beside {args.load} busy process(es) on {os.cpu_count()} CPUs")
    for r in runs:
        for what, values in (
            ("build exit -> CRITICAL bugfix agent running", r.exit_to_agent),
            (
                "break saved -> CRITICAL bugfix agent running, minus the build's run",
                r.save_to_agent,
            ),
            ("fix saved -> passing build published, minus the build's run", r.fix_to_pass),
        ):
            if values:
                print(
                    f"{r.label}: {what}, n={len(values)}: p50={percentile(values, 50):.2f} s "
                    f"p95={percentile(values, 95):.2f} s max={max(values):.2f} s"
                )
        trials = len(r.exit_to_agent) + len(r.lost)
        if trials:
            print(f"{r.label}: lost crises {len(r.lost)} of {trials}")
    shipped, anchor = runs[0].exit_to_agent, runs[1].exit_to_agent
    if shipped and anchor:
        ratio = percentile(anchor, 50) / percentile(shipped, 50)
        print(f"build exit -> agent p50, defaults/shipped: {ratio:.1f}x")
    return 1 if any(r.lost for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
