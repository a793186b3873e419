"""What the runtime holds of each agent it watches, and what a poll reports.

A live agent is its row, its swarm's, its type, the follower of its log and
the adapter reading it, and, while Warden kills it, the kill under way.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from responder.act.adapters import Adapter, make_adapter
from responder.act.launcher import Process, Stopping
from responder.model import EndReason
from responder.rules.admission import Refusal
from responder.state.store import AgentRow, SwarmRow
from warden.config import SwarmType
from warden.logfollow import FileFollower


class SpawnRefused(Exception):
    """A swarm was not started: `reason` is from the admission rule's closed set."""

    def __init__(self, reason: Refusal, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass
class LiveAgent:
    row: AgentRow
    swarm: SwarmRow
    type: SwarmType
    follower: FileFollower
    adapter: Adapter
    proc: Process | None = None
    """Set for agents this process started; None for agents adopted after a restart."""
    kill: Stopping | None = None
    why: EndReason | None = None
    """Set when Warden began killing it: recorded as killed, with this reason."""
    replace: bool = False
    """A stuck agent is killed and replaced (a retry), not ended with its swarm."""

    @classmethod
    def following(cls, row: AgentRow, swarm: SwarmRow, stype: SwarmType) -> LiveAgent:
        """Watched from the start of its log, read by its type's adapter."""
        follower = FileFollower(Path(row.log_path), start_at_end=False)
        return cls(row, swarm, stype, follower, make_adapter(stype.adapter))

    def carry_progress(self, now: float) -> None:
        """An adopted agent's last output is when its log last grew. The file's mtime
        is on the kernel's real-time clock; its age is carried over to the runtime's
        clock `now` (which may be set)."""
        with contextlib.suppress(OSError):
            mtime = Path(self.row.log_path).stat().st_mtime
            age = max(0.0, time.clock_gettime(time.CLOCK_REALTIME) - mtime)
            self.row.last_progress_at = now - age


@dataclass
class PollReport:
    """What one poll changed, for the caller to log or act on."""

    ended: list[tuple[str, str]] = field(default_factory=list)
    """(agent id, outcome)."""
    swarms_ended: list[tuple[str, str]] = field(default_factory=list)
    """(swarm id, state)."""
