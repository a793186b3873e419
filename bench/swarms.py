"""Swarm runtime: spawn latency, the cost of watching 200 chatty agents, kill latency.

Real agent processes (examples/fake_claude.py, which prints what Claude
Code's stream-json mode prints) and a real SQLite file in a temp folder.

- spawn: from start_swarm() being called to the agent's process started
  (start_swarm returned) and to its first output line seen (a poll every 10 ms).
- watch: 200 agents each printing a JSON line every 50 ms (4,000 lines/s in
  all), polled every 200 ms as the responder does: the CPU time of this
  process over the wall time, as a share of one core.
- kill: a 10-agent swarm, from kill_swarm() being called to every process of
  it gone (kill_swarm(wait=True) returns only then; checked with psutil).

Run: .venv/bin/python -m bench.swarms [--trials 50] [--chatty 200] [--seconds 20]
"""

from __future__ import annotations

import argparse
import tempfile
import textwrap
import time
from pathlib import Path

import psutil

from bench.common import percentile
from responder.act.launcher import ENV_RUNTIME
from responder.act.runtime import Runtime
from responder.model import Priority
from responder.rules.budget import Period
from responder.rules.modes import Situation
from tests.conftest import enterable, fake_swarm_keys, write_config
from warden.config import load_config


def runtime(work: Path) -> Runtime:
    cfg = write_config(
        work / "warden.yml",
        f"""
        state_dir: {work / "state"}
        modes:
          ACTIVE: {{max_swarms: 100000}}  # the bench measures the runtime, not the mode's cap
        budget:
          ceilings: {{day: null}}  # nor the day's ceiling (B7): chatty agents show tokens
        swarms:
{textwrap.indent(fake_swarm_keys(), "        ")}          budget_usd: 0.01
          stuck_after: 1h
          kill_grace: 2s
          types:
            tests: {{env: {{FAKE_CLAUDE: 'turns=1,delay=0'}}}}
            monitor: {{env: {{FAKE_CLAUDE: 'mode=chatty,delay=0.05'}}}}
            cleanup: {{size: 10, env: {{FAKE_CLAUDE: 'mode=hang'}}}}
    """,
    )
    # A period with room for every run: the bench measures the runtime, not the budget.
    period = Period("ACTIVE", "bench", 1e6)
    return Runtime(load_config(cfg), situation=lambda: Situation("ACTIVE", 1, period, None, None))


def ms(values: list[float]) -> str:
    return f"p50={percentile(values, 50) * 1000:.1f} ms p99={percentile(values, 99) * 1000:.1f} ms"


def spawn(rt: Runtime, trials: int) -> None:
    started, first_output = [], []
    for _ in range(trials):
        t0 = time.perf_counter()
        swarm = rt.start_swarm("tests", Priority.HIGH, "bench", "")
        started.append(time.perf_counter() - t0)
        while True:
            rt.poll()
            agent = rt.store.agents(swarm.id)[0]
            if agent.first_output_at is not None:
                first_output.append(time.perf_counter() - t0)
                break
            time.sleep(0.01)
        while rt.store.swarm(swarm.id).state == "running":  # type: ignore[union-attr]
            rt.poll()
            time.sleep(0.01)
    print(
        f"spawn: {trials} swarms of 1 agent; process started {ms(started)}; "
        f"first output seen {ms(first_output)}"
    )


def watch(rt: Runtime, n: int, seconds: float) -> None:
    swarms = [rt.start_swarm("monitor", Priority.MEDIUM, "bench", "") for _ in range(n)]
    while any(a.state != "running" for a in rt.live_agents()):
        rt.poll()
        time.sleep(0.2)
    me = psutil.Process()
    lines0 = _log_lines(rt)
    cpu0, wall0 = me.cpu_times(), time.perf_counter()
    polls = []
    while time.perf_counter() - wall0 < seconds:
        t0 = time.perf_counter()
        rt.poll()
        polls.append(time.perf_counter() - t0)
        time.sleep(max(0.0, 0.2 - polls[-1]))
    cpu1, wall = me.cpu_times(), time.perf_counter() - wall0
    used = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    rate = (_log_lines(rt) - lines0) / wall
    print(
        f"watch: {n} chatty agents writing {rate:,.0f} lines/s for {wall:.0f} s: "
        f"runtime CPU {used / wall:.1%} of one core; one poll {ms(polls)}"
    )
    for s in swarms:
        rt.kill_swarm(s.id, "bench done")
    rt.wait_kills()


def _log_lines(rt: Runtime) -> int:
    return sum(p.read_bytes().count(b"\n") for p in rt.agents_dir.rglob("*.log"))


def kill(rt: Runtime, trials: int) -> None:
    latencies = []
    for _ in range(trials):
        swarm = rt.start_swarm("cleanup", Priority.LOW, "bench", "")
        while any(a.state != "running" for a in rt.live_agents()):
            rt.poll()
            time.sleep(0.01)
        t0 = time.perf_counter()
        rt.kill_swarm(swarm.id, "bench", wait=True)
        latencies.append(time.perf_counter() - t0)
        left = [p for p in psutil.process_iter() if _marked(p, rt.instance)]
        assert not left, left
    print(f"kill: {trials} swarms of 10 agents, every process gone: {ms(latencies)}")


def _marked(p: psutil.Process, instance: str) -> bool:
    try:
        return p.environ().get(ENV_RUNTIME) == instance and p.status() != "zombie"
    except psutil.Error:
        return False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--chatty", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="warden-bench-swarms-") as tmp:
        rt = runtime(enterable(Path(tmp)))  # the agents' user (nobody, as root) works in here
        try:
            spawn(rt, args.trials)
            watch(rt, args.chatty, args.seconds)
            kill(rt, max(10, args.trials // 2))
        finally:
            for s in rt.store.swarms("running"):
                rt.kill_swarm(s.id, "bench end")
            rt.close()


if __name__ == "__main__":
    main()
