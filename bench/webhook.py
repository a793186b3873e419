"""The responder's webhook under a storm, and how fast a decision becomes a running agent.

The responder runs as its own process (`warden responder`), with its real
store (SQLite, or with `--database postgresql` a real PostgreSQL server this
bench starts, durable as in production) and real agent processes, started as
the agents' user (in cgroups of their own where the host has them); this
process is the load. The storm's agents are bench/storm_agent.sh, a shell that
prints the CLI's stream for a one-turn run (2 ms of CPU): with the fake Claude
(a Python start-up, 50 ms each) the storm's 200 agents took more of the two
cores than the responder did, and the bench measured them. The decision trials
run the fake Claude (examples/fake_claude.py), which checks its flags.

- anchor: the same storm to `bench/minimal_receiver.py` (token checked, JSON
  parsed, each body committed to SQLite in WAL mode before the 200, nothing
  else): its alerts accepted a second, POST p99 and CPU per body.
- storm: 2,000 webhook bodies of 5 alerts each (10,000 alerts) over one
  kept-alive connection, drawn from 200 firing episodes, so most alerts are
  repeats. Prints the POST latency p50/p99 and alerts accepted per second,
  then checks that exactly one swarm was started per episode. The accept
  path's CPU per body is its receiver's (the process that answers the
  webhooks, responder/service/receiver.py) and the responder's own process's
  less its worker's (`warden_responder_worker_cpu_seconds_total`: what is left
  is the receiver's notes relayed to the worker, and the jobs), over the storm
  and its handling; its ratio to the anchor's is printed. So is what else the machine
  did meanwhile: how busy its cores were, and the CPU of the swarms' agents
  (their launch included: the switch to their user, the cgroup's first step),
  which share the two cores with the responder and the sender.
- re-sends: the same bodies again once the storm is handled, every alert a
  duplicate (what most of a real storm is: Alertmanager repeats each firing
  alert of a group): alerts accepted and handled a second, the worker's and
  the receiver's CPU.
- decision: 20 new episodes, one at a time: from the webhook being sent to
  the swarm's agent process started (its `started_at` in the store).

- backlog: the storm again with new episodes, stored while every worker's
  process is stopped (SIGSTOP), then worked off by all at once: the fleet's
  work alone, without the receipt every responder repeats; with the workers'
  CPU, the database server's and how busy the cores were.

With `--responders N` (PostgreSQL), N responders share the database and
each receives every body, as Alertmanager sends every alert to every
responder of a fleet: one connection and sending thread per responder, each
body sent to all at once (a barrier per body), so that the fleet stores it
once and one worker works it. "Handled" is then the storm's alerts over the
time until the inbox is worked off, and each episode must still start
exactly one swarm. On one machine the N receivers share its cores, which
separate hosts would not: the backlog shows what grows with responders.
With `--cores-each C` each responder (its processes and its agents) is held to
C cores by a CPU quota of its own (bench/cpu_quota.py), as on a host of its
own with C cores; the database server and the sender are not held, and the
cores' busy share shows whether the quotas and they still fit the machine.

Run: .venv/bin/python -m bench.webhook [--bodies 2000] [--episodes 200]
     [--database sqlite|postgresql] [--responders 1] [--cores-each C]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import Connection, text

from bench.common import fake_agent_config, percentile
from bench.cpu_quota import CpuQuota, NoQuota, checked
from responder.state.store import Store
from tests.alerting import TOKEN
from tests.conftest import (
    ResponderProcess,
    for_agents,
    free_port,
    receiver_of,
    sample,
    wait_for,
)
from tests.pgserver import PostgresServer

STORM_AGENT = for_agents(Path(__file__).resolve().with_name("storm_agent.sh"))
"""Where the agents' user can read it (the clone may be in a folder only root enters)."""


