"""One budget for the fleet: responders sharing a store never pass the cap together."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from responder.act.live import SpawnRefused
from responder.act.runtime import Runtime
from responder.model import Priority
from responder.rules.admission import Refusal
from tests.conftest import Database, fake_swarm_keys, write_config
from warden.config import Config, load_config

CAP = 10.0
SWARM_CAP = 1.0


def responder_config(tmp_path: Path, database: Database, rid: str) -> Config:
    """Responder `rid` of the fleet: its own state folder and the shared PostgreSQL
    database, or (SQLite) one state folder shared by runtimes on one host."""
    state = tmp_path / ("state" if isinstance(database.target, Path) else rid)
    caps = ", ".join(f"{m}: {CAP}" for m in ("ACTIVE", "NIGHT", "MAINTENANCE", "CRISIS"))
    modes = "\n".join(
        f"  {m}: {{max_swarms: 100}}" for m in ("ACTIVE", "NIGHT", "MAINTENANCE", "CRISIS")
    )
    body = f"""\
state_dir: {state}
responder:
  id: {rid}
{database.config_keys()}budget:
  caps: {{{caps}}}
  ceilings: {{day: 1000}}
modes:
{modes}
swarms:
{fake_swarm_keys()}  budget_usd: {SWARM_CAP}
  retries: 0
  env: {{FAKE_CLAUDE: "cost={SWARM_CAP},turns=1,delay=0.02"}}
"""
    return load_config(write_config(tmp_path / f"{rid}.yml", body))


@dataclass
class Storm:
    started: list[int]
    refusals: list[Refusal]
    spent: float
    seconds: float


def cost_storm(runtimes: list[Runtime], timeout: float = 40.0) -> Storm:
    """Each runtime, in a thread of its own, starts CRITICAL swarms as fast as it
    can (every agent charging its whole cap) until the period's cap is reached
    and nothing runs; then every agent is reaped and charged."""
    n = len(runtimes)
    started = [0] * n
    refusals: list[Refusal] = []
    t0 = time.monotonic()
    deadline = t0 + timeout
    stop = threading.Event()
    together = threading.Barrier(n)

    def storm(i: int) -> None:
        rt = runtimes[i]
        together.wait()
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                rt.start_swarm("bugfix", Priority.CRITICAL, f"storm-{i}-{started[i]}", "ctx")
                started[i] += 1
            except SpawnRefused as exc:
                refusals.append(exc.reason)
            rt.poll()
            store = rt.store
            spent = store.spend(rt.facts().period.key)
            if spent >= CAP - SWARM_CAP + 1e-9 and not store.live_agent_ids():
                stop.set()

    threads = [threading.Thread(target=storm, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for rt in runtimes:  # every agent reaped and charged
        while rt.store.live_agent_ids() and time.monotonic() < deadline + 20:
            rt.poll()
            time.sleep(0.05)
    seconds = time.monotonic() - t0
    spent = sum(runtimes[0].store.spend_by_type().values())
    return Storm(started, refusals, spent, seconds)


def test_four_responders_racing_at_the_cap_overspend_by_at_most_one_swarm(
    tmp_path: Path, database: Database
) -> None:
    """A cost storm from 4 responders sharing one store: the guard admits them one
    at a time, so together they stop at the cap. (Without the guard the same storm
    spent $12 of the $10 cap.)"""
    runtimes = [Runtime(responder_config(tmp_path, database, f"r{i}")) for i in range(4)]
    try:
        storm = cost_storm(runtimes)
    finally:
        for rt in runtimes:
            rt.close()
    started, refusals, spent = storm.started, storm.refusals, storm.spent
    assert sum(started) >= CAP / SWARM_CAP - 1, (started, refusals)
    assert sum(n > 0 for n in started) >= 2, f"responders raced: {started}"
    assert Refusal.BUDGET_CAP in refusals or Refusal.BUDGET_TIER in refusals
    assert CAP - SWARM_CAP <= spent <= CAP + SWARM_CAP, f"spent ${spent:.2f} of ${CAP:.2f}"
