"""One budget for the fleet: how far responders racing at the cap overspend it.

N runtimes (each a responder: its own id and state folder) share one store,
SQLite or a real PostgreSQL server started here (durable, as in production),
and start CRITICAL swarms as fast as they can, every agent charging its whole
cap ($1), against a $10 period cap: the cost storm of
tests/service/test_shared_budget.py, repeated. Prints, per engine, the spend of each
trial against the cap (target: at most one swarm's cap over) and how long
the storm took.

Run: .venv/bin/python -m bench.fleet_budget [--responders 4] [--trials 5]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.common import percentile
from responder.act.runtime import Runtime
from tests.conftest import Database
from tests.pgserver import PostgresServer
from tests.service.test_shared_budget import CAP, SWARM_CAP, cost_storm, responder_config


def trial(work: Path, database: Database, responders: int) -> tuple[float, float, list[int]]:
    runtimes = [Runtime(responder_config(work, database, f"r{i}")) for i in range(responders)]
    try:
        storm = cost_storm(runtimes, timeout=120)
    finally:
        for rt in runtimes:
            rt.close()
    return storm.spent, storm.seconds, storm.started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--responders", type=int, default=4)
    ap.add_argument("--trials", type=int, default=5)
    args = ap.parse_args()
    server = PostgresServer.start(durable=True)
    try:
        for engine in ("sqlite", "postgresql"):
            over, took = [], []
            for i in range(args.trials):
                with tempfile.TemporaryDirectory(prefix="warden-bench-fleet-") as tmp:
                    work = Path(tmp)
                    work.chmod(0o755)  # the agent user works in there
                    if engine == "sqlite":
                        database = Database(work / "state" / "warden.db")
                    else:
                        database = Database(
                            server.database(), server.password, server.password_file
                        )
                    spent, seconds, started = trial(work, database, args.responders)
                over.append(spent - CAP)
                took.append(seconds)
                print(
                    f"{engine} trial {i + 1}: spent ${spent:.2f} of ${CAP:.2f}"
                    f" (swarms per responder {started}) in {seconds:.1f} s"
                )
            print(
                f"{engine}: {args.responders} responders, {args.trials} trials: overspend max"
                f" ${max(over):.2f} (target <= ${SWARM_CAP:.2f}, one swarm's cap),"
                f" storm p50 {percentile(took, 50):.1f} s"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
