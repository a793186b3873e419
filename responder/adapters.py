"""Read what an agent prints: progress, and at the end what it cost and whether it failed.

Claude Code's headless mode (`claude -p --output-format stream-json`) prints
one JSON object a line; every one is an event (progress), and the last, of
type `result`, carries `total_cost_usd`, `is_error`, `subtype`, `num_turns`
and `duration_ms`. The cost is that run's own total: it is recorded once per
agent run in the ledger, never summed from running counters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunResult:
    cost_usd: float | None
    is_error: bool
    subtype: str = ""
    num_turns: int | None = None
    duration_ms: int | None = None


@dataclass
class Adapter:
    """Generic: every output line is progress; a JSON line with a cost is the result."""

    result: RunResult | None = None
    events: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    def feed(self, line: bytes) -> bool:
        """Take one output line; True if it shows progress."""
        if not line.strip():
            return False
        self.events += 1
        obj = _json(line)
        if obj is not None:
            self._read_cost(obj)
        return True

    def _read_cost(self, obj: dict[str, Any]) -> None:
        for key in ("total_cost_usd", "cost_usd", "cost"):
            value = obj.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                self.result = RunResult(float(value), bool(obj.get("is_error", False)))
                return


class ClaudeAdapter(Adapter):
    """stream-json: JSON events are progress; stderr noise between them is not."""

    def feed(self, line: bytes) -> bool:
        obj = _json(line)
        if obj is None or "type" not in obj:
            return False
        self.events += 1
        if obj["type"] == "system" and obj.get("subtype") == "init":
            self.details["session_id"] = obj.get("session_id")
        if obj["type"] == "result":
            cost = obj.get("total_cost_usd")
            self.result = RunResult(
                cost_usd=float(cost) if isinstance(cost, int | float) else None,
                is_error=bool(obj.get("is_error", False)),
                subtype=str(obj.get("subtype", "")),
                num_turns=obj.get("num_turns"),
                duration_ms=obj.get("duration_ms"),
            )
        return True


def make_adapter(kind: str) -> Adapter:
    return ClaudeAdapter() if kind == "claude" else Adapter()


def _json(line: bytes) -> dict[str, Any] | None:
    text = line.strip()
    if not text.startswith(b"{"):
        return None
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None