def config(work: Path, database: str = "", rid: str = "r0") -> Path:
    return fake_agent_config(
        work,
        database
        + textwrap.indent(f"id: {rid}\ninstance: {rid}:1\n", " " * 8)
        + """\
        poll_interval: 20ms
        policies:
          StormAlert: {spawn: [{type: tests, priority: LOW}], max_running: 100000}
          DecisionAlert: {spawn: [{type: bugfix, priority: CRITICAL}], max_running: 100000}
        """,
        f"""\
        budget_usd: 0.0001
        env: {{FAKE_CLAUDE: 'turns=1,delay=0,cost=0.0001'}}
        types:
          tests: {{command: [/bin/sh, {STORM_AGENT}, -p, "{{prompt}}"]}}
        """,
        """\
        modes:
          ACTIVE: {max_swarms: 100000}
          NIGHT: {max_swarms: 100000, priorities: [CRITICAL, HIGH, MEDIUM, LOW]}
        """,
    )


def body(name: str, fingerprints: list[str]) -> bytes:
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": name, "n": fp},
            "annotations": {"summary": "s"},
            "startsAt": "2026-11-26T20:00:00Z",
            "fingerprint": fp,
        }
        for fp in fingerprints
    ]
    return json.dumps({"version": "4", "status": "firing", "alerts": alerts}).encode()


def post(conn: http.client.HTTPConnection, data: bytes) -> None:
    """POST on the kept-alive connection; once more on a new one if the responder
    closed it while idle (its keep-alive ends with header_timeout), as Alertmanager's
    HTTP client does."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    try:
        conn.request("POST", "/api/v1/alerts", body=data, headers=headers)
        resp = conn.getresponse()
    except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
        conn.close()
        conn.request("POST", "/api/v1/alerts", body=data, headers=headers)
        resp = conn.getresponse()
    resp.read()
    assert resp.status == 200, resp.status


def one(db: Connection, sql: str, **params: Any) -> Any:
    """The first column of the first row (None if none): plain SQL both engines read."""
    row = db.execute(text(sql), params).first()
    db.rollback()  # no snapshot kept between looks
    return None if row is None else row[0]


def storm(conns: list[http.client.HTTPConnection], bodies: list[bytes]) -> list[float]:
    """Every body to every responder, one thread per responder, each body to all at
    once (as Alertmanager sends a notification to each webhook of its receiver); the
    POST latencies."""
    latencies: list[float] = []
    together = threading.Barrier(len(conns))

    def send(conn: http.client.HTTPConnection) -> None:
        for data in bodies:
            together.wait()
            s = time.perf_counter()
            post(conn, data)
            latencies.append(time.perf_counter() - s)

    threads = [threading.Thread(target=send, args=(c,)) for c in conns]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return latencies


def cpu(pid: int) -> float:
    return _seconds(psutil.Process(pid))


def _seconds(process: psutil.Process) -> float:
    t = process.cpu_times()
    return t.user + t.system


def anchor(work: Path, bodies: list[bytes]) -> float:
    """The storm to the minimal receiver: prints its figures, returns its CPU a body."""
    port, token = free_port(), str(work / "r0" / "token")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.minimal_receiver", str(port), str(work / "anchor.db"), token]
    )
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        wait_for(lambda: _answers(port), 30, 0.05)
        before = cpu(proc.pid)
        t0 = time.perf_counter()
        latencies = storm([conn], bodies)
        wall = time.perf_counter() - t0
        per_body = (cpu(proc.pid) - before) / len(bodies)
    finally:
        proc.terminate()
        proc.wait()
    alerts = sum(len(json.loads(b)["alerts"]) for b in bodies)
    print(
        f"anchor (bench/minimal_receiver.py): POST p99={percentile(latencies, 99) * 1000:.1f} ms, "
        f"{alerts / wall:,.0f} alerts/s accepted, CPU {per_body * 1000:.2f} ms a body"
    )
    return per_body


def _answers(port: int) -> bool:
    try:
        http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/")
    except OSError:
        return False
    return True


def agents_cpu(pid: int) -> float:
    """The CPU of the responder's children it has reaped: the agents that ended."""
    t = psutil.Process(pid).cpu_times()
    return t.children_user + t.children_system


