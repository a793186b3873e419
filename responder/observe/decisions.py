"""One short sentence per decision, for a person: the live view and `warden status`.

The decision log keeps every figure a decision was made on (J1 stores its
whole snapshot); a person reading a terminal wants what was decided. Each
kind has its sentence; a kind without one shows its fields, each shortened.
Modes are shown by Warden's names everywhere (ACTIVE, NIGHT, MAINTENANCE,
CRISIS); only the state file keeps the seed's (ACTIVE_DEVELOPMENT).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

SEED_MODE_NAMES = {
    "ACTIVE": "ACTIVE_DEVELOPMENT",
    "NIGHT": "NIGHT",
    "MAINTENANCE": "MAINTENANCE",
    "CRISIS": "CRISIS",
}
MODE_FROM_SEED = {seed: mode for mode, seed in SEED_MODE_NAMES.items()}
LEVELS = {1: "HEALTHY", 2: "DEGRADED", 3: "CRISIS"}
FIELD_CHARS = 60


def mode_name(name: str) -> str:
    """Warden's name of a mode, given either its own or the seed's."""
    return MODE_FROM_SEED.get(name, name)


def level_name(escalation: int) -> str:
    return f"{escalation} {LEVELS.get(escalation, '?')}"


def _short(value: Any, chars: int = FIELD_CHARS) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _alert(d: Mapping[str, Any]) -> str:
    return f"{d.get('alert')}: {_short(d.get('outcome', ''), 90)}"


def _mode(d: Mapping[str, Any]) -> str:
    return (
        f"mode {mode_name(str(d.get('from')))} -> {mode_name(str(d.get('to')))}"
        f" (level {level_name(int(d.get('escalation', 0)))})"
    )


def trigger_name(trigger: str) -> str:
    """What started a swarm, for a person: the alert or job, not its fingerprint."""
    kind, _, rest = trigger.partition(":")
    if kind in ("alert", "job"):
        return rest.partition(":")[0]
    return trigger


def _spawn(d: Mapping[str, Any]) -> str:
    size = d.get("size", 1)
    trigger = _short(trigger_name(str(d.get("trigger", ""))), 40)
    return (
        f"started {d.get('type')} {d.get('priority')} {d.get('swarm')}"
        f"{f' x{size}' if size != 1 else ''} for {trigger}"
    )


def _end(d: Mapping[str, Any]) -> str:
    return f"swarm {d.get('swarm')} {d.get('state')}: {_short(d.get('reason', ''), 80)}"


def _refused(d: Mapping[str, Any]) -> str:
    what = d.get("type") or d.get("path")
    times = f" x{d['count']}" if int(d.get("count") or 1) > 1 else ""
    return f"refused {what}{times} ({d.get('reason')}): {_short(d.get('detail', ''), 70)}"


def _wake(d: Mapping[str, Any]) -> str:
    actions = d.get("actions") or []
    if d.get("decision") == "ladder":  # the watch of the problems' ladders: what it did
        return f"ladder (J1): {_short('; '.join(actions), 80)}"
    done = f"; {len(actions)} action(s)" if actions else ""
    return f"wake (J1): {_short(d.get('decision', ''), 70)}{done}"


def _recovery(d: Mapping[str, Any]) -> str:
    detail = f": {_short(d['detail'], 50)}" if d.get("detail") else ""
    return f"recovery {d.get('recovery')} for {d.get('alert')}: {d.get('step')}{detail}"


def _verified(d: Mapping[str, Any]) -> str:
    """What the checks said of a swarm's work, and where it went."""
    failed = "; ".join(str(f) for f in d.get("failed") or [])
    landed = f", landed {str(d['landed'])[:12]}" if d.get("landed") else ""
    why = f": {_short(failed, 60)}" if failed else ""
    return f"swarm {d.get('swarm')} {d.get('outcome')}{why}{landed}"


SENTENCES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "alert": _alert,
    "mode": _mode,
    "spawn": _spawn,
    "swarm_end": _end,
    "verifying": lambda d: f"swarm {d.get('swarm')} ({d.get('type')}) done: its work is checked",
    "verified": _verified,
    "work_not_landed": lambda d: (
        f"swarm {d.get('swarm')}'s work and its first try's ({d.get('retry_of')}) refused: "
        f"{_short(d.get('action', ''), 40)}"
    ),
    "refused": _refused,
    "J1": _wake,
    "J2": lambda d: f"minimum swarms (J2): {_short(d.get('decision', ''), 70)}",
    "J5": lambda d: f"budget tier {d.get('tier')} (J5)",
    "J9": lambda d: f"mode switch (J9): {mode_name(str(d.get('mode')))}",
    "paused": lambda d: f"paused {d.get('type')} ({d.get('class')}): {_short(d.get('error'), 60)}",
    "resumed": lambda d: f"resumed {d.get('type')} (was {d.get('class')})",
    "retried": lambda d: f"a person asked to try {d.get('alertname')} again",
    "recovery": _recovery,
    "agent_stuck": lambda d: f"agent {d.get('agent')} stuck: {_short(d.get('why', ''), 60)}",
    "cost_refused": lambda d: (
        f"agent {d.get('agent')} reported {_short(d.get('reported'), 20)} as its cost: "
        f"not a cost, charged ${float(d.get('charged_usd') or 0):.2f}"
    ),
    "reconciled": lambda d: f"{d.get('closed')} episode(s) Alertmanager no longer holds: closed",
}
HIDDEN = {"at", "timestamp", "kind", "snapshot", "fingerprint", "startsAt"}


def describe(decision: Mapping[str, Any]) -> str:
    """The sentence of one decision (as the status API or the state file has it)."""
    kind = str(decision.get("kind", "?"))
    sentence = SENTENCES.get(kind)
    if sentence is not None:
        return sentence(decision)
    fields = ", ".join(
        f"{k}={_short(v, 40)}" for k, v in sorted(decision.items()) if k not in HIDDEN
    )
    return f"{kind}: {fields}"


def decided_at(decision: Mapping[str, Any]) -> float:
    """When, in Unix seconds: the API says `at`, the state file `timestamp` in ms."""
    if "at" in decision:
        return float(decision["at"])
    return float(decision.get("timestamp", 0)) / 1000
