"""Log follower: how many lines per second it keeps up with, and what CPU it costs.

Two figures:
- drain: 1,000,000 lines already in one file, read from the start; lines per
  CPU second is the follower's ceiling.
- sustained: a separate writer process appends --rate lines/s spread over
  --files files for --seconds; the collector polls every 250 ms as in the
  exporter. Its thread's CPU time over the wall time is the cost in cores,
  and every written line must have been counted at the end.

Run: .venv/bin/python -m bench.logs [--rate 10000] [--files 20] [--seconds 10]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from exporter.collectors.logs import LogsCollector
from warden.config import LogSource, LogsSettings

PATTERNS = (
    re.compile(r"\b(ERROR|FATAL|CRITICAL)\b"),
    re.compile(r"\bTraceback \(most recent call last\)"),
)
LINE = "2026-11-26T00:00:00.000Z {level} worker-{i}: request handled in 12 ms path=/api/v1/x\n"

WRITER = """
import sys, time
paths, rate, seconds = sys.argv[1].split(","), int(sys.argv[2]), float(sys.argv[3])
files = [open(p, "a", buffering=1 << 16) for p in paths]
line = sys.argv[4]
tick = 0.01
per_tick = rate * tick
start = time.monotonic()
written = 0
while (now := time.monotonic()) - start < seconds:
    due = int((now - start) * rate)
    while written < due:
        level = "ERROR" if written % 10 == 0 else "INFO"
        files[written % len(files)].write(line.format(level=level, i=written))
        written += 1
    for f in files:
        f.flush()
    time.sleep(tick)
print(written)
"""


def settings(paths: list[Path], start_at: str) -> LogsSettings:
    return LogsSettings(
        sources=tuple(LogSource(f"s{i}", p, PATTERNS) for i, p in enumerate(paths)),
        poll_interval=0.25,
        start_at=start_at,
        offsets_save_interval=5,
    )


def total(collector: LogsCollector) -> tuple[int, int]:
    return sum(s.lines for s in collector.sources), sum(s.errors for s in collector.sources)


def drain(work: Path, n: int) -> None:
    path = work / "big.log"
    with path.open("w") as fh:
        for i in range(n):
            fh.write(LINE.format(level="ERROR" if i % 10 == 0 else "INFO", i=i))
    c = LogsCollector(settings([path], "beginning"), work / "state-drain")
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    c.collect()
    cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
    lines, errors = total(c)
    c.close()
    assert (lines, errors) == (n, n // 10), (lines, errors)
    print(
        f"drain:     {n} lines in {wall:.2f} s wall, {cpu:.2f} s CPU: "
        f"{n / cpu:,.0f} lines per CPU second"
    )


def sustained(work: Path, rate: int, files: int, seconds: float) -> None:
    paths = [work / f"app{i}.log" for i in range(files)]
    for p in paths:
        p.touch()
    c = LogsCollector(settings(paths, "end"), work / "state-sustained")
    c.collect()
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, ",".join(map(str, paths)), str(rate), str(seconds), LINE],
        stdout=subprocess.PIPE,
        text=True,
    )
    cpu = 0.0
    wall0 = time.perf_counter()
    while writer.poll() is None:
        t0 = time.thread_time()
        c.collect()
        cpu += time.thread_time() - t0
        time.sleep(0.25)
    t0 = time.thread_time()
    c.collect()
    cpu += time.thread_time() - t0
    wall = time.perf_counter() - wall0
    written = int(writer.communicate()[0])
    lines, errors = total(c)
    c.close()
    print(
        f"sustained: {written} lines written over {wall:.1f} s into {files} files "
        f"({written / wall:,.0f} lines/s); counted {lines} ({errors} errors), "
        f"missed {written - lines}"
    )
    print(
        f"           follower CPU {cpu:.2f} s = {cpu / wall:.3f} cores "
        f"({cpu / wall / 0.5:.0%} of the half-core budget)"
    )
    assert lines == written


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=10_000)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--drain-lines", type=int, default=1_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="warden-bench-logs-") as tmp:
        work = Path(tmp)
        drain(work, args.drain_lines)
        sustained(work, args.rate, args.files, args.seconds)


if __name__ == "__main__":
    main()