def busy_share(before: Any, after: Any) -> float:
    """The machine's busy share between two `psutil.cpu_times()` (all cores)."""
    idle = (after.idle + after.iowait) - (before.idle + before.iowait)
    total = sum(after) - sum(before)
    return 1.0 - idle / total if total > 0 else 0.0


def worker_cpu(r: ResponderProcess) -> float:
    return sample(r.metrics(), "warden_responder_worker_cpu_seconds_total") or 0.0


def steps(r: ResponderProcess) -> float:
    return sample(r.metrics(), "warden_responder_steps_total") or 0.0


def worked_off(db: Connection) -> None:
    """Until every responder's inbox is worked off (each body marked done)."""
    wait_for(lambda: one(db, "SELECT COUNT(*) FROM inbox WHERE done = 0") == 0, 600, 0.02)


def resend(
    fleet: list[ResponderProcess],
    conns: list[http.client.HTTPConnection],
    bodies: list[bytes],
    db: Connection,
) -> tuple[float, float, float, float]:
    """The storm's bodies once more, after it was handled: (seconds to accept them,
    seconds until every inbox is worked off, the workers' CPU meanwhile, the
    receivers')."""
    worker0 = sum(worker_cpu(r) for r in fleet)
    front0 = sum(cpu(receiver_of(r.proc.pid).pid) for r in fleet)
    t0 = time.perf_counter()
    storm(conns, bodies)
    accepted = time.perf_counter() - t0
    worked_off(db)
    handled = time.perf_counter() - t0
    front = sum(cpu(receiver_of(r.proc.pid).pid) for r in fleet) - front0
    return accepted, handled, sum(worker_cpu(r) for r in fleet) - worker0, front


def tree_cpu(pid: int) -> float:
    """CPU of a process and its children alive now (the database server's backends)."""
    root = psutil.Process(pid)
    total = 0.0
    for p in (root, *root.children(recursive=True)):
        try:
            total += _seconds(p)
        except psutil.NoSuchProcess:
            continue  # a backend that ended since it was listed
    return total


