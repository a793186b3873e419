"""The decision core's figures (issue 11): a scrape never waits, costs do not grow
with history, an idle responder is cheap.

- kill: `warden responder` runs a 10-agent swarm whose agents ignore SIGTERM,
  with `kill_grace` 10 s; BuildFailing arrives and R4 kills the swarm. /metrics
  and /api/v1/status are read every 10 ms from the kill's start until every
  agent is gone: their p50/p99/max, against the same with nothing being killed.
- history: scrape (1,000 after 50 to warm up, through a real responder) and spawn (50, the runtime's
  start_swarm to the agent started) p99 with an empty store and with 100,000
  ended swarms in it, and the ratio of the two.
- idle: the responder's CPU over 60 s with nothing to do, after a 10 s warm-up.

Run: .venv/bin/python -m bench.core [--history 100000] [--idle 60]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

import psutil

from bench.common import fake_agent_config, percentile, scrape_latencies
from responder.act.runtime import Runtime
from responder.model import Priority
from responder.state.store import Store
from tests.conftest import ResponderProcess, wait_for
from tests.service.test_responder import alert, body, post
from warden.config import load_config


def config(work: Path, grace: float = 10.0) -> Path:
    return fake_agent_config(
        work,
        """\
        prometheus_url: http://127.0.0.1:9
        alertmanager_url: http://127.0.0.1:9
        policies:
          CleanupAlert: {spawn: [{type: cleanup, priority: LOW}]}
        """,
        f"""\
        budget_usd: 0.01
        env: {{FAKE_CLAUDE: 'turns=1,delay=0,cost=0.001'}}
        types:
          cleanup: {{size: 10, kill_grace: {grace:g}s, stuck_after: 1h,
                    env: {{FAKE_CLAUDE: 'mode=hang,ignore_term=1'}}}}
          bugfix: {{stuck_after: 1h, env: {{FAKE_CLAUDE: 'mode=hang'}}}}
        """,
        """\
        exporter:
          listen: 127.0.0.1:9
        modes:
          ACTIVE: {max_swarms: 1000}
          NIGHT: {max_swarms: 1000, priorities: [CRITICAL, HIGH, MEDIUM, LOW]}
        budget:
          caps: {ACTIVE: 100000, NIGHT: 100000, CRISIS: 100000}
          ceilings: {day: 100000}
        """,
    )


def ms(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50) * 1000:.2f} ms, p99 {percentile(values, 99) * 1000:.2f} ms,"
        f" max {max(values) * 1000:.2f} ms (n={len(values)})"
    )


def reads(resp: ResponderProcess, path: str, stop: threading.Event, out: list[float]) -> None:
    creds = resp.auth
    while not stop.is_set():
        lat, _ = scrape_latencies(resp.port, 1, path=path, credentials=creds)
        out += lat
        time.sleep(0.01)


def agents_running(work: Path, swarm_type: str = "cleanup") -> int:
    with sqlite3.connect(work / "state" / "warden.db") as db:
        query = (
            "SELECT COUNT(*) FROM agents a JOIN swarms s ON a.swarm_id = s.id"
            " WHERE a.state = 'running' AND s.type = ?"
        )
        return int(db.execute(query, (swarm_type,)).fetchone()[0])


def bench_kill(work: Path, grace: float) -> None:
    resp = ResponderProcess(config(work, grace))
    try:
        baseline: list[float] = []
        stop = threading.Event()
        t = threading.Thread(target=reads, args=(resp, "/metrics", stop, baseline))
        t.start()
        time.sleep(3)
        stop.set()
        t.join()
        post(resp.url, body(alert("CleanupAlert", fp="c1")))
        wait_for(lambda: agents_running(work) == 10, 30)
        scrapes: list[float] = []
        statuses: list[float] = []
        stop = threading.Event()
        threads = [
            threading.Thread(target=reads, args=(resp, "/metrics", stop, scrapes)),
            threading.Thread(target=reads, args=(resp, "/api/v1/status", stop, statuses)),
        ]
        for t in threads:
            t.start()
        t0 = time.monotonic()
        post(resp.url, body(alert("BuildFailing", fp="b1", severity="critical")))
        wait_for(lambda: agents_running(work) == 0 and _killed(work) == 10, 40, 0.05)
        took = time.monotonic() - t0
        stop.set()
        for t in threads:
            t.join()
        print(f"kill: 10 SIGTERM-ignoring agents, kill_grace {grace:g} s, gone after {took:.1f} s")
        print(f"  /metrics while nothing is killed: {ms(baseline)}")
        print(f"  /metrics during the kill:         {ms(scrapes)}")
        print(f"  /api/v1/status during the kill:   {ms(statuses)}")
    finally:
        resp.stop()
        _kill_all(work)


def _killed(work: Path) -> int:
    with sqlite3.connect(work / "state" / "warden.db") as db:
        return int(
            db.execute("SELECT COUNT(*) FROM agents WHERE end_reason = 'build'").fetchone()[0]
        )


def _kill_all(work: Path) -> None:
    with sqlite3.connect(work / "state" / "warden.db") as db:
        pids = [
            r[0]
            for r in db.execute("SELECT pid FROM agents WHERE state IN ('running', 'spawning')")
        ]
    for pid in pids:
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            continue


def fill(work: Path, n: int) -> None:
    """`n` ended swarms, each with an agent and a ledger row, as a long history leaves them."""
    Store(work / "state" / "warden.db").close()  # the schema, migrated
    now = time.time()
    with sqlite3.connect(work / "state" / "warden.db") as db:
        db.executemany(
            "INSERT INTO swarms (id, type, priority, size, trigger, context, context_file,"
            " budget_usd, period, state, reason, created_at, ended_at, owner) VALUES"
            " (?, ?, 'HIGH', 1, ?, ?, '', 0.01, 'day:old', ?, '', ?, ?, '')",
            (
                (
                    f"h{i}",
                    ("bugfix", "coverage", "tests", "review")[i % 4],
                    f"job:old:{i}",
                    "context of an old swarm " * 20,
                    ("succeeded", "failed", "killed")[i % 3],
                    now - 86400 * 30 + i,
                    now - 86400 * 30 + i + 600,
                )
                for i in range(n)
            ),
        )
        db.executemany(
            "INSERT INTO agents (id, swarm_id, slot, attempt, state, log_path, owner,"
            " death_reason, end_reason) VALUES (?, ?, 0, 0, ?, '', '', ?, ?)",
            (
                (
                    f"h{i}-0-0",
                    f"h{i}",
                    ("succeeded", "failed", "killed")[i % 3],
                    "crashed" if i % 3 == 1 else None,
                    "timeout" if i % 3 == 2 else None,
                )
                for i in range(n)
            ),
        )
        db.executemany(
            "INSERT INTO ledger (agent_id, swarm_id, type, period, amount_usd, estimated, at)"
            " VALUES (?, ?, ?, 'day:old', 0.01, 0, ?)",
            ((f"h{i}-0-0", f"h{i}", "bugfix", now - 86400 * 30 + i) for i in range(n)),
        )


def spawn_latencies(rt: Runtime, n: int) -> list[float]:
    """start_swarm's time (rows written, agent started), each swarm run to its end."""
    spawns = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            swarm = rt.start_swarm("tests", Priority.HIGH, "bench", "")
            spawns.append(time.perf_counter() - t0)
            while (row := rt.store.swarm(swarm.id)) is not None and row.state == "running":
                rt.poll()
                time.sleep(0.01)
    finally:
        rt.close()
    return spawns


