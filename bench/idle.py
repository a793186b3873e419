"""Idle cost of the whole stack (`warden up`) on the demo project.

The shipped warden.yml with free ports (probes off, as shipped: the demo has
no OpenClaw gateway; `--probes` turns them on, aimed at the exporter's own
health and a Python command standing for `openclaw health`), nothing
breaking: after a warm-up
(first builds, tests, scrapes and rule evaluations), each component's CPU
time over a window, as a share of one core, and its resident memory at the
end. The exporter's figure includes the commands it runs and waits for (git,
the build and tests when something changes); the responder's does not
include its agents, which are the work, not the overhead. The responder's
receiver (the process in front of it that answers the webhooks and forwards
the scrapes and health checks) is a part of its own.

Each run is a fresh stack; the table is the median of the runs (each part's
median, and the median of the totals).

Run: .venv/bin/python -m bench.idle [--runs 3] [--seconds 60] [--warmup 30]
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import psutil

from tests.conftest import enterable, make_demo_repo, receiver_of, wait_for
from tests.stack.test_up import stack_config, status

COMPONENTS = ("exporter", "responder", "prometheus", "alertmanager")


def component_of(proc: psutil.Process) -> str | None:
    cmd = proc.cmdline()
    if len(cmd) > 3 and cmd[1:3] == ["-m", "warden.shell.cli"] and cmd[3] in COMPONENTS:
        return cmd[3]
    name = Path(cmd[0]).name if cmd else ""
    if name == "prometheus":
        return "prometheus"
    if name in ("prometheus-alertmanager", "alertmanager"):
        return "alertmanager"
    return None


def cpu_seconds(proc: psutil.Process, with_children: bool) -> float:
    t = proc.cpu_times()
    own = t.user + t.system
    return own + (t.children_user + t.children_system if with_children else 0.0)


@dataclass(frozen=True)
class Run:
    shares: dict[str, float]
    """Each part's CPU over the window, as a share of one core."""
    rss: dict[str, float]
    exporter_itself: float
    """The exporter's own share, without the commands it ran."""


def one_run(seconds: float, warmup: float, probes: bool) -> Run:
    """A fresh stack on a fresh demo, measured over `seconds` after `warmup`."""
    with tempfile.TemporaryDirectory(prefix="warden-bench-idle-") as t:
        tmp = enterable(Path(t))  # the agents' user (nobody, as root) works in here
        cfg, ports = stack_config(tmp, make_demo_repo(tmp / "demo"), probes=probes)
        up = subprocess.Popen(
            [sys.executable, "-m", "warden.shell.cli", "up", "-c", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(lambda: status(ports), 60)
            time.sleep(warmup)
            root = psutil.Process(up.pid)
            procs = {"warden up": root}
            for child in root.children():
                name = component_of(child)
                if name:
                    procs[name] = child
            procs["receiver"] = receiver_of(procs["responder"].pid)  # a process apart
            assert set(procs) == {"warden up", "receiver", *COMPONENTS}, sorted(procs)

            def sample() -> dict[str, float]:
                return {n: cpu_seconds(p, n == "exporter") for n, p in procs.items()}

            exporter = procs["exporter"]
            before, t0 = sample(), time.monotonic()
            own_before = cpu_seconds(exporter, False)
            time.sleep(seconds)
            after, elapsed = sample(), time.monotonic() - t0
            own = cpu_seconds(exporter, False) - own_before
            rss = {n: p.memory_info().rss / 2**20 for n, p in procs.items()}
        finally:
            up.send_signal(signal.SIGTERM)
            up.wait(timeout=60)
    shares = {n: (after[n] - before[n]) / elapsed for n in procs}
    return Run(shares, rss, own / elapsed)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--warmup", type=float, default=30.0)
    ap.add_argument("--runs", type=int, default=3, help="fresh stacks; the median is shown")
    ap.add_argument("--probes", action="store_true", help="probes on (every 15 s)")
    args = ap.parse_args()
    runs = []
    for i in range(args.runs):
        run = one_run(args.seconds, args.warmup, args.probes)
        total = sum(run.shares.values())
        parts = ", ".join(f"{n} {v:.2%}" for n, v in run.shares.items())
        print(f"run {i + 1}: total {total:.2%} ({parts})", flush=True)
        runs.append(run)
    probes = "probes on" if args.probes else "probes off, as shipped"
    print(
        f"idle stack, median of {len(runs)} run(s) of {args.seconds:.0f} s after a "
        f"{args.warmup:.0f} s warm-up ({probes}):"
    )
    print(f"  {'component':<13} {'CPU (share of one core)':>24} {'RSS MiB':>8}")
    for name in runs[0].shares:
        share = median(r.shares[name] for r in runs)
        print(f"  {name:<13} {share:>23.2%} {median(r.rss[name] for r in runs):>8.1f}")
    own = median(r.exporter_itself for r in runs)
    commands = max(0.0, median(r.shares["exporter"] for r in runs) - own)
    print(f"    (exporter itself {own:.2%}, the commands it ran {commands:.2%})")
    total = median(sum(r.shares.values()) for r in runs)
    rss = median(sum(r.rss.values()) for r in runs)
    print(f"  {'total':<13} {total:>23.2%} {rss:>8.1f}")


if __name__ == "__main__":
    main()
