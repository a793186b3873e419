"""Scenarios of `warden simulate`: what virtual agents do and which faults happen when.

A scenario is a YAML file (the shipped week: `scenarios/week.yml`): `start`
(when the run begins), `step` (the longest jump of the virtual clock), per
swarm type the agents' duration, cost and outcome weights (`default` for the
rest), and faults that happen `daily` at a local time on some `days` of the
run: an alert firing for a while (as Alertmanager would send it), every agent
killed from outside, the responder crashing, a storm of costly runs.
`changes` give some types new plans from a day of the run on (a choice that
worked turns bad), and `cadence` runs the jobs J1, J2, J5 and J7 at longer
intervals than the real ones, for runs of weeks where minutes do not matter.
`recoveries` say how the recovery commands (A5) run, per recovery name or
`default`: how long and how they end (succeed, fail, hang); none runs for real.
Where a type works apart, its swarms' work is verified on a virtual project
(responder.simulate.project): a plan's `verifies` is the share of claimed
successes the checks take, and `areas` how many parts the project has (two
swarms on one part conflict).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from warden.config.values import parse_duration

OUTCOMES = ("succeed", "fail", "crash", "hang", "silent", "stubborn", "auth", "billing")
"""succeed: a result, exit 0; fail: an error result, exit 1; crash: dies by a
signal with no result; hang: one line, then nothing until killed; silent:
nothing at all; stubborn: works, and ignores SIGTERM when killed; auth and
billing: refused by the API at once, as Claude Code prints it when logged out
or out of credit ($0, exit 1): permanent failures, which the breaker pauses."""
RECOVERY_OUTCOMES = ("succeed", "fail", "hang")
"""How a simulated recovery command ends: exit 0, exit 1, or not until its timeout."""
CADENCE_JOBS = ("J1", "J2", "J5", "J7")
DEFAULT_SCENARIO = Path(__file__).with_name("scenarios") / "week.yml"


class ScenarioError(ValueError):
    """The scenario file is wrong; the message names the file and the key."""


@dataclass(frozen=True)
class AgentPlan:
    duration: tuple[float, float]
    cost: tuple[float, float]
    outcomes: dict[str, float]
    verifies: float = 1.0
    """Of the swarms whose agents all claim success, the share whose work the checks
    take (where the type works apart: `isolation: worktree`)."""


@dataclass(frozen=True)
class RecoveryPlan:
    duration: tuple[float, float]
    outcomes: dict[str, float]


QUICK_RECOVERY = RecoveryPlan((30.0, 30.0), {"succeed": 1.0})
"""A recovery command the scenario says nothing of: it works in 30 s."""


@dataclass(frozen=True)
class Fault:
    kind: str
    """alert, kill_agents, restart, cost_storm."""
    daily: float
    """Seconds after local midnight."""
    days: tuple[int, ...]
    """Days of the run (1-based) it happens on; () for every day."""
    lasts: float = 0.0
    alert: str = ""
    severity: str = "critical"
    component: str = ""
    factor: float = 1.0


@dataclass(frozen=True)
class Scenario:
    start: dt.datetime
    step: float
    agents: dict[str, AgentPlan]
    faults: tuple[Fault, ...]
    changes: tuple[tuple[int, dict[str, AgentPlan]], ...] = ()
    """(day of the run, 1-based; the plans that replace those of the same types then)."""
    cadence: dict[str, float] = field(default_factory=dict)
    """Job -> interval in the simulation (J1's replaces the mode's heartbeat)."""
    areas: int = 8
    """Parts of the virtual project a swarm's change touches one of: two swarms that
    change the same one from the same base conflict."""
    recoveries: dict[str, RecoveryPlan] = field(default_factory=dict)
    """Recovery name (or `default`) -> how its command runs; none runs for real."""

    def recovery(self, name: str) -> RecoveryPlan:
        return self.recoveries.get(name) or self.recoveries.get("default") or QUICK_RECOVERY

    def plan(self, swarm_type: str, day: int = 1) -> AgentPlan:
        """The plan of a type on a day of the run (the latest change up to that day)."""
        plans = dict(self.agents)
        for since, changed in self.changes:
            if since <= day:
                plans.update(changed)
        return plans.get(swarm_type) or plans["default"]


def load_scenario(path: Path) -> Scenario:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: {exc}") from exc
    try:
        return parse_scenario(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise ScenarioError(f"{path}: {exc}") from exc


def parse_scenario(raw: Mapping[str, Any]) -> Scenario:
    agents = _plans(raw.get("agents") or {}, "agents")
    changes = tuple(
        (int(c["day"]), _plans(c["agents"], f"changes[{i}].agents"))
        for i, c in enumerate(raw.get("changes") or [])
    )
    cadence = {}
    for job, every in (raw.get("cadence") or {}).items():
        if job not in CADENCE_JOBS:
            raise ValueError(f"cadence.{job}: not a simulated job's interval; known {CADENCE_JOBS}")
        cadence[str(job)] = _seconds(every, f"cadence.{job}")
    if "default" not in agents:
        raise ValueError("agents.default: required")
    faults = tuple(_fault(f, i) for i, f in enumerate(raw.get("faults") or []))
    start = dt.datetime.fromisoformat(str(raw.get("start", "2026-11-23T00:00:00+00:00")))
    areas = int(raw.get("areas", 8))
    if areas < 1:
        raise ValueError("areas: expected an integer >= 1")
    step = _seconds(raw.get("step", "60s"), "step")
    recoveries = {
        str(name): _recovery(r, f"recoveries.{name}")
        for name, r in (raw.get("recoveries") or {}).items()
    }
    return Scenario(start, step, agents, faults, changes, cadence, areas, recoveries)


def _recovery(raw: Mapping[str, Any], key: str) -> RecoveryPlan:
    weights = {str(k): float(v) for k, v in raw["outcomes"].items()}
    unknown = set(weights) - set(RECOVERY_OUTCOMES)
    if unknown:
        raise ValueError(f"{key}.outcomes: unknown {sorted(unknown)}; known {RECOVERY_OUTCOMES}")
    low, high = (_seconds(d, key) for d in raw["duration"])
    return RecoveryPlan((low, high), weights)


def _seconds(value: Any, key: str) -> float:
    try:
        return parse_duration(str(value))
    except ValueError:
        raise ValueError(f"{key}: expected a duration such as 90s or 2h, got {value!r}") from None


def _plans(section: Mapping[str, Any], key: str) -> dict[str, AgentPlan]:
    out = {}
    for name, a in section.items():
        weights = {str(k): float(v) for k, v in a["outcomes"].items()}
        unknown = set(weights) - set(OUTCOMES)
        if unknown:
            raise ValueError(f"{key}.{name}.outcomes: unknown {sorted(unknown)}; known {OUTCOMES}")
        verifies = float(a.get("verifies", 1.0))
        if not 0.0 <= verifies <= 1.0:
            raise ValueError(f"{key}.{name}.verifies: expected a share from 0 to 1")
        out[str(name)] = AgentPlan(
            (
                _seconds(a["duration"][0], f"{key}.{name}"),
                _seconds(a["duration"][1], f"{key}.{name}"),
            ),
            (float(a["cost"][0]), float(a["cost"][1])),
            weights,
            verifies,
        )
    return out


def _fault(f: Mapping[str, Any], i: int) -> Fault:
    kind = next((k for k in ("alert", "kill_agents", "restart", "cost_storm") if k in f), None)
    if kind is None:
        raise ValueError(f"faults[{i}]: expected alert, kill_agents, restart or cost_storm")
    hh, mm = str(f["daily"]).split(":")
    return Fault(
        kind,
        int(hh) * 3600 + int(mm) * 60,
        tuple(int(d) for d in f.get("days", ())),
        _seconds(f.get("lasts", "0s"), f"faults[{i}].lasts"),
        str(f.get("alert", "")),
        str(f.get("severity", "critical")),
        str(f.get("component", "")),
        float(f["cost_storm"]) if kind == "cost_storm" else 1.0,
    )
