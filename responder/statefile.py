"""The state file (S): the seed's JSON view of Warden, for people and for restarts.

Written atomically (a temp file, fsync, rename) after every worker cycle in
which something changed, so a reader never sees half a file. The durable
truth is SQLite; this file is its summary in the seed's shape, and `warden
status` reads it without needing the responder to run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from responder.modes import Situation
from responder.runtime import Runtime
from warden.atomicfile import write_atomic

VERSION = "4.0"
SEED_MODE_NAMES = {
    "ACTIVE": "ACTIVE_DEVELOPMENT",
    "NIGHT": "NIGHT",
    "MAINTENANCE": "MAINTENANCE",
    "CRISIS": "CRISIS",
}


def build(runtime: Runtime, situation: Situation, heartbeat: float) -> dict[str, Any]:
    config, store = runtime.config, runtime.store
    mode = config.modes[situation.mode]
    running = store.swarms("running")
    spend = store.spend(situation.period.key)
    firing = {a[0] for a in store.firing()}
    last = store.last_crisis()
    ms = 1000
    return {
        "version": VERSION,
        "mode": SEED_MODE_NAMES[situation.mode],
        "lastHeartbeat": int(heartbeat * ms),
        "lastFullCheck": int(heartbeat * ms),
        "status": {3: "CRISIS", 2: "DEGRADED", 1: "HEALTHY"}[situation.escalation],
        "operationalState": {
            "activeSwarms": len(running),
            "maxSwarms": mode.max_swarms,
            "budgetRemaining": round(max(0.0, situation.period.cap_usd - spend), 4),
            "budgetDaily": config.budget.caps["ACTIVE"],
            "budgetPeriod": situation.period.key,
            "agentsStuck": sum(1 for a in runtime.live_agents() if a.state == "stuck"),
            "buildStatus": "FAILING" if "BuildFailing" in firing else "PASSING",
            "firingAlerts": sorted(firing),
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
        "recentDecisions": [{**d, "timestamp": int(d.pop("at") * ms)} for d in store.decisions(20)],
        "pendingActions": [
            {"agent": a.id, "retryAt": int((a.retry_at or 0) * ms)}
            for a in store.agents(states=("waiting",))
        ],
        "nightModeActive": situation.mode == "NIGHT",
        "maintenanceUntil": None
        if situation.maintenance_until is None
        else int(situation.maintenance_until * ms),
        "nextScheduledEvent": None,
    }


def write(path: Path, state: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(state, indent=1, sort_keys=True).encode())
