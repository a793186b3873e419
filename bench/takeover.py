"""Takeover: a responder SIGKILLed while it holds a claimed episode, until another
responder has acted on it.

Two responders (`warden responder` processes, A and B) share a real
PostgreSQL server. Each trial sends a BuildFailing episode to A, whose action
is slowed (the exporter it reads the failing output from accepts and never
answers, so the read takes its 2 s timeout); once A has claimed it, the same
alert reaches B, which skips it (A's lease holds), and A is SIGKILLed. The
figure is the time from the SIGKILL to B's action on the episode recorded
(the claim's lease, then B's look for dropped claims, then the action). A is
restarted between trials. Printed with the lease it ran with: the takeover
time is the lease plus a little, so `responder.claim_lease` sets it.

Run: .venv/bin/python -m bench.takeover [--trials 10] [--lease 5s]
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import tempfile
import textwrap
import threading
import time
from pathlib import Path

from bench.common import fake_agent_config, percentile
from bench.webhook import one, post
from responder.state.store import Store
from tests.conftest import ResponderProcess, wait_for
from tests.pgserver import PostgresServer


def tarpit() -> tuple[socket.socket, int]:
    """A listener that accepts connections and never answers them."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(sock.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return sock, int(sock.getsockname()[1])


def config(work: Path, rid: str, keys: str, lease: str, exporter: int) -> Path:
    work.mkdir()
    return fake_agent_config(
        work,
        keys
        + textwrap.indent(
            f"id: {rid}\ninstance: {rid}:1\nclaim_lease: {lease}\npoll_interval: 20ms\n", " " * 8
        )
        + """\
        policies:
          BuildFailing: {spawn: [{type: bugfix, priority: CRITICAL}], max_running: 100000}
        """,
        """\
        budget_usd: 0.0001
        env: {FAKE_CLAUDE: 'turns=1,delay=0,cost=0.0001'}
        """,
        f"""\
        exporter: {{listen: 127.0.0.1:{exporter}}}
        modes:
          ACTIVE: {{max_swarms: 100000}}
          NIGHT: {{max_swarms: 100000, priorities: [CRITICAL, HIGH, MEDIUM, LOW]}}
          CRISIS: {{max_swarms: 100000}}
        """,
    )


def build_failing(fp: str) -> bytes:
    alert = {
        "status": "firing",
        "labels": {"alertname": "BuildFailing", "severity": "critical", "n": fp},
        "annotations": {"summary": "s"},
        "startsAt": "2026-11-26T20:00:00Z",
        "fingerprint": fp,
    }
    return json.dumps({"version": "4", "status": "firing", "alerts": [alert]}).encode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--lease", default="5s")
    args = ap.parse_args()
    server = PostgresServer.start(durable=True)
    pit, pit_port = tarpit()
    with tempfile.TemporaryDirectory(prefix="warden-bench-takeover-") as tmp:
        work = Path(tmp)
        url = server.database()
        keys = textwrap.indent(
            f"database: {url}\ndatabase_password_file: {server.password_file}\n", " " * 8
        )
        store = Store(url, password=server.password)
        cfg_a = config(work / "a", "A", keys, args.lease, pit_port)
        cfg_b = config(work / "b", "B", keys, args.lease, pit_port)
        b = ResponderProcess(cfg_b)
        db = store.engine.connect()
        takeovers: list[float] = []
        a: ResponderProcess | None = None
        try:
            for i in range(args.trials):
                a = ResponderProcess(cfg_a)
                fp = f"{0xB00 + i:x}"
                post(http.client.HTTPConnection("127.0.0.1", a.port, timeout=30), build_failing(fp))
                sql = "SELECT claimed_by FROM episodes WHERE fingerprint = :fp AND acted = 0"
                wait_for(lambda fp=fp, sql=sql: one(db, sql, fp=fp) == "A", 30, 0.01)
                post(http.client.HTTPConnection("127.0.0.1", b.port, timeout=30), build_failing(fp))
                time.sleep(0.2)  # B has it in its inbox and skipped it
                a.kill()
                killed = time.time()
                acted = "SELECT claimed_by FROM episodes WHERE fingerprint = :fp AND acted = 1"
                wait_for(lambda fp=fp, sql=acted: one(db, sql, fp=fp) == "B", 120, 0.01)
                (at,) = [float(d["at"]) for d in store.decisions(50) if d.get("fingerprint") == fp]
                takeovers.append(at - killed)
                swarms = one(
                    db,
                    "SELECT COUNT(*) FROM swarms WHERE trigger LIKE :t",
                    t=f"alert:BuildFailing:{fp}:%",
                )
                assert swarms == 1, f"episode {fp} started {swarms} swarms"
            print(
                f"takeover (claim_lease {args.lease}), {args.trials} trials: SIGKILL of the "
                f"claimer to the other responder's action recorded: "
                f"p50={percentile(takeovers, 50):.2f} s p95={percentile(takeovers, 95):.2f} s "
                f"(min {min(takeovers):.2f} s, max {max(takeovers):.2f} s); "
                "one swarm per episode"
            )
        finally:
            db.close()
            store.close()
            b.stop()
            if a is not None:
                a.stop()
            pit.close()
            server.stop()


if __name__ == "__main__":
    main()
