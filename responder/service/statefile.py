"""The state file (S): the seed's JSON view of Warden, for people and for restarts.

Written atomically (a temp file, fsync, rename) when its content changed or a
heartbeat of the mode passed, never more, so a reader never sees half a file
and an idle responder does not rewrite it five times a second. The durable
truth is SQLite; this file is its summary in the seed's shape, and `warden
status` reads it without needing the responder to run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from responder.act.snapshot import Snapshot
from responder.observe.decisions import SEED_MODE_NAMES
from responder.rules.modes import Situation
from warden.atomicfile import write_atomic
from warden.config import Config

VERSION = "4.0"


def build(
    config: Config,
    situation: Situation,
    snap: Snapshot,
    view: dict[str, Any],
    full_check: float | None,
    event: tuple[str, float] | None,
    heartbeat: float,
) -> dict[str, Any]:
    """From the worker's published view and the runtime's snapshot (no store reads);
    `full_check`: when the last full check ran; `event`: the next scheduled one."""
    mode = config.modes[situation.mode]
    facts = snap.facts
    firing = {a[0] for a in view["firing"]}
    last = view["last_crisis"]
    ms = 1000
    return {
        "version": VERSION,
        "mode": SEED_MODE_NAMES[situation.mode],
        "lastHeartbeat": int(heartbeat * ms),
        "lastFullCheck": None if full_check is None else int(full_check * ms),
        "status": {3: "CRISIS", 2: "DEGRADED", 1: "HEALTHY"}[situation.escalation],
        "operationalState": {
            "activeSwarms": len(snap.running),
            "maxSwarms": mode.max_swarms,
            "budgetRemaining": round(max(0.0, facts.period.cap_usd - facts.period_spend), 4),
            "budgetDaily": config.budget.caps["ACTIVE"],
            "budgetPeriod": facts.period.key,
            "budgetTier": facts.tier_name,
            "budgetCeilings": {
                c.name: {"capUsd": c.cap_usd, "spendUsd": round(c.spend_usd, 4)}
                for c in facts.ceilings
            },
            "agentsStuck": sum(1 for a in snap.live if a.state == "stuck"),
            "buildStatus": "FAILING" if "BuildFailing" in firing else "PASSING",
            "firingAlerts": sorted(firing),
            "deadLetters": view["dead_letter_count"],
            "pausedSwarmTypes": [
                {"type": p["type"], "class": p["cls"], "error": p["error"]} for p in view["paused"]
            ],
        },
        "modeConfig": {
            "heartbeatMs": int(mode.heartbeat * ms),
            "crisisWakeMs": int(mode.crisis_wake * ms),
            "maxSwarms": mode.max_swarms,
            "budgetLimit": situation.period.cap_usd,
            "allowedPriorities": list(mode.priorities),
            "nightModeStart": config.schedule.night_start.strftime("%H:%M"),
            "nightModeEnd": config.schedule.day_start.strftime("%H:%M"),
        },
        "escalationLevel": situation.escalation,
        "lastCrisis": None
        if last is None
        else {
            "startedAt": int(last[0] * ms),
            "endedAt": None if last[1] is None else int(last[1] * ms),
        },
        "recentDecisions": [
            {**{k: v for k, v in d.items() if k != "at"}, "timestamp": int(d["at"] * ms)}
            for d in view["decisions"]
        ],
        "pendingActions": [
            {"agent": a.id, "retryAt": int((a.retry_at or 0) * ms)} for a in view["pending"]
        ],
        "nightModeActive": situation.mode == "NIGHT",
        "maintenanceUntil": None
        if situation.maintenance_until is None
        else int(situation.maintenance_until * ms),
        "nextScheduledEvent": None if event is None else f"{event[0]} at {int(event[1] * ms)}",
    }


def content_key(state: dict[str, Any]) -> dict[str, Any]:
    """The state without its heartbeat: what must change for a write between heartbeats
    (compared as dicts: encoding it on every step cost the simulator 15 % of its time)."""
    return {k: v for k, v in state.items() if k not in ("lastHeartbeat", "lastFullCheck")}


def write(path: Path, state: dict[str, Any]) -> None:
    """One top-level key per line, each value encoded by json's C encoder (an indented
    dump takes the pure-Python one: 1.2 ms a write, the simulator's largest cost);
    `warden status --json` prints it indented."""
    lines = (f"{json.dumps(k)}: {json.dumps(state[k], sort_keys=True)}" for k in sorted(state))
    write_atomic(path, ("{\n" + ",\n".join(lines) + "\n}\n").encode())
