"""Scenarios of `warden simulate`: what virtual agents do and which faults happen when.

A scenario is a YAML file (the shipped week: `scenarios/week.yml`): `start`
(when the run begins), `step` (the longest jump of the virtual clock), per
swarm type the agents' duration, cost and outcome weights (`default` for the
rest), and faults that happen `daily` at a local time on some `days` of the
run: an alert firing for a while (as Alertmanager would send it), every agent
killed from outside, the responder crashing, a storm of costly runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from warden.configreader import parse_duration

OUTCOMES = ("succeed", "fail", "crash", "hang", "silent", "stubborn")
"""succeed: a result, exit 0; fail: an error result, exit 1; crash: dies by a
signal with no result; hang: one line, then nothing until killed; silent:
nothing at all; stubborn: works, and ignores SIGTERM when killed."""
DEFAULT_SCENARIO = Path(__file__).with_name("scenarios") / "week.yml"


class ScenarioError(ValueError):
    """The scenario file is wrong; the message names the file and the key."""


@dataclass(frozen=True)
class AgentPlan:
    duration: tuple[float, float]
    cost: tuple[float, float]
    outcomes: dict[str, float]


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

    def plan(self, swarm_type: str) -> AgentPlan:
        return self.agents.get(swarm_type) or self.agents["default"]


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
    def seconds(value: Any, key: str) -> float:
        try:
            return parse_duration(str(value))
        except ValueError:
            raise ValueError(
                f"{key}: expected a duration such as 90s or 2h, got {value!r}"
            ) from None

    agents = {}
    for name, a in (raw.get("agents") or {}).items():
        weights = {str(k): float(v) for k, v in a["outcomes"].items()}
        unknown = set(weights) - set(OUTCOMES)
        if unknown:
            raise ValueError(f"agents.{name}.outcomes: unknown {sorted(unknown)}; known {OUTCOMES}")
        agents[str(name)] = AgentPlan(
            (
                seconds(a["duration"][0], f"agents.{name}"),
                seconds(a["duration"][1], f"agents.{name}"),
            ),
            (float(a["cost"][0]), float(a["cost"][1])),
            weights,
        )
    if "default" not in agents:
        raise ValueError("agents.default: required")
    faults = []
    for i, f in enumerate(raw.get("faults") or []):
        kind = next((k for k in ("alert", "kill_agents", "restart", "cost_storm") if k in f), None)
        if kind is None:
            raise ValueError(f"faults[{i}]: expected alert, kill_agents, restart or cost_storm")
        hh, mm = str(f["daily"]).split(":")
        faults.append(
            Fault(
                kind,
                int(hh) * 3600 + int(mm) * 60,
                tuple(int(d) for d in f.get("days", ())),
                seconds(f.get("lasts", "0s"), f"faults[{i}].lasts"),
                str(f.get("alert", "")),
                str(f.get("severity", "critical")),
                str(f.get("component", "")),
                float(f["cost_storm"]) if kind == "cost_storm" else 1.0,
            )
        )
    start = dt.datetime.fromisoformat(str(raw.get("start", "2026-11-23T00:00:00+00:00")))
    return Scenario(start, seconds(raw.get("step", "60s"), "step"), agents, tuple(faults))
