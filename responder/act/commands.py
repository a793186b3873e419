"""How the recovery commands (A5) run: as processes of their own here, virtually in
`warden simulate` (responder.simulate.commands), which must start none.

A command is an argument list, never a shell; it runs in a session of its own (a
gateway it starts outlives it), with its output appended to its log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from responder.act.launcher import (
    Process,
    Stopping,
    in_session,
    process_start_time,
    same_process_alive,
)
from warden.proc import Termination


@dataclass(frozen=True)
class Started:
    proc: Process
    start_time: float | None
    """When its process began (a pid reused later is not it)."""


class Commands(Protocol):
    def run(
        self, name: str, argv: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path
    ) -> Started:
        """Start recovery `name`'s command; OSError if it cannot start."""
        ...

    def alive(self, pid: int | None, start_time: float | None) -> bool:
        """The command a responder before this one started still runs."""
        ...

    def stop(self, pid: int, grace: float) -> Stopping:
        """SIGTERM to its session now, SIGKILL after `grace`."""
        ...


class CommandProcesses:
    """Recovery commands as real processes."""

    def run(
        self, name: str, argv: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path
    ) -> Started:
        with log.open("ab") as out:
            proc = in_session(argv, cwd, env, out)
        return Started(proc, process_start_time(proc.pid))

    def alive(self, pid: int | None, start_time: float | None) -> bool:
        return same_process_alive(pid, start_time)

    def stop(self, pid: int, grace: float) -> Stopping:
        return Termination.begin([pid], grace)
