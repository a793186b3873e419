"""Read what an agent prints: progress, and at the end what it cost and whether it failed.

Claude Code's headless mode (`claude -p --output-format stream-json`) prints
one JSON object a line; every one is an event (progress), and the last, of
type `result`, carries `total_cost_usd`, `is_error`, `subtype`, `num_turns`
and `duration_ms`. The cost is that run's own total: it is recorded once per
agent run in the ledger, never summed from running counters.

When a run fails, the adapter says why (`failure`, a class from
`responder.rules.failures`) with the agent's own words: the error result's text,
or the last line it printed (a program that refuses its arguments prints
only to stderr, which shares the log).
"""

from __future__ import annotations

import json
import math
import signal
from dataclasses import dataclass, field
from typing import Any

from responder.rules.failures import Failure, FailureClass, classify_exit, classify_result, short


def reported_cost(value: object) -> float | None:
    """A cost as the ledger may book it: a finite, non-negative number; anything else
    (NaN, an infinity, a negative amount, a string, a boolean) is not a cost.

    An agent's output is a claim, not a figure to trust: a negative amount would
    give back budget and NaN would make every cap comparison false."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    amount = float(value)
    return amount if math.isfinite(amount) and amount >= 0 else None


@dataclass
class RunResult:
    cost_usd: float | None
    """None when the run reported none, or reported what is not a cost."""
    is_error: bool
    subtype: str = ""
    num_turns: int | None = None
    duration_ms: int | None = None


@dataclass(frozen=True)
class Usage:
    """One API answer's tokens, as an agent's stream showed them."""

    model: str
    input: int
    output: int
    cache_write: int
    cache_read: int

    @classmethod
    def of(cls, message: dict[str, Any], model: str) -> Usage | None:
        """From an `assistant` event's message; None if it shows no usage. Counts that
        are not whole non-negative numbers count 0: a stream is a claim."""
        usage = message.get("usage")
        if not isinstance(usage, dict):
            return None
        name = message.get("model")
        return cls(
            name if isinstance(name, str) and name else model,
            *(
                _tokens(usage.get(k))
                for k in (
                    "input_tokens",
                    "output_tokens",
                    "cache_creation_input_tokens",
                    "cache_read_input_tokens",
                )
            ),
        )


def _tokens(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return max(value, 0)


@dataclass
class Adapter:
    """Generic: every output line is progress; a JSON line with a cost is the result
    (whether that cost is one the ledger may book is for `reported_cost` to say)."""

    result: RunResult | None = None
    events: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    last_text: str = ""
    """The last non-empty line that was not an event (stderr, a traceback's end)."""
    error_class: FailureClass | None = None
    error_text: str = ""
    retry_after: float | None = None
    refused_cost: str | None = None
    """What the run reported as its cost when that was not one (`reported_cost`),
    as it was printed: the run is charged as one that reported nothing."""
    usage: dict[str, Usage] = field(default_factory=dict)
    """Message id -> the tokens its API answer used, as the stream showed them (the
    last event of a message holds its total)."""
    began: bool = False
    """The agent's stream began (Claude Code's init line): it ran as the agent."""

    def usage_cost(self, prices: dict[str, tuple[float, float, float, float]]) -> float | None:
        """What the tokens the stream showed cost at `prices` (the longest part of a
        model's name first); 0 for a stream that began and showed no answer yet; None
        when it cannot tell (nothing began, or a model no price names)."""
        if not self.usage:
            return 0.0 if self.began else None
        total = 0.0
        for u in self.usage.values():
            price = next((p for part, p in prices.items() if part in u.model), None)
            if price is None:
                return None
            counts = (u.input, u.output, u.cache_write, u.cache_read)
            total += sum(n * usd for n, usd in zip(counts, price, strict=True)) / 1e6
        return total

    def feed(self, line: bytes) -> bool:
        """Take one output line; True if it shows progress."""
        if not line.strip():
            return False
        self.events += 1
        obj = _json(line)
        if obj is not None:
            self._read_cost(obj)
        else:
            self.last_text = _text(line)
        return True

    def failure(self, exit_code: int | None) -> Failure:
        """Why the run failed: its error result if it printed one, else its exit."""
        cls = self.error_class or classify_exit(exit_code, self.events > 0)
        text = self.error_text or self.last_text
        if not text and exit_code is not None and exit_code >= 0:
            text = f"exit code {exit_code}"
        elif not text and exit_code is not None:
            text = f"killed by {_signal(-exit_code)}"
        return Failure(cls, short(text), self.retry_after)

    def _read_cost(self, obj: dict[str, Any]) -> None:
        for key in ("total_cost_usd", "cost_usd", "cost"):
            if obj.get(key) is not None:
                self.result = RunResult(self._cost(obj[key]), bool(obj.get("is_error", False)))
                if self.result.is_error:
                    self.error_class = FailureClass.OTHER
                    self.error_text = str(obj.get("error") or obj.get("result") or "")
                return

    def _cost(self, value: object) -> float | None:
        """The reported cost, or None (and the report kept in `refused_cost`)."""
        cost = reported_cost(value)
        self.refused_cost = None if cost is not None or value is None else _shown(value)
        return cost


@dataclass
class ClaudeAdapter(Adapter):
    """stream-json: JSON events are progress; stderr noise between them is not
    (but its last line is kept: it is all a refused argument leaves)."""

    assistant_error: str | None = None

    def feed(self, line: bytes) -> bool:
        obj = _json(line)
        if obj is None or "type" not in obj:
            if line.strip():
                self.last_text = _text(line)
            return False
        self.events += 1
        kind = obj["type"]
        if kind == "system" and obj.get("subtype") == "init":
            self.details["session_id"] = obj.get("session_id")
            self.details["model"] = obj.get("model")
            self.began = True
        elif kind == "system" and obj.get("subtype") == "api_retry":
            # The CLI retries the API itself and says how long it was told to
            # wait; if it gives up, Warden waits at least as long.
            delay = obj.get("retry_delay_ms")
            if isinstance(delay, int | float) and not isinstance(delay, bool):
                self.retry_after = float(delay) / 1000
            if isinstance(obj.get("error"), str):
                self.assistant_error = self.assistant_error or obj["error"]
        elif kind == "assistant":
            self._read_answer(obj)
        elif kind == "result":
            self._read_result(obj)
        return True

    def _read_answer(self, obj: dict[str, Any]) -> None:
        if isinstance(obj.get("error"), str):
            self.assistant_error = obj["error"]
            self.error_text = _message_text(obj) or self.error_text
        message = obj.get("message")
        if not isinstance(message, dict):
            return
        model = self.details.get("model")
        used = Usage.of(message, model if isinstance(model, str) else "")
        if used is not None:
            mid = message.get("id")
            self.usage[mid if isinstance(mid, str) else f"#{self.events}"] = used

    def _read_result(self, obj: dict[str, Any]) -> None:
        self.result = RunResult(
            cost_usd=self._cost(obj.get("total_cost_usd")),
            is_error=bool(obj.get("is_error", False)),
            subtype=str(obj.get("subtype", "")),
            num_turns=obj.get("num_turns"),
            duration_ms=obj.get("duration_ms"),
        )
        self.error_class = classify_result(obj, self.assistant_error)
        if self.error_class is None:
            return
        self.result.is_error = True  # an error subtype is a failure, whatever is_error says
        text, errors = obj.get("result"), obj.get("errors")
        denials = obj.get("permission_denials") or []
        if self.error_class is FailureClass.PERMISSION and denials and isinstance(denials[0], dict):
            self.error_text = f"denied: {denials[0].get('tool_name', '?')}"
        elif isinstance(errors, list) and errors and isinstance(errors[0], str):
            self.error_text = errors[0]  # why it stopped (a budget reached), in its words
        elif isinstance(text, str) and text:
            self.error_text = text


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


def _shown(value: object) -> str:
    """A refused cost as JSON wrote it (NaN, -Infinity, "12"), cut to fit a log line."""
    try:
        text = json.dumps(value)
    except ValueError:  # a structure nested too deeply
        text = type(value).__name__
    return text if len(text) <= 40 else text[:39] + "…"


def _text(line: bytes) -> str:
    return line.decode("utf-8", "replace").strip()


def _message_text(event: dict[str, Any]) -> str:
    """The text blocks of an assistant event's message."""
    message = event.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        return ""
    parts = [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]
    return " ".join(p for p in parts if isinstance(p, str))


def _signal(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
