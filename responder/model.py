"""The vocabulary of swarms and agents, shared by the runtime, the store and the metrics."""

from __future__ import annotations

from enum import StrEnum

BUILD_BROKEN_ALERTS = ("BuildFailing", "TestsFailing")
"""R4: while one of these fires, nothing below CRITICAL starts or runs."""


class Priority(StrEnum):
    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"

    @property
    def rank(self) -> int:
        """0 for CRITICAL, 3 for LOW: lower is more urgent."""
        return list(Priority).index(self)


class AgentState(StrEnum):
    SPAWNING = "spawning"  # started, no output yet
    RUNNING = "running"
    STUCK = "stuck"  # no progress for stuck_after (W3) or no output for spawn_timeout (W4)
    WAITING = "waiting"  # ended abnormally; a retry is due at retry_at
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    KILLED = "killed"

    @property
    def live(self) -> bool:
        """A process exists (or may) for this agent."""
        return self in (AgentState.SPAWNING, AgentState.RUNNING, AgentState.STUCK)


class SwarmState(StrEnum):
    RUNNING = "running"
    VERIFYING = "verifying"  # its agents ended well; the project's checks judge their work
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    KILLED = "killed"


class Outcome(StrEnum):
    """What the project's checks say of a swarm's work (in its own worktree)."""

    VERIFIED = "verified"  # the trigger's problem is gone, nothing that passed breaks
    NO_CHANGE = "no_change"  # nothing changed
    REGRESSED = "regressed"  # something that passed at the base fails
    UNVERIFIED = "unverified"  # the checks still fail
    CONFLICT = "conflict"  # it cannot land on the watched branch as it is now


class EndReason(StrEnum):
    """Why Warden itself ended an agent (recorded with it as `killed`)."""

    STUCK_SILENT = "stuck_silent"  # running, but no progress for stuck_after (W3)
    STUCK_SPAWNING = "stuck_spawning"  # no first output within spawn_timeout (W4)
    BUDGET = "budget"  # the budget tier or a ceiling stops its priority (B)
    MODE = "mode"  # the mode no longer runs its priority (M)
    BUILD = "build"  # the build or tests fail: only CRITICAL work (R4)
    PAUSED = "paused"  # its swarm type is paused
    SWARM_FAILED = "swarm_failed"  # another agent of its swarm used up its retries
    SWARM_KILLED = "swarm_killed"  # its swarm was killed on request (CLI, API)
    TIMEOUT = "timeout"  # its swarm ran past the type's timeout
    SHUTDOWN = "shutdown"  # `warden up` stopped, or `warden swarm run` was interrupted

    @property
    def stuck(self) -> str | None:
        """silent or spawning for the stuck reasons (the W3/W4 counter's `why`)."""
        return {"stuck_silent": "silent", "stuck_spawning": "spawning"}.get(self.value)


LIVE_AGENT_STATES = tuple(s.value for s in AgentState if s.live)
LIVE_SWARM_STATES = (SwarmState.RUNNING.value, SwarmState.VERIFYING.value)
"""A swarm not yet ended: its agents work, or the checks judge their work."""
DEATH_REASONS = ("crashed", "killed")
"""How an agent died (T3): killed by SIGTERM/SIGKILL from outside Warden, or
crashed (another signal, or an exit without a result). A run that ended with
its result, an error one too, is a failed run, not a death."""
