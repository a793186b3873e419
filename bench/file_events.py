"""Change detection by file events, and type errors counted over the whole output.

1. Runs per single edit: a git project whose build takes 0.5 s and whose
   tests take 5 s (and write an untracked `.coverage` nothing ignores, as
   pytest-cov does in an sdist without a .gitignore entry), a real exporter.
   Each trial saves one source file once and waits until no check has run
   for 2 s; target: exactly 1 build and 1 test run per edit.
2. Edit saved -> check started: the time the build's process began (its own
   clock, in its run log) after the save, p50/p95; target p95 < 0.5 s.
3. Type errors on a 40 KB mypy-like output with mypy's own total, against
   what the old tail-only count (the last 16 KiB) reported.

Run: .venv/bin/python -m bench.file_events [--edits 10] [--trials 30]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.common import percentile
from exporter.collectors.typecheck import TypecheckCollector
from tests.checked_project import edit, make_checked_project, runs
from tests.conftest import ExporterProcess, write_config
from tests.service.test_file_events import MYPY_LIKE, quiet, starts
from warden.config import load_config
from warden.runner import CommandRunner


def runs_per_edit(edits: int) -> list[Counter[str]]:
    with tempfile.TemporaryDirectory(prefix="warden-bench-events-") as t:
        root = Path(t)
        exp = ExporterProcess(make_checked_project(root, 0.5, 5.0))
        try:
            before = quiet(root, 2.0, 120)
            out = []
            for _ in range(edits):
                edit(root / "project")
                after = quiet(root, 2.0, 120)
                out.append(after - before)
                before = after
            return out
        finally:
            exp.stop()


def start_latency(trials: int) -> list[float]:
    rng = random.Random(3)  # noqa: S311  (spacing of trials)
    with tempfile.TemporaryDirectory(prefix="warden-bench-events-") as t:
        root = Path(t)
        exp = ExporterProcess(make_checked_project(root, 0.05, 0.05))
        try:
            quiet(root, 1.0, 60)
            out = []
            for _ in range(trials):
                time.sleep(rng.uniform(0.2, 1.0))
                n = starts(root)["build"]
                saved = time.time()
                edit(root / "project")
                quiet(root, 0.5, 60)
                started = [at for c, e, at in runs(root) if c == "build" and e == "start"][n]
                out.append(started - saved)
            return out
        finally:
            exp.stop()


def type_errors() -> tuple[int, int, int, int]:
    """(mypy's total, Warden's figure, the old tail-only count, output bytes)."""
    with tempfile.TemporaryDirectory(prefix="warden-bench-events-") as t:
        root = Path(t)
        (root / "mypy_like.py").write_text(MYPY_LIKE)
        cfg = write_config(
            root / "w.yml",
            f"collectors:\n  typecheck:\n    command: [{sys.executable}, mypy_like.py]\n"
            "    error_pattern: ': error:'\n",
        )
        config = load_config(cfg)
        assert config.typecheck is not None
        collector = TypecheckCollector(config.typecheck, root, CommandRunner())
        families = {f.name: f for f in collector.collect()}
        figure = int(families["warden_typecheck_errors"].samples[0].value)
        assert collector.last is not None
        tail_only = len(config.typecheck.error_pattern.findall(collector.last.output_tail))
        return 232, figure, tail_only, collector.last.output_bytes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--edits", type=int, default=10)
    ap.add_argument("--trials", type=int, default=30)
    args = ap.parse_args()
    per_edit = runs_per_edit(args.edits)
    builds = [c["build"] for c in per_edit]
    tests = [c["tests"] for c in per_edit]
    print(
        f"runs per single edit (build 0.5 s, tests 5 s), n={len(per_edit)}: "
        f"build {Counter(builds)}, tests {Counter(tests)} (target: exactly 1 and 1)"
    )
    lat = start_latency(args.trials)
    print(
        f"edit saved -> build started, n={len(lat)}: p50={percentile(lat, 50) * 1000:.0f} ms "
        f"p95={percentile(lat, 95) * 1000:.0f} ms max={max(lat) * 1000:.0f} ms "
        "(target p95 < 500 ms)"
    )
    total, figure, tail_only, size = type_errors()
    print(
        f"type errors on a {size / 1000:.0f} KB mypy output: mypy says {total}, Warden "
        f"{figure} (the last 16 KiB alone held {tail_only})"
    )


if __name__ == "__main__":
    main()
