"""Recovery commands in `warden simulate`: none runs. Each run's duration and end
(exit 0, exit 1, or a hang until its timeout kills it) are drawn from the
scenario's `recoveries`, on the virtual clock; its log says it was simulated.
A simulation touches nothing real: a recovery such as `warden cleanup` or a
gateway's restart would act on the real host."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from responder.act.commands import Started
from responder.simulate.scenario import Scenario


@dataclass
class SimCommand:
    pid: int
    ends: float | None
    """When it exits by itself (None: a hang)."""
    code: int
    exit_code: int | None = None

    def poll(self) -> int | None:
        return self.exit_code


class Stopped:
    """A virtual command stops at once."""

    overdue = False

    def step(self) -> bool:
        return True


class SimCommands:
    """The recovery commands of a simulated run (one for all its responders)."""

    def __init__(self, scenario: Scenario, rng: random.Random, clock: Callable[[], float]) -> None:
        self.scenario, self.rng, self.clock = scenario, rng, clock
        self.runs: dict[int, SimCommand] = {}
        self._next_pid = 1 << 23  # above any real pid, and apart from the agents'

    def run(
        self, name: str, argv: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path
    ) -> Started:
        plan = self.scenario.recovery(name)
        outcome = self.rng.choices(list(plan.outcomes), list(plan.outcomes.values()))[0]
        now = self.clock()
        ends = None if outcome == "hang" else now + self.rng.uniform(*plan.duration)
        self._next_pid += 1
        cmd = SimCommand(self._next_pid, ends, 0 if outcome == "succeed" else 1)
        self.runs[cmd.pid] = cmd
        with log.open("a", encoding="utf-8") as out:  # in the run's own state
            out.write(f"simulated {name}: {outcome} (nothing was run)\n")
        return Started(cmd, now)

    def alive(self, pid: int | None, start_time: float | None) -> bool:
        cmd = self.runs.get(pid or -1)
        return cmd is not None and cmd.exit_code is None

    def stop(self, pid: int, grace: float) -> Stopped:
        cmd = self.runs.get(pid)
        if cmd is not None and cmd.exit_code is None:
            cmd.exit_code = -15
        return Stopped()

    def advance(self) -> None:
        now = self.clock()
        for cmd in self.runs.values():
            if cmd.exit_code is None and cmd.ends is not None and cmd.ends <= now:
                cmd.exit_code = cmd.code

    def next_end(self) -> float | None:
        ends = [c.ends for c in self.runs.values() if c.exit_code is None and c.ends is not None]
        return min(ends, default=None)
