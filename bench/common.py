"""Helpers the benchmarks share: percentiles and scraping over one kept-alive connection."""

from __future__ import annotations

import functools
import http.client
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from tests.alerting import TOKEN
from tests.conftest import enterable, fake_swarm_keys, write_config
from warden.auth import Credentials
from warden.parentdeath import die_with


def fake_agent_config(work: Path, responder: str, swarms: str, rest: str = "") -> Path:
    """A config for a benchmark's responder: state and token in `work`, the fake
    Claude as every swarm's command; `responder` and `swarms` are YAML lines for
    those sections, `rest` more top-level sections. `work` is made enterable: the
    agents' user (nobody, as root) works in it."""
    enterable(work)
    (work / "token").write_text(TOKEN)
    indent = "  "
    return write_config(
        work / "warden.yml",
        f"""\
state_dir: {work / "state"}
responder:
  token_file: {work / "token"}
{textwrap.indent(textwrap.dedent(responder), indent)}
swarms:
{fake_swarm_keys()}{textwrap.indent(textwrap.dedent(swarms), indent)}
{textwrap.dedent(rest)}""",
    )


def dies_with_me() -> Callable[[], None]:
    """A `preexec_fn` that has the child killed when this process dies, however it
    dies (a SIGKILL, a test's timeout): a bench's helpers run in sessions of their
    own, which nothing sent to the bench's group reaches, and outlived it (a
    killed bench/scrape.py left its 20 sleepers, and every later run counted 40)."""
    return functools.partial(die_with, os.getpid())


@contextmanager
def cpu_load(n: int) -> Iterator[None]:
    """`n` processes that keep a core busy each while the bench runs: a machine that
    does other work beside Warden."""
    busy = [
        subprocess.Popen(
            [sys.executable, "-c", "while True: pass"],
            start_new_session=True,
            preexec_fn=dies_with_me(),
        )
        for _ in range(n)
    ]

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)  # the busy processes are killed on the way out

    before = signal.signal(signal.SIGTERM, stop)  # a bench stopped with `kill`
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)
        for p in busy:
            p.kill()
            p.wait()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def scrape_latencies(
    port: int,
    n: int,
    pace: float = 0.0,
    path: str = "/metrics",
    credentials: Credentials | None = None,
) -> tuple[list[float], bytes]:
    """Scrape `n` times like Prometheus does (one kept-alive connection, basic auth
    when the target asks for it), starting one every `pace` seconds so background
    work overlaps the run."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    latencies: list[float] = []
    body = b""
    headers = {"Accept": "text/plain;version=0.0.4"}
    if credentials is not None:
        headers["Authorization"] = credentials.header
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        elapsed = time.perf_counter() - t0
        latencies.append(elapsed)
        assert resp.status == 200, resp.status
        if pace > elapsed:
            time.sleep(pace - elapsed)
    conn.close()
    return latencies, body


def series_count(body: bytes) -> int:
    return sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