def bench_history(base: Path, n: int, scrapes_n: int = 1000) -> None:
    figures = {}
    for label, size in (("empty", 0), (f"{n:,} ended", n)):
        work = base / label.replace(" ", "_").replace(",", "")
        work.mkdir()
        cfg = config(work)
        if size:
            fill(work, size)
        resp = ResponderProcess(cfg)
        try:
            creds = resp.auth
            scrape_latencies(resp.port, 50, credentials=creds)  # warm-up: builds the view
            scrapes, _ = scrape_latencies(resp.port, scrapes_n, pace=0.01, credentials=creds)
        finally:
            resp.stop()
        spawns = spawn_latencies(Runtime(load_config(cfg)), 50)
        figures[label] = (percentile(scrapes, 99), percentile(spawns, 99))
        print(f"history {label}: scrape {ms(scrapes)}; spawn {ms(spawns)}")
    (s0, p0), (s1, p1) = figures.values()
    print(f"history: with {n:,} ended swarms, scrape p99 x{s1 / s0:.2f}, spawn p99 x{p1 / p0:.2f}")


def bench_idle(work: Path, seconds: float, warmup: float) -> None:
    resp = ResponderProcess(config(work))
    try:
        proc = psutil.Process(resp.proc.pid)
        time.sleep(warmup)
        c0, t0 = proc.cpu_times(), time.monotonic()
        time.sleep(seconds)
        c1, t1 = proc.cpu_times(), time.monotonic()
        used = (c1.user - c0.user) + (c1.system - c0.system)
        print(f"idle: the responder used {used / (t1 - t0):.2%} of one core over {t1 - t0:.0f} s")
    finally:
        resp.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--history", type=int, default=100_000)
    ap.add_argument("--scrapes", type=int, default=1000, help="per history size (1000)")
    ap.add_argument("--idle", type=float, default=60.0, help="seconds of the idle window")
    ap.add_argument("--warmup", type=float, default=10.0, help="seconds before it (10)")
    ap.add_argument("--grace", type=float, default=10.0, help="the killed type's kill_grace")
    ap.add_argument("--only", choices=["kill", "history", "idle"], help="one part only")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="warden-bench-core-") as tmp:
        base = Path(tmp)
        for name in ("kill", "idle"):
            (base / name).mkdir()
        if args.only in (None, "kill"):
            bench_kill(base / "kill", args.grace)
        if args.only in (None, "history"):
            bench_history(base, args.history, args.scrapes)
        if args.only in (None, "idle"):
            bench_idle(base / "idle", args.idle, args.warmup)


if __name__ == "__main__":
    main()
