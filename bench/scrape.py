"""Scrape latency of /metrics with 1,000 agent processes and 20 followed logs,
side by side with node_exporter on the same host in the same run.

Run: .venv/bin/python -m bench.scrape [--agents 1000] [--scrapes 2000]
node_exporter comes from Debian's `prometheus-node-exporter` package.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from bench.common import dies_with_me, percentile, scrape_latencies, series_count
from tests.conftest import free_port, http_get, sample, stack_auth

RUN = f"0.{os.getpid():09d}"
"""In the look-alikes' command line and the exporter's pattern: what another run left
(or runs beside this one) is not counted as this run's agents. A number, because
`sleep` reads it (it adds a few ms to the hour): this process's id after `0.`."""


def start_agents(n: int) -> list[subprocess.Popen[bytes]]:
    """`sleep` processes whose command line reads `claude 3600 RUN`: cheap look-alikes,
    killed with the bench however it ends."""
    sleep = shutil.which("sleep")
    assert sleep
    return [
        subprocess.Popen(
            ["claude", "3600", RUN],
            executable=sleep,
            start_new_session=True,
            preexec_fn=dies_with_me(),
        )
        for _ in range(n)
    ]


def write_logs(paths: list[Path], stop: threading.Event) -> None:
    """About 50 lines/s into each log, one in ten an error, while the bench runs."""
    i = 0
    while not stop.is_set():
        for p in paths:
            with p.open("a") as fh:
                level = "ERROR" if i % 10 == 0 else "INFO"
                fh.write(f"2026-11-26T00:00:00Z {level} worker {i}: something happened\n")
        i += 1
        time.sleep(0.02)


def wait_ready(url: str, check: str, expect: float, config: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status, body = http_get(url, auth=stack_auth(config))
        except OSError:
            time.sleep(0.2)
            continue
        if (
            status == 200
            and sample(body, check, {"agent": "claude", "state": "sleeping"}) == expect
        ):
            return
        time.sleep(0.2)
    raise SystemExit(f"exporter never reported {expect} agents")


def report(name: str, latencies: list[float], body: bytes) -> tuple[float, int]:
    series = series_count(body)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    print(
        f"{name:14s} scrapes={len(latencies):5d} series={series:5d} bytes={len(body):7d} "
        f"p50={p50 * 1000:6.2f} ms p99={p99 * 1000:6.2f} ms "
        f"p50/series={p50 / series * 1e6:6.2f} us"
    )
    return p50, series


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--logs", type=int, default=20)
    ap.add_argument("--scrapes", type=int, default=2000)
    ap.add_argument("--pace", type=float, default=0.01, help="seconds between scrape starts")
    ap.add_argument("--quiet", type=float, default=20.0, help="seconds without scrapes (20)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="warden-bench-"))
    logs = [work / f"app{i}.log" for i in range(args.logs)]
    for p in logs:
        p.touch()
    sources = "\n".join(f"      - {{name: app{i}, path: {p}}}" for i, p in enumerate(logs))
    config = work / "warden.yml"
    config.write_text(
        f"project: {{dir: {work}}}\nstate_dir: {work / 'state'}\n"
        "collectors:\n"
        "  host: {interval: 1s}\n"
        "  agents:\n    interval: 2s\n"
        f"    patterns: [{{name: claude, match: '(^|[/ ])claude 3600 {RUN}( |$)'}}]\n"
        f"  logs:\n    sources:\n{sources}\n"
    )
    # The exporter asks for its scrape password, as `warden up` makes it.
    cli = [sys.executable, "-m", "warden.shell.cli"]
    subprocess.run([*cli, "secrets", "-c", str(config)], check=True, capture_output=True)
    agents = start_agents(args.agents)
    port, node_port = free_port(), free_port()
    exporter = subprocess.Popen(
        [
            *cli,
            "--log-level",
            "WARNING",
            "exporter",
            "-c",
            str(config),
            "--listen",
            f"127.0.0.1:{port}",
        ],
        preexec_fn=dies_with_me(),  # before the writer's thread: no other thread forks
    )
    stop = threading.Event()
    writer = threading.Thread(target=write_logs, args=(logs, stop), daemon=True)
    writer.start()
    node = None
    node_bin = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    try:
        wait_ready(f"http://127.0.0.1:{port}/metrics", "warden_agents", args.agents, config)
        print(
            f"host: {os.cpu_count()} CPUs; {args.agents} agent processes; "
            f"{args.logs} logs written at ~50 lines/s each; agents rescanned every 2 s; "
            f"a scrape every {args.pace * 1000:.0f} ms"
        )
        me = psutil.Process(exporter.pid)
        cpu0, t0 = me.cpu_times(), time.monotonic()
        time.sleep(args.quiet)
        cpu1, wall = me.cpu_times(), time.monotonic() - t0
        used = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
        print(
            f"exporter CPU with no scrape, over {wall:.0f} s: {used / wall:.2%} of a core "
            f"({args.agents} agents rescanned every 2 s, the logs followed, the host read)"
        )
        lat, body = scrape_latencies(port, args.scrapes, args.pace, credentials=stack_auth(config))
        w_p50, w_series = report("warden", lat, body)
        scan = sample(body.decode(), "warden_collector_duration_seconds", {"collector": "agents"})
        print(
            f"warden agents collector: one scan of the process table took "
            f"{(scan or 0) * 1000:.0f} ms (in the background, every 2 s)"
        )
        if node_bin is None:
            print("node_exporter: not installed (apt-get install prometheus-node-exporter)")
            return
        node = subprocess.Popen(
            [node_bin, f"--web.listen-address=127.0.0.1:{node_port}"], stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                scrape_latencies(node_port, 3)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        lat, body = scrape_latencies(node_port, args.scrapes, args.pace)
        n_p50, n_series = report("node_exporter", lat, body)
        ratio = (w_p50 / w_series) / (n_p50 / n_series)
        print(f"warden/node_exporter p50 latency per exported series: {ratio:.2f}")
    finally:
        stop.set()
        for proc in (exporter, node):
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                proc.wait()
        for a in agents:
            a.kill()
        for a in agents:
            a.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
