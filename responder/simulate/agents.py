"""Virtual agents for `warden simulate`: a launcher the runtime uses like the real one.

Each run's duration, cost and outcome are drawn from the scenario; its
stream-json lines (init, a turn a minute, the result) are written to its real
log file at virtual times, so the runtime follows and parses them as it does
Claude Code's. Kills end an agent at once, or after the grace for a stubborn
one that ignores SIGTERM.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from responder.act.launcher import ENV_AGENT, Placement, Process, Target
from responder.simulate.scenario import Scenario
from warden.config.resolve import DEFAULT_PRICES

MODEL = "claude-sonnet-simulated"
OUTPUT_USD_PER_TOKEN = DEFAULT_PRICES["sonnet"][1] / 1e6
"""A virtual turn's tokens are output tokens at Sonnet's list price."""
PROGRESS_SECONDS = 60.0
"""A working agent prints a line this often (a turn); hang and silent ones do not."""
REFUSED_AFTER_SECONDS = 2.0
"""How soon a run the API refuses (logged out, out of credit) ends."""
API_ERRORS = {
    "auth": ("authentication_failed", "Not logged in · Please run /login"),
    "billing": ("billing_error", "Credit balance is too low"),
}
"""Outcome -> the assistant event's `error` and the result's text, as Claude Code
prints them (examples/fake_claude.py has the same)."""


@dataclass
class SimAgent:
    pid: int
    agent: str
    log: Path
    started: float
    ends: float | None
    """When it ends by itself (None: never, a hang or a silent agent)."""
    outcome: str
    cost: float
    exit_code: int | None = None
    killed_at: float | None = None
    said_at: float = 0.0

    def poll(self) -> int | None:
        return self.exit_code


class SimStopping:
    def __init__(self, agents: list[SimAgent], clock: SimClock, grace: float) -> None:
        self.agents, self.clock, self.grace = agents, clock, grace
        self.overdue = False

    def step(self) -> bool:
        return all(a.exit_code is not None for a in self.agents)


class SimClock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class SimAgents:
    """A launcher of virtual agents; `advance` lets the virtual time act on them."""

    def __init__(self, clock: SimClock, scenario: Scenario, rng: random.Random) -> None:
        self.clock, self.scenario, self.rng = clock, scenario, rng
        self.agents: dict[int, SimAgent] = {}
        self.live: dict[int, SimAgent] = {}
        """The agents not known to have ended: a month's history is not walked each step."""
        self.cost_factor = 1.0
        self._next_pid = 1 << 22  # above any real pid: never mistaken for one

    def start(
        self,
        argv: Sequence[str],
        cwd: Path,
        env: Mapping[str, str],
        log: Path,
        placement: Placement,
    ) -> Process:
        day = int((self.clock() - self.scenario.start.timestamp()) // 86400) + 1
        plan = self.scenario.plan(env.get("WARDEN_SWARM_TYPE", ""), day)
        outcome = self.rng.choices(list(plan.outcomes), list(plan.outcomes.values()))[0]
        now = self.clock()
        ends = None if outcome in ("hang", "silent") else now + self.rng.uniform(*plan.duration)
        cost = round(self.rng.uniform(*plan.cost) * self.cost_factor, 4)
        if outcome in API_ERRORS:  # the API refuses it at its first turn
            ends, cost = now + REFUSED_AFTER_SECONDS, 0.0
        self._next_pid += 1
        agent = SimAgent(self._next_pid, env.get(ENV_AGENT, ""), log, now, ends, outcome, cost)
        self.agents[agent.pid] = self.live[agent.pid] = agent
        if outcome != "silent":
            _emit(log, {"type": "system", "subtype": "init", "session_id": agent.agent})
            agent.said_at = now
        return agent

    def start_time(self, pid: int) -> float | None:
        agent = self.agents.get(pid)
        return None if agent is None else agent.started

    def alive(self, pid: int | None, start_time: float | None) -> bool:
        agent = self.agents.get(pid or -1)
        return agent is not None and agent.exit_code is None

    kill_method = "simulated"

    def terminate(self, targets: list[Target], grace: float) -> SimStopping:
        now = self.clock()
        agents = [self.agents[t.pid] for t in targets if t.pid in self.agents]
        for a in agents:
            if a.exit_code is None:
                a.killed_at = now
                if a.outcome != "stubborn":
                    a.exit_code = -15
                else:
                    a.ends = now + grace  # SIGKILL after the grace
        return SimStopping(agents, self.clock, grace)

    def marked(self, instance: str) -> list[tuple[int, str | None]]:
        return []  # no real process carries the mark

    def kill(self, pids: list[int]) -> None:
        for pid in pids:
            if pid in self.agents:
                self.agents[pid].exit_code = -9

    def forget(self, swarm: str, agent: str) -> None:
        """Virtual agents leave nothing behind."""

    def agent_cgroups(self) -> set[str]:
        return set()  # virtual agents have no cgroups

    def sweep(self, known: set[str]) -> None:
        """Virtual agents have no cgroups."""

    def settle(self) -> None:
        """Nothing to settle."""

    def kill_all(self) -> int:
        """Every live agent dies at once, from outside (the seed's "all swarms die")."""
        live = [a for a in self.live.values() if a.exit_code is None]
        for a in live:
            a.exit_code = -9
        return len(live)

    def advance(self) -> None:
        """Agents whose time came end: their last lines, then their exit."""
        now = self.clock()
        self.live = {pid: a for pid, a in self.live.items() if a.exit_code is None}
        for a in self.live.values():
            if a.exit_code is not None or a.ends is None:
                continue
            if a.ends > now:
                if a.killed_at is None and now - a.said_at >= PROGRESS_SECONDS:
                    _emit(a.log, _turn(a, now))  # progress, and what it used
                    a.said_at = now
                continue
            if a.killed_at is not None:  # a stubborn agent, SIGKILLed after its grace
                a.exit_code = -9
            elif a.outcome in ("succeed", "stubborn"):
                _emit(a.log, _result(a, False))
                a.exit_code = 0
            elif a.outcome == "fail":
                _emit(a.log, _result(a, True))
                a.exit_code = 1
            elif a.outcome in API_ERRORS:
                error, text = API_ERRORS[a.outcome]
                _emit(a.log, {"type": "assistant", "session_id": a.agent, "error": error})
                _emit(a.log, {**_result(a, True), "subtype": "success", "result": text})
                a.exit_code = 1
            else:  # crash
                a.exit_code = -11

    def next_end(self) -> float | None:
        ends = [a.ends for a in self.live.values() if a.exit_code is None and a.ends]
        return min(ends, default=None)


def _turn(a: SimAgent, now: float) -> dict[str, Any]:
    """A turn, showing the tokens of the share of the run's cost it used: a run killed
    midway is charged about that share (B6), as a real one is from its stream."""
    assert a.ends is not None
    used = a.cost * (now - a.said_at) / max(a.ends - a.started, 1.0)
    message = {
        "id": f"{a.agent}-{now:.0f}",
        "model": MODEL,
        "usage": {"input_tokens": 0, "output_tokens": round(used / OUTPUT_USD_PER_TOKEN)},
    }
    return {"type": "assistant", "session_id": a.agent, "message": message}


def _result(a: SimAgent, error: bool) -> dict[str, Any]:
    return {
        "type": "result",
        "subtype": "error_during_execution" if error else "success",
        "is_error": error,
        "total_cost_usd": a.cost,
        "num_turns": 3,
        "duration_ms": 1000,
        "session_id": a.agent,
    }


def _emit(log: Path, obj: dict[str, Any]) -> None:
    with log.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(obj) + "\n")
