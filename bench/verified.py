"""Verified work: 10 swarms editing the same file at once, apart and together.

A copy of the demo as a git project whose last commit broke the build (a line
of src/extra.py that does not compile). Each of `--swarms` bugfix swarms runs
the fake agent as a scripted agent that edits as real ones do: first a half-done
edit (another line that does not compile), `--pause` seconds later the finished
one, each agent its own (the same line, replaced by a different definition).

- apart (`isolation: worktree`, the default for a git project): while they work,
  the watched file is read every 20 ms and compiled; the bench counts the reads
  that found it half-edited, the swarms' outcomes, the retries, what landed, and
  whether the watched branch only moved to commits whose build passes (each
  landed commit is built again here). The verification's seconds are compared
  with the project's own build and tests run once in the same run: the
  difference is Warden's overhead (commit, base worktree, rebase, landing).
- together (the anchor: `isolation: none`, Warden's behaviour before): the same
  agents in the project itself; the same reads count the half-edited file.

Run: .venv/bin/python -m bench.verified [--swarms 10] [--pause 0.5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.common import percentile
from responder.act.runtime import Runtime
from responder.model import Priority
from responder.rules.budget import Period
from responder.rules.modes import Situation
from tests.conftest import (
    AGENT_PYTHON,
    AGENT_USER,
    commit_all,
    enterable,
    fake_swarm_keys,
    git,
    make_demo_repo,
    write_config,
)
from warden.config import load_config
from warden.private import give

BROKEN = "def broken(:\n"
HALF = "def half_done(:\n"
TRIGGER = "alert:BuildFailing:bench:0"


def setup(work: Path, isolation: str, swarms: int, pause: float) -> tuple[Runtime, Path]:
    project = make_demo_repo(work / "demo")
    (project / "src" / "extra.py").write_text('"""More of the demo."""\n' + BROKEN)
    commit_all(project, "a commit that breaks the build")
    types = []
    for i in range(swarms):
        edits = [
            {"file_path": "src/extra.py", "old_string": BROKEN, "new_string": HALF, "pause": pause},
            {"file_path": "src/extra.py", "old_string": HALF, "new_string": f"VALUE = {i}\n"},
        ]
        types.append(f"    fix{i}: {{env: {{FAKE_CLAUDE_EDITS: '{json.dumps(edits)}'}}}}")
    py = AGENT_PYTHON
    types_yaml = "\n".join(types)
    cfg = write_config(
        work / "warden.yml",
        f"""\
project: {{dir: {project}}}
state_dir: {work / "state"}
collectors:
  host: {{enabled: false}}
  build: {{command: [{py}, build.py]}}
  tests: {{command: [{py}, run_tests.py], junit_report: {project}/reports/junit.xml}}
swarms:
{fake_swarm_keys()}  isolation: {isolation}
  retries: 0
  timeout: 5m
  types:
{types_yaml}
""",
    )
    if isolation == "none" and os.geteuid() == 0:
        give(project, AGENT_USER)  # agents working in the project must be able to write it
    period = Period("CRISIS", "bench", 1e6)
    sit = Situation("CRISIS", 3, period, None, None)
    return Runtime(load_config(cfg), situation=lambda: sit), project


def _read(path: Path) -> str | None:
    """The file's text, or None in the moment it is not there: git replaces a file it
    checks out (unlink, then create), so a read while a landing moves the checked-out
    branch can find nothing."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def compiles(path: Path) -> bool:
    try:
        compile(path.read_text(), str(path), "exec")
    except SyntaxError:
        return False
    return True


@dataclass(frozen=True)
class Trial:
    reads: int
    half_edited: int
    absent: int
    outcomes: dict[str, int]
    states: dict[str, int]
    retries: int
    landed: int
    landed_build_passes: bool
    watched_compiles: bool
    verify_seconds: list[float]
    seconds: float
    checks_seconds: float


def trial(isolation: str, swarms: int, pause: float) -> Trial:
    with tempfile.TemporaryDirectory() as t:
        work = enterable(Path(t))
        rt, project = setup(work, isolation, swarms, pause)
        watched = project / "src" / "extra.py"
        try:
            started = [
                rt.start_swarm(f"fix{i}", Priority.CRITICAL, TRIGGER, "the build fails")
                for i in range(swarms)
            ]
            reads = half = absent = 0
            t0 = time.monotonic()
            while time.monotonic() - t0 < 600:
                rt.poll()
                reads += 1
                seen = _read(watched)
                absent += seen is None
                half += seen is not None and HALF in seen
                rows = rt.store.swarms()
                if len(rows) >= len(started) and all(
                    r.state not in ("running", "verifying") for r in rows
                ):
                    break
                time.sleep(0.02)
            took = time.monotonic() - t0
            rows = rt.store.swarms()
            landed = [r.landed for r in rows if r.landed]
            builds_pass = all(_builds(project, c) for c in landed)
            verify = [r.verify_seconds for r in rows if r.verify_seconds is not None]
            return Trial(
                reads,
                half,
                absent,
                dict(Counter(str(r.outcome) for r in rows)),
                dict(Counter(r.state for r in rows)),
                sum(r.retry_of is not None for r in rows),
                len(landed),
                builds_pass,
                compiles(watched),
                verify,
                took,
                _checks_seconds(project),
            )
        finally:
            for s in rt.store.swarms("running"):
                rt.kill_swarm(s.id, "bench end", wait=True)
            rt.close()


def _builds(project: Path, commit: str) -> bool:
    """The project's build at `commit`, in a worktree of its own."""
    tree = project.parent / f"check-{commit[:12]}"
    git(project, "worktree", "add", "--detach", str(tree), commit)
    try:
        return (
            subprocess.run([sys.executable, "build.py"], cwd=tree, capture_output=True).returncode
            == 0
        )
    finally:
        git(project, "worktree", "remove", "--force", str(tree))


def _checks_seconds(project: Path) -> float:
    """The project's own build and tests, run once here: what verification must cost."""
    t0 = time.monotonic()
    for script in ("build.py", "run_tests.py"):
        subprocess.run([AGENT_PYTHON, script], cwd=project, capture_output=True, check=False)
    return time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--swarms", type=int, default=10)
    ap.add_argument("--pause", type=float, default=0.5, help="seconds an edit stays half done")
    args = ap.parse_args()
    apart = trial("worktree", args.swarms, args.pause)
    together = trial("none", args.swarms, args.pause)
    verify, checks = apart.verify_seconds, apart.checks_seconds
    print(f"{args.swarms} swarms edit src/extra.py at once, a half-done edit held {args.pause} s")
    for name, r in (("apart (worktree)", apart), ("together (none, the anchor)", together)):
        print(
            f"  {name}: the watched file half-edited in {r.half_edited} of {r.reads} reads "
            f"(absent in {r.absent}); "
            f"outcomes {r.outcomes}, states {r.states}, retries {r.retries}, "
            f"landed {r.landed} (each builds: {r.landed_build_passes}), "
            f"the watched file compiles at the end: {r.watched_compiles}; {r.seconds:.1f} s"
        )
    ratio = percentile(verify, 50) / checks if checks else float("nan")
    print(
        f"  verification p50 {percentile(verify, 50):.2f} s, p95 {percentile(verify, 95):.2f} s "
        f"against the build and tests run once here {checks:.2f} s (ratio {ratio:.2f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
