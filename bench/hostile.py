"""What a hostile neighbour costs the responder (issue 26's figures).

The responder runs as its own process (`warden responder`, shipped limits);
this process is Alertmanager and the neighbour.

- held: authenticated deliveries (one every 100 ms, as Alertmanager sends),
  first alone (the anchor), then while `tests/slowloris.py` holds `--held`
  connections open without credentials, reopening each as it closes. Prints
  the share delivered and the delay p50/p99/max, and the p99's ratio to the
  anchor's.
- big body: one webhook body of `--alerts` alerts (just under 1 MiB at
  3,600), then the same alerts one per body (the anchor: the shape a bound on
  bodies handled well). While each is worked off, `/healthz` is read every
  20 ms; prints the longest gap between two heartbeats and its ratio to the
  anchor's.

Run: .venv/bin/python -m bench.hostile [--held 300] [--deliveries 100] [--alerts 3600]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import fake_agent_config, percentile
from responder.state.store import Store
from tests.conftest import REPO, ResponderProcess, http_get
from tests.service.test_responder import alert, body, post
from warden.config import load_config


def delivered(url: str, n: int) -> tuple[int, list[float]]:
    """(deliveries that got 200, the delay of each), one every 100 ms."""
    ok, delays = 0, []
    for i in range(n):
        t0 = time.monotonic()
        # Refused (503) or cut counts as not delivered: Alertmanager would send it again.
        with contextlib.suppress(OSError):
            ok += post(url, body(alert("MemoryHigh", fp=f"{time.time_ns():x}{i}")))[0] == 200
        delays.append(time.monotonic() - t0)
        time.sleep(max(0.0, 0.1 - delays[-1]))
    return ok, delays


def held_deliveries(responder: ResponderProcess, held: int, n: int) -> tuple[int, list[float]]:
    neighbour = subprocess.Popen(
        [sys.executable, "-m", "tests.slowloris", "127.0.0.1", str(responder.port), str(held)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert neighbour.stdout is not None
        assert neighbour.stdout.readline().startswith(f"holding {held}")
        return delivered(responder.url, n)
    finally:
        neighbour.kill()
        neighbour.wait()


def longest_gap(responder: ResponderProcess, bodies: list[bytes], store: Store, me: str) -> float:
    """Post `bodies`, then read the heartbeat every 20 ms until the inbox is worked
    off: the longest time between two heartbeats seen."""
    for raw in bodies:
        assert post(responder.url, raw)[0] == 200
    seen: list[float] = []
    beat = None
    while True:
        now = json.loads(http_get(responder.url + "/healthz")[1])["heartbeat"]
        if now != beat:
            beat = now
            seen.append(time.monotonic())
        if not store.pending_inbox(me, 1):
            break
        time.sleep(0.02)
    seen.append(time.monotonic())
    return max(b - a for a, b in itertools.pairwise(seen))


def alerts(n: int, first: int) -> list[dict[str, object]]:
    """`n` firing alerts of fingerprints `first`, `first` + 1, ..."""
    out = [alert("NoisyAlert", fp=f"{first + i:x}", severity="warning") for i in range(n)]
    for a in out:
        del a["annotations"]  # 3,600 fit in 1 MiB
    return out


def run(held: int, deliveries: int, n_alerts: int, work: Path) -> dict[str, float]:
    cfg = fake_agent_config(work, "max_body_bytes: 1048576\npoll_interval: 200ms\n", "")
    responder = ResponderProcess(cfg)
    store = Store(work / "state" / "warden.db", read_only=True)
    try:
        alone_ok, alone = delivered(responder.url, deliveries)
        ok, delays = held_deliveries(responder, held, deliveries)
        me = load_config(cfg).responder.id
        big = longest_gap(responder, [body(*alerts(n_alerts, 1 << 20))], store, me)
        small = longest_gap(responder, [body(a) for a in alerts(n_alerts, 2 << 20)], store, me)
    finally:
        store.close()
        responder.stop()
    return {
        "anchor_delivered": alone_ok / deliveries,
        "anchor_p99": percentile(alone, 99),
        "delivered": ok / deliveries,
        "p50": percentile(delays, 50),
        "p99": percentile(delays, 99),
        "max": max(delays),
        "gap_big": big,
        "gap_small": small,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held", type=int, default=300)
    parser.add_argument("--deliveries", type=int, default=100)
    parser.add_argument("--alerts", type=int, default=3600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        f = run(args.held, args.deliveries, args.alerts, Path(work))
    print(
        f"deliveries with {args.held} connections held open, n={args.deliveries}: "
        f"{f['delivered']:.1%} delivered, delay p50 {f['p50'] * 1000:.0f} ms, "
        f"p99 {f['p99'] * 1000:.0f} ms, max {f['max'] * 1000:.0f} ms "
        f"(alone: {f['anchor_delivered']:.1%}, p99 {f['anchor_p99'] * 1000:.0f} ms; "
        f"x{f['p99'] / f['anchor_p99']:.2f})"
    )
    print(
        f"heartbeat while {args.alerts} alerts are handled: longest gap "
        f"{f['gap_big']:.2f} s as one body, {f['gap_small']:.2f} s as one alert a body "
        f"(x{f['gap_big'] / f['gap_small']:.2f})"
    )


if __name__ == "__main__":
    main()
