"""What the store hands out: rows of swarms, agents, recoveries, pauses, claims, and
the ledger's entries, checked when they are made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Row,
)

from responder.model import LIVE_SWARM_STATES

AnyRow = Row[*tuple[Any, ...]]
"""A result row of any width."""


def work_of(trigger: str) -> str:
    """The kind of work a swarm was started for, from its trigger (`alert:NAME:...`,
    `job:J2:...`): the alertname or the job; another trigger's first part."""
    kind, _, rest = trigger.partition(":")
    return rest.partition(":")[0] if kind in ("alert", "job") else kind


@dataclass(frozen=True)
class ClaimState:
    acted: int
    resolved_at: float | None
    claimed_by: str
    lease_until: float
    host: str


@dataclass(frozen=True)
class SwarmRow:
    id: str
    type: str
    priority: str
    size: int
    trigger: str
    context: str
    context_file: str
    budget_usd: float
    period: str
    state: str
    reason: str
    created_at: float
    ended_at: float | None
    owner: str = ""
    failure_class: str | None = None
    """The class of the failure that failed it (responder.rules.failures)."""
    worktree: str | None = None
    """Its own git worktree (swarms.isolation: worktree), once made."""
    branch: str | None = None
    base: str | None = None
    """The watched branch's commit its worktree started from."""
    outcome: str | None = None
    """What the project's checks said of its work (model.Outcome); None: not judged."""
    landed: str | None = None
    """The commit its work landed as on the watched branch."""
    retry_of: str | None = None
    """The swarm whose outcome this one tries again."""
    verify_seconds: float | None = None
    """How long committing, checking and landing its work took."""
    work: str = ""
    """The work it was started for (`work_of` its trigger): kept in a column of its
    own, indexed, so the learning reads a work's latest runs without walking every
    swarm's trigger (a `LIKE` no index serves)."""

    def __post_init__(self) -> None:
        if not self.work:
            object.__setattr__(self, "work", work_of(self.trigger))

    @property
    def live(self) -> bool:
        """Not ended: its agents work, or the checks judge their work."""
        return self.state in LIVE_SWARM_STATES


@dataclass
class AgentRow:
    id: str
    swarm_id: str
    slot: int
    attempt: int
    state: str
    pid: int | None
    start_time: float | None
    log_path: str
    log_offset: int
    started_at: float | None
    first_output_at: float | None
    last_progress_at: float | None
    ended_at: float | None
    retry_at: float | None
    exit_code: int | None
    death_reason: str | None
    result_error: int | None
    cost_usd: float | None
    owner: str = ""
    end_reason: str | None = None
    failure_class: str | None = None
    failure_text: str | None = None
    cost_refused: str | None = None
    """What the run reported as its cost when that was not one (it was charged its cap)."""
    session_id: str | None = None
    """The session the run said it was (Claude Code's `system/init`): its transcript's name."""


@dataclass(frozen=True)
class RecoveryRow:
    """A recovery command run for one firing episode, and how far it got."""

    id: int
    fingerprint: str
    starts_at: str
    alertname: str
    name: str
    state: str
    context: str
    log_path: str
    started_at: float
    pid: int | None = None
    start_time: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    outcome: str = ""
    """How the command ended: responder.act.recovery.OUTCOMES."""
    detail: str = ""
    joined_to: int | None = None
    """Another episode's run of the same recovery, under way when this one fired."""


@dataclass(frozen=True)
class OpenProblem:
    """An alert not yet resolved, over its open episodes (one per fingerprint)."""

    began: float
    told_at: float | None
    """A person was told of it (N1: once per episode)."""
    retried_at: float | None
    """A person asked for another try (`warden retry`): the ladder counts from here."""


@dataclass(frozen=True)
class Pause:
    """A swarm type the circuit breaker stopped, and why."""

    type: str
    cls: str
    error: str
    since: float
    told_at: float | None


@dataclass
class LedgerEntry:
    agent_id: str
    swarm_id: str
    type: str
    period: str
    amount_usd: float
    estimated: int
    at: float
    reported_usd: float | None = None
    """What the agent reported, when that was set aside (it was charged the cap)."""
    basis: str = ""
    """What the charge was booked on (responder/act/ending.py): reported, set_aside,
    usage, cap or none."""

    def __post_init__(self) -> None:
        # The tables refuse these too (a CHECK on both engines); this says which
        # field and agent, before a transaction is spent on it.
        for name in ("amount_usd", "reported_usd"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"ledger {name} {value!r} of agent {self.agent_id}: not a cost")


def pause_of(row: AnyRow) -> Pause:
    m = row._mapping
    return Pause(m["type"], m["class"], m["error"], m["since"], m["told_at"])


def float_or_none(value: Any) -> float | None:
    """A nullable REAL column's value."""
    return None if value is None else float(value)
