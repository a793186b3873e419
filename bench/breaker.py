"""Launches of a hopeless agent command in `warden up` (A1, A2).

The shipped warden.yml on a copy of the demo project, with every swarm type's
command replaced by the real Claude Code CLI without credentials (installed by
`scripts/npm-tools.sh claude`; with `--fake`, the fake agent in its `auth`
mode, which prints the same lines). Nothing else is changed: SwarmsBelowMinimum
fires, J2 starts swarms every 2 minutes, each run fails "Not logged in". Before
failure classes and the breaker, this made about 360 launches an hour. Now
each run is classed `authentication` and not retried, and after `pause_after`
(3) runs of a type in a row the type is paused.

Prints the launches per swarm type, when the last one happened, the launches
in the last `--quiet` minutes (0 once every type used is paused) and the
launches an hour this run extrapolates to.

Run: .venv/bin/python -m bench.breaker [--minutes 14] [--fake]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.conftest import FAKE_CLAUDE as FAKE
from tests.conftest import REPO, make_demo_repo, wait_for
from tests.service.test_claude_contract import CLAUDE_BIN
from tests.stack.test_up import StackClock, stack_config, status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=14.0)
    parser.add_argument("--quiet", type=float, default=5.0, help="minutes at the end to check")
    parser.add_argument("--fake", action="store_true", help="the fake agent's auth mode")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="warden-breaker-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # the agents' user (nobody, when run as root) works in here
        demo = make_demo_repo(work / "demo")
        if args.fake:
            command = f"python3, {FAKE}"
            agent = "the fake agent (mode=auth)"
        else:
            assert (CLAUDE_BIN / "claude").exists(), "run scripts/npm-tools.sh claude first"
            command = str(CLAUDE_BIN / "claude")
            agent = f"the real CLI ({CLAUDE_BIN / 'claude'})"
        cfg, ports = stack_config(
            work,
            demo,
            bugfix="mode=auth",
            extra=(
                (f"  command: [python3, {FAKE}", f"  command: [{command}"),
                ("  env: {}\n  prompt:", "  env: {FAKE_CLAUDE: 'mode=auth'}\n  prompt:"),
                ("    review: {stuck_after: 1h, env: {FAKE_CLAUDE: 'mode=hang'}}", ""),
            ),
        )
        up = subprocess.Popen(
            [sys.executable, "-m", "warden.shell.cli", "up", "-c", str(cfg)],
            stdout=(work / "up.log").open("wb"),
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env={**os.environ, **StackClock(work / "clock").env},
        )
        try:
            wait_for(lambda: status(ports), 60)
            t0 = time.time()
            time.sleep(args.minutes * 60)
            report(work / "state" / "warden.db", t0, args, agent)
        finally:
            up.terminate()
            up.wait(timeout=120)


def report(db_path: Path, t0: float, args: argparse.Namespace, agent: str) -> None:
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT s.type, a.started_at, a.failure_class FROM agents a JOIN swarms s"
            " ON a.swarm_id = s.id WHERE a.started_at IS NOT NULL ORDER BY a.started_at"
        ).fetchall()
        paused = db.execute("SELECT type, class, since FROM pauses ORDER BY since").fetchall()
    end = t0 + args.minutes * 60
    per_type = Counter(t for t, _, _ in rows)
    classes = Counter(c for _, _, c in rows)
    quiet = [r for r in rows if r[1] >= end - args.quiet * 60]
    last = max((r[1] for r in rows), default=t0)
    print(f"agent: {agent}; {args.minutes:g} minutes of `warden up` with the shipped config")
    print(f"launches: {len(rows)} ({', '.join(f'{t} {n}' for t, n in sorted(per_type.items()))})")
    print(f"failure classes: {dict(classes)}")
    print(f"types paused: {', '.join(f'{t} ({c}) at +{s - t0:.0f} s' for t, c, s in paused)}")
    print(f"last launch at +{last - t0:.0f} s")
    print(f"launches in the last {args.quiet:g} min: {len(quiet)}")
    print(
        f"launches an hour: {len(rows) / args.minutes * 60:.0f} over this run; "
        f"{len(quiet) / args.quiet * 60:.0f} at its end (before: about 360)"
    )


if __name__ == "__main__":
    main()