def backlog(
    fleet: list[ResponderProcess],
    conns: list[http.client.HTTPConnection],
    bodies: list[bytes],
    db: Connection,
    server: PostgresServer | None,
) -> None:
    """The storm again with new episodes, stored by the receivers while every worker's
    process is stopped (SIGSTOP), then worked off by all at once: the fleet's work
    alone, without the receipt that every responder repeats (on separate hosts it
    runs on each host's own cores; here it shares the two)."""
    first = one(db, "SELECT COALESCE(MAX(id), 0) FROM inbox")
    for r in fleet:
        r.proc.send_signal(signal.SIGSTOP)
    try:
        storm(conns, bodies)
    finally:
        for r in fleet:
            r.proc.send_signal(signal.SIGCONT)
    server_pid = server.proc.pid if server is not None and server.proc is not None else None
    server0 = 0.0 if server_pid is None else tree_cpu(server_pid)
    t0, worker0 = time.perf_counter(), sum(worker_cpu(r) for r in fleet)
    machine0 = psutil.cpu_times()
    worked_off(db)
    took = time.perf_counter() - t0
    busy = busy_share(machine0, psutil.cpu_times())
    worked = sum(worker_cpu(r) for r in fleet) - worker0
    served = (
        ""
        if server_pid is None
        else f", the server {(tree_cpu(server_pid) - server0) / len(bodies) * 1000:.2f} ms"
    )
    rows = db.execute(
        text("SELECT claimed_by, COUNT(*) FROM inbox WHERE id > :first GROUP BY claimed_by"),
        {"first": first},
    )
    split = ", ".join(f"{who or 'its own'} {n}" for who, n in sorted(rows))
    db.rollback()
    sent = [a["fingerprint"] for b in bodies for a in json.loads(b)["alerts"]]
    alerts = len(sent)
    print(
        f"backlog: the storm with {len(set(sent))} new episodes stored while the workers"
        f" were stopped, worked off in {took:.1f} s ({alerts / took:,.0f} alerts/s handled); bodies"
        f" worked by: {split}; the workers {worked / len(bodies) * 1000:.2f} ms a body in"
        f" all{served}; the machine's cores {busy:.0%} busy"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bodies", type=int, default=2000)
    ap.add_argument("--episodes", type=int, default=200)
    ap.add_argument("--decisions", type=int, default=20)
    ap.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--responders", type=int, default=1)
    ap.add_argument(
        "--cores-each",
        type=float,
        metavar="CORES",
        help="hold each responder (its processes and agents) to this many cores, as a host"
        " of its own would (bench/cpu_quota.py); the database server and the sender unheld",
    )
    args = ap.parse_args()
    if args.responders > 1 and args.database != "postgresql":
        ap.error("--responders above 1 needs --database postgresql")
    if args.cores_each is not None:
        try:
            checked(args.cores_each)
        except ValueError as exc:
            ap.error(f"--cores-each: {exc}")
    rng = random.Random(7)  # noqa: S311  (a repeatable load, not a secret)
    server = PostgresServer.start(durable=True) if args.database == "postgresql" else None
    with tempfile.TemporaryDirectory(prefix="warden-bench-webhook-") as tmp:
        work = Path(tmp)
        keys = ""
        if server is not None:
            url = server.database()
            keys = textwrap.indent(
                f"database: {url}\ndatabase_password_file: {server.password_file}\n", " " * 8
            )
            store = Store(url, password=server.password)
        else:
            store = Store(work / "r0" / "state" / "warden.db")
        fleet, quotas = [], []
        db = store.engine.connect()
        try:
            for i in range(args.responders):
                (work / f"r{i}").mkdir(exist_ok=True)
                fleet.append(ResponderProcess(config(work / f"r{i}", keys, f"r{i}")))
                if args.cores_each is not None:
                    quotas.append(CpuQuota(f"r{i}", args.cores_each))
                    quotas[-1].hold(fleet[-1].proc.pid)
            held = (
                ""
                if args.cores_each is None
                else f", each held to {args.cores_each:g} cores (a host of its own)"
            )
            print(f"store: {args.database}, responders: {args.responders}{held}")
            conns = [http.client.HTTPConnection("127.0.0.1", r.port, timeout=30) for r in fleet]
            pool = [f"{i:x}" for i in range(args.episodes)]
            picks = [rng.sample(pool, 5) for _ in range(args.bodies)]
            sent = {fp for fps in picks for fp in fps}
            bodies = [body("StormAlert", fps) for fps in picks]
            anchor_cpu = anchor(work, bodies)
            receivers = [receiver_of(r.proc.pid).pid for r in fleet]
            cpu0 = [
                (cpu(r.proc.pid), worker_cpu(r), cpu(f))
                for r, f in zip(fleet, receivers, strict=True)
            ]
            steps0 = [steps(r) for r in fleet]
            agents0, machine0 = sum(agents_cpu(r.proc.pid) for r in fleet), psutil.cpu_times()
            t0 = time.perf_counter()
            latencies = storm(conns, bodies)
            wall = time.perf_counter() - t0
            alerts = args.bodies * 5
            print(
                f"storm: {alerts} alerts in {args.bodies} bodies to each responder, "
                f"{len(sent)} episodes: POST p50={percentile(latencies, 50) * 1000:.1f} ms "
                f"p99={percentile(latencies, 99) * 1000:.1f} ms, "
                f"{alerts / wall:,.0f} alerts/s accepted (by each)"
            )
            t1 = time.perf_counter()
            worked_off(db)
            handled = time.perf_counter() - t1 + wall
            agents = sum(agents_cpu(r.proc.pid) for r in fleet) - agents0
            busy = busy_share(machine0, psutil.cpu_times())
            worker = [worker_cpu(r) - w for r, (_, w, _) in zip(fleet, cpu0, strict=True)]
            stepped = [steps(r) - n for r, n in zip(fleet, steps0, strict=True)]
            rest = [
                cpu(r.proc.pid) - c - busy
                for r, (c, _, _), busy in zip(fleet, cpu0, worker, strict=True)
            ]
            front = [cpu(f) - c for f, (_, _, c) in zip(receivers, cpu0, strict=True)]
            triggers = [
                t
                for (t,) in db.execute(
                    text("SELECT trigger FROM swarms WHERE trigger LIKE 'alert:StormAlert:%'")
                )
            ]
            claimers = Counter(
                c for (c,) in db.execute(text("SELECT claimed_by FROM episodes WHERE acted = 1"))
            )
            db.rollback()
            episodes = {t.split(":")[2] for t in triggers}
            once = len(triggers) == len(episodes) == len(sent)
            print(
                f"       handled {handled:.1f} s after the first POST "
                f"({alerts / handled:,.0f} alerts/s handled); "
                f"swarms started: {len(triggers)} for {len(sent)} episodes "
                f"({'exactly one each' if once else 'MISMATCH'}); "
                f"acted on by: {', '.join(f'{k} {v}' for k, v in sorted(claimers.items()))}"
            )
            print(
                f"       the machine's {psutil.cpu_count()} cores {busy:.0%} busy meanwhile; the"
                f" swarms' agents (ended) took {agents:.1f} s of CPU of it"
                f" ({agents / max(1, len(triggers)) * 1000:.0f} ms each)"
            )
            per_body = (sum(front) + sum(rest)) / len(fleet) / args.bodies
            print(
                f"       accept path CPU {per_body * 1000:.2f} ms a body, "
                f"{per_body / anchor_cpu:.2f}x the anchor's (the receiver"
                f" {sum(front) / len(fleet) / args.bodies * 1000:.2f} ms, the responder's"
                f" process less its worker {sum(rest) / len(fleet) / args.bodies * 1000:.2f} ms);"
                f" the worker {sum(worker) / len(fleet) / args.bodies * 1000:.2f} ms a body"
                f" ({sum(stepped) / args.bodies:.2f} steps a body in all, each"
                f" {sum(worker) / max(1.0, sum(stepped)) * 1000:.2f} ms)"
            )

            resent = resend(fleet, conns, bodies, db)
            print(
                f"re-sends: the same bodies again (every alert a duplicate, as Alertmanager's"
                f" repeats): {alerts / resent[0]:,.0f} alerts/s accepted,"
                f" {alerts / resent[1]:,.0f}/s handled; the worker"
                f" {resent[2] / len(fleet) / args.bodies * 1000:.2f} ms a body, the receiver"
                f" {resent[3] / len(fleet) / args.bodies * 1000:.2f} ms"
            )

            renamed = [body("StormAlert", [f"b{fp}" for fp in fps]) for fps in picks]
            backlog(fleet, conns, renamed, db, server)

            decisions = []
            for i in range(args.decisions):
                fp = f"d{i:x}"
                s = time.time()
                storm(conns, [body("DecisionAlert", [fp])])
                trigger = f"alert:DecisionAlert:{fp}:2026-11-26T20:00:00Z:0"

                def started(trigger: str = trigger) -> float | None:
                    at = one(
                        db,
                        "SELECT a.started_at FROM agents a JOIN swarms s ON a.swarm_id = s.id"
                        " WHERE s.trigger = :trigger AND a.started_at IS NOT NULL",
                        trigger=trigger,
                    )
                    return None if at is None else float(at)

                decisions.append(wait_for(started, 30, 0.005) - s)
                time.sleep(0.2)
            if decisions:
                print(
                    f"decision: webhook sent to agent process started, {args.decisions} trials: "
                    f"p50={percentile(decisions, 50) * 1000:.1f} ms "
                    f"p99={percentile(decisions, 99) * 1000:.1f} ms"
                )
        except NoQuota as exc:
            ap.error(str(exc))
        finally:
            db.close()
            store.close()
            for r in fleet:
                r.stop()
            for quota in quotas:
                try:
                    quota.remove()
                except RuntimeError as exc:
                    print(f"left behind: {exc}", file=sys.stderr)
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
