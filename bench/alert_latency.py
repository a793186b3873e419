"""Alert latency: from the exporter's metric turning bad to the webhook arriving.

Real exporter, Prometheus and Alertmanager on loopback with the shipped
configs (ports rewritten, see tests/alerting.py). Each trial breaks a build
command; the clock starts when the failing build exits (the exporter
publishes the result right then) and stops when BuildFailing reaches the
webhook receiver. The build is mended between trials (the resolved
notification must arrive) and each trial is a new firing episode of the same
alert, whose Alertmanager group is still alive: the common case of a build
that breaks again.

Run: .venv/bin/python -m bench.alert_latency [--trials 20] [--default-trials 5]
`--default-trials` repeats the measure with Prometheus' and Alertmanager's
default intervals (1m scrape and evaluation, 30s group wait), which is slow:
each of those trials takes minutes.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from bench.common import percentile
from tests.alerting import Receiver, Stack, build_project
from tests.conftest import ExporterProcess, wait_for
from warden.config import load_config

BUILD = """\
import pathlib, sys, time
if pathlib.Path("state").read_text().strip() == "fail":
    with open("fail-exits.log", "a") as fh:
        fh.write(f"{time.time()}\\n")
    sys.exit(1)
"""


def trials(defaults: bool, n: int) -> list[float]:
    work = Path(tempfile.mkdtemp(prefix="warden-bench-alerts-"))
    (work / "state").write_text("ok")
    cfg = build_project(work, BUILD)
    receiver = Receiver()
    receiver.start()
    exporter = ExporterProcess(cfg)
    secrets = load_config(cfg, check_programs=False).secrets_dir
    stack = Stack(work / "stack", exporter.port, receiver.port, defaults, secrets)
    stack.start()
    latencies: list[float] = []
    timeout = 600 if defaults else 60
    # Start measuring once Prometheus scrapes the exporter: its first scrape
    # after a start comes a few seconds late.
    wait_for(lambda: stack.query('up{job="warden-exporter"} == 1'), timeout, 0.2)
    try:
        for i in range(n):
            # A random pause, so trials fall at random phases of the scrape
            # and evaluation cycles instead of locking onto one.
            time.sleep(random.uniform(0, 4))  # noqa: S311
            seen = len(receiver.alerts("BuildFailing"))
            exits = work / "fail-exits.log"
            exits.write_text("")
            (work / "state").write_text("fail")
            hit = wait_for(lambda n=seen: receiver.alerts("BuildFailing")[n:], timeout, 0.01)
            first_exit = float(exits.read_text().split()[0])
            latencies.append(hit[0][0].received - first_exit)
            print(f"  trial {i + 1:2d}: {latencies[-1]:6.2f} s", flush=True)
            done = len(receiver.alerts("BuildFailing", "resolved")) + 1
            (work / "state").write_text("ok")
            wait_for(lambda n=done: len(receiver.alerts("BuildFailing", "resolved")) >= n, timeout)
    finally:
        stack.stop()
        exporter.stop()
        receiver.stop()
    return latencies


def summary(name: str, lat: list[float]) -> None:
    print(
        f"{name}: n={len(lat)} p50={percentile(lat, 50):.2f} s "
        f"p95={percentile(lat, 95):.2f} s max={max(lat):.2f} s"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--default-trials", type=int, default=5)
    args = ap.parse_args()
    print("shipped configs (exporter scraped every 2s, critical rules every 2s, group_wait 0s):")
    shipped = trials(False, args.trials)
    defaults: list[float] = []
    if args.default_trials:
        print("Prometheus' and Alertmanager's defaults (1m scrape and evaluation, 30s group_wait):")
        defaults = trials(True, args.default_trials)
    summary("shipped ", shipped)
    if defaults:
        summary("defaults", defaults)
        ratio = percentile(defaults, 50) / percentile(shipped, 50)
        print(f"defaults/shipped p50: {ratio:.1f}x")


if __name__ == "__main__":
    main()
