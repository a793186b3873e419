"""Idle cost of the whole stack (`warden up`) on the demo project.

The shipped warden.yml with free ports (probes off, as shipped: the demo has
no OpenClaw gateway; `--probes` turns them on, aimed at the exporter's own
health and a Python command standing for `openclaw health`), nothing
breaking: after a warm-up
(first builds, tests, scrapes and rule evaluations), each component's CPU
time over a window, as a share of one core, and its resident memory at the
end. The exporter's figure includes the commands it runs and waits for (git,
the build and tests when something changes); the responder's does not
include its agents, which are the work, not the overhead.

Run: .venv/bin/python -m bench.idle [--seconds 60] [--warmup 30]
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from tests.conftest import enterable, make_demo_repo, wait_for
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--warmup", type=float, default=30.0)
    ap.add_argument("--probes", action="store_true", help="probes on (every 15 s)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="warden-bench-idle-") as t:
        tmp = enterable(Path(t))  # the agents' user (nobody, as root) works in here
        cfg, ports = stack_config(tmp, make_demo_repo(tmp / "demo"), probes=args.probes)
        up = subprocess.Popen(
            [sys.executable, "-m", "warden.shell.cli", "up", "-c", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(lambda: status(ports), 60)
            time.sleep(args.warmup)
            root = psutil.Process(up.pid)
            procs = {"warden up": root}
            for child in root.children():
                name = component_of(child)
                if name:
                    procs[name] = child
            assert set(procs) == {"warden up", *COMPONENTS}, sorted(procs)

            def sample() -> dict[str, float]:
                return {n: cpu_seconds(p, n == "exporter") for n, p in procs.items()}

            exporter = procs["exporter"]
            before, t0 = sample(), time.monotonic()
            own_before = cpu_seconds(exporter, False)
            time.sleep(args.seconds)
            after, elapsed = sample(), time.monotonic() - t0
            own = cpu_seconds(exporter, False) - own_before
            rss = {n: p.memory_info().rss for n, p in procs.items()}
        finally:
            up.send_signal(signal.SIGTERM)
            up.wait(timeout=60)
    probes = "probes on" if args.probes else "probes off, as shipped"
    print(f"idle stack over {elapsed:.0f} s after a {args.warmup:.0f} s warm-up ({probes}):")
    print(f"  {'component':<13} {'CPU (share of one core)':>24} {'RSS MiB':>8}")
    for name in procs:
        share = (after[name] - before[name]) / elapsed
        print(f"  {name:<13} {share:>23.2%} {rss[name] / 2**20:>8.1f}")
    commands = max(0.0, after["exporter"] - before["exporter"] - own)  # clock ticks
    print(
        f"    (exporter itself {own / elapsed:.2%}, the commands it ran {commands / elapsed:.2%})"
    )
    total = sum(after.values()) - sum(before.values())
    print(f"  {'total':<13} {total / elapsed:>23.2%} {sum(rss.values()) / 2**20:>8.1f}")


if __name__ == "__main__":
    main()
