"""Why an agent run failed, in a closed set of classes, and whether trying again can help.

A person needs the reason, and the runtime needs to know if a retry is
money thrown away: "Not logged in" fails the same way every time, an
overloaded API does not. The class is read from what the agent printed
(Claude Code's stream-json: the result's `is_error`, `subtype`,
`api_error_status`, `permission_denials`, `terminal_reason`, and the
assistant event's `error`) and from how it ended (exit code, signal, or
Warden's own kill). The set is bounded: it is a metric label.

Permanent classes are not retried, and the circuit breaker pauses a swarm
type after `swarms.pause_after` runs in a row fail the same permanent way.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class FailureClass(StrEnum):
    AUTHENTICATION = "authentication"
    """Not logged in, a bad or revoked key (401/403)."""
    BILLING = "billing"
    """Out of credit or over a quota (402, `billing_error`)."""
    RATE_LIMITED = "rate_limited"
    """Rate-limited or overloaded (429, 529, 5xx): it passes."""
    BUDGET_CAP = "budget_cap"
    """The run spent its `--max-budget-usd`: the same task would spend it again."""
    PERMISSION = "permission"
    """Tools it needed were denied (`permission_denials`)."""
    USAGE = "usage"
    """The program refused its arguments or its user: exited before its first event."""
    NOT_FOUND = "not_found"
    """The program could not be started (not on PATH, not executable)."""
    TIMEOUT = "timeout"
    """Its swarm outlived `timeout`, or the API timed out (408, 504)."""
    STUCK = "stuck"
    """No output (W4) or no progress (W3): killed and replaced."""
    CRASHED = "crashed"
    """Died by a signal or exited non-zero after it had started working."""
    OTHER = "other"
    """An error result that says nothing more."""

    @property
    def permanent(self) -> bool:
        """Trying again fails the same way until a person changes something."""
        return self in PERMANENT


PERMANENT = frozenset(
    {
        FailureClass.AUTHENTICATION,
        FailureClass.BILLING,
        FailureClass.BUDGET_CAP,
        FailureClass.PERMISSION,
        FailureClass.USAGE,
        FailureClass.NOT_FOUND,
    }
)

_ASSISTANT_ERRORS = {
    "authentication_failed": FailureClass.AUTHENTICATION,
    "oauth_org_not_allowed": FailureClass.AUTHENTICATION,
    "billing_error": FailureClass.BILLING,
    "rate_limit": FailureClass.RATE_LIMITED,
    "server_error": FailureClass.RATE_LIMITED,
    "overloaded": FailureClass.RATE_LIMITED,
}
"""The `error` of Claude Code's assistant events (the Agent SDK's names)."""

_RESULT_SUBTYPES = ("error_max_budget_usd",)
"""Result subtypes that mean the run spent its cap."""

EXIT_CANNOT_START = 127
"""What a shell reports for a program it cannot find; the runtime records it so too."""

TEXT_LIMIT = 500
"""The error text kept for a person: the first line that says what went wrong."""
MAX_BACKOFF_SECONDS = 300.0


@dataclass(frozen=True)
class Failure:
    cls: FailureClass
    text: str
    """The agent's own words (its error result, or its last line of output)."""
    retry_after: float | None = None
    """Seconds the API asked to wait, where it said."""

    def __str__(self) -> str:
        return f"{self.cls}: {self.text}" if self.text else str(self.cls)

    def backoff(self, base: float, attempt: int) -> float:
        """Seconds before the retry after `attempt`: `base` doubled at each attempt, at
        least what the API asked to wait, at most MAX_BACKOFF_SECONDS either way."""
        doubled = min(MAX_BACKOFF_SECONDS, base * 2.0**attempt)
        return max(doubled, min(MAX_BACKOFF_SECONDS, self.retry_after or 0.0))


def from_status(status: int) -> FailureClass | None:
    """An API's HTTP status, as Claude Code reports it in `api_error_status`."""
    if status in (401, 403):
        return FailureClass.AUTHENTICATION
    if status == 402:
        return FailureClass.BILLING
    if status in (408, 504):
        return FailureClass.TIMEOUT
    if status == 429 or status >= 500:
        return FailureClass.RATE_LIMITED
    return None


def classify_result(result: dict[str, Any], assistant_error: str | None) -> FailureClass | None:
    """The class of an error result line (None if it is not an error)."""
    subtype = str(result.get("subtype", ""))
    if not result.get("is_error") and not subtype.startswith("error"):
        # Denied a tool it needed, the CLI carries on without it and still says
        # "success" (exit 0): a claim, not a result (issue 28).
        return FailureClass.PERMISSION if result.get("permission_denials") else None
    status = result.get("api_error_status")
    if assistant_error in _ASSISTANT_ERRORS:
        return _ASSISTANT_ERRORS[assistant_error]
    if isinstance(status, int) and (by_status := from_status(status)) is not None:
        return by_status
    if subtype in _RESULT_SUBTYPES or "budget" in str(result.get("terminal_reason", "")):
        return FailureClass.BUDGET_CAP
    if result.get("permission_denials"):
        return FailureClass.PERMISSION
    return FailureClass.OTHER


def classify_exit(exit_code: int | None, started_work: bool) -> FailureClass:
    """A run that ended without an error result: by its exit alone."""
    if exit_code == EXIT_CANNOT_START:
        return FailureClass.NOT_FOUND
    if exit_code is not None and exit_code > 0 and not started_work:
        return FailureClass.USAGE
    return FailureClass.CRASHED


def short(text: str) -> str:
    """One line, at most TEXT_LIMIT characters: what the summary and the alert show."""
    line = " ".join(text.split())
    return line if len(line) <= TEXT_LIMIT else line[: TEXT_LIMIT - 1] + "…"
