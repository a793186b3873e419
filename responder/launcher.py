"""How the runtime starts, watches and kills agent processes, behind one small interface.

`Processes` is the real thing: each agent leads a session of its own (so one
signal reaches everything it started), its output goes to its log file, and
kills never wait (`warden.proc.Termination`). The simulator (`warden
simulate`) gives the runtime a launcher of virtual agents instead, so the
same runtime, store, admission and jobs run a week under a virtual clock.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import psutil

from warden.proc import Termination

ENV_RUNTIME = "WARDEN_RUNTIME"
ENV_AGENT = "WARDEN_AGENT_ID"


class Process(Protocol):
    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None:
        """The exit code once it ended, else None (never waits)."""


class Stopping(Protocol):
    """A kill under way: `step` advances it (SIGKILL when due) and says when all is gone."""

    def step(self) -> bool: ...

    @property
    def overdue(self) -> bool: ...


class Launcher(Protocol):
    def start(self, argv: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path) -> Process:
        """Start an agent with its output appended to `log`; OSError if it cannot start."""

    def start_time(self, pid: int) -> float | None:
        """When the process started (to tell it from a later one with the same pid)."""

    def alive(self, pid: int | None, start_time: float | None) -> bool: ...

    def terminate(self, pids: list[int], grace: float) -> Stopping: ...

    def marked(self, instance: str) -> list[tuple[int, str | None]]:
        """(pid, agent id) of every process carrying this state's mark."""

    def kill(self, pids: list[int]) -> None:
        """SIGKILL, without waiting (an orphan's end is none of the runtime's business)."""


class Processes:
    """Real agent processes."""

    def start(self, argv: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path) -> Process:
        with log.open("ab") as out:
            try:
                return subprocess.Popen(
                    list(argv),
                    cwd=cwd,
                    env=dict(env),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                out.write(f"warden: cannot start {argv[0]!r}: {exc}\n".encode())
                raise

    def start_time(self, pid: int) -> float | None:
        try:
            return psutil.Process(pid).create_time()
        except psutil.Error:
            return None

    def alive(self, pid: int | None, start_time: float | None) -> bool:
        """The pid runs and is the process we started (not a reused pid)."""
        return same_process_alive(pid, start_time)

    def terminate(self, pids: list[int], grace: float) -> Stopping:
        return Termination.begin(pids, grace)

    def marked(self, instance: str) -> list[tuple[int, str | None]]:
        found = []
        for proc in psutil.process_iter(["pid"]):
            try:
                env = proc.environ()
            except psutil.Error:
                continue
            if env.get(ENV_RUNTIME) == instance:
                found.append((proc.pid, env.get(ENV_AGENT)))
        return found

    def kill(self, pids: list[int]) -> None:
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()


def same_process_alive(pid: int | None, start_time: float | None) -> bool:
    """The pid runs and is the process we started (not a reused pid)."""
    if pid is None:
        return False
    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return False
        return start_time is None or abs(p.create_time() - start_time) < 0.05
    except psutil.Error:
        return False
