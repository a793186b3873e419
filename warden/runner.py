"""Run project commands with a timeout, in their own process group.

Why a temp file and not a pipe for the output: a build may leave a background
grandchild holding the pipe open, and reading a pipe to EOF would then wait
for it. With a file, waiting for the command is waiting for its leader only;
whatever it left behind in its process group is killed right after.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from warden.private import project_umask
from warden.proc import kill_group, kill_groups


@dataclass(frozen=True)
class CommandResult:
    exit_code: int | None
    """The command's exit code; None when it was killed for running too long."""
    timed_out: bool
    started_at: float
    duration_seconds: float
    output_tail: str
    output_bytes: int

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class CommandRunner:
    """Starts commands and remembers the running groups so shutdown can kill them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: set[int] = set()

    def run(
        self,
        args: Sequence[str],
        cwd: Path,
        timeout: float,
        tail_bytes: int = 16384,
        env: Mapping[str, str] | None = None,
        scan: Callable[[str], None] | None = None,
        as_user: tuple[int, int] | None = None,
    ) -> CommandResult:
        """Run `args` (never through a shell); raise OSError if it cannot start.

        `scan` sees every line of the whole output once the command ends: what
        is counted must not depend on how much of the output is kept. With
        `as_user` (uid, gid) it runs as that user, with `env` alone: nothing of
        Warden's own environment passes to a command run in an agent's tree."""
        full_env = dict(env or {}) if as_user else {**os.environ, **(env or {})}
        started = time.time()
        t0 = time.monotonic()
        with tempfile.TemporaryFile() as out:
            proc = subprocess.Popen(
                list(args),
                cwd=cwd,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=as_user[0] if as_user else None,
                group=as_user[1] if as_user else None,
                extra_groups=[] if as_user else None,
                umask=project_umask(),  # what a build writes belongs to the project
            )
            with self._lock:
                self._groups.add(proc.pid)
            try:
                try:
                    code: int | None = proc.wait(timeout=timeout)
                    timed_out = False
                except subprocess.TimeoutExpired:
                    code, timed_out = None, True
                kill_group(proc.pid)
                proc.wait()
            finally:
                with self._lock:
                    self._groups.discard(proc.pid)
            duration = time.monotonic() - t0
            if scan is not None:
                out.seek(0)
                for line in out:
                    scan(line.decode("utf-8", errors="replace"))
            size = out.seek(0, os.SEEK_END)
            out.seek(max(0, size - tail_bytes))
            tail = out.read().decode("utf-8", errors="replace")
        return CommandResult(code, timed_out, started, duration, tail, size)

    def kill_all(self) -> None:
        """Kill every group still running (exporter shutdown)."""
        with self._lock:
            groups = list(self._groups)
        kill_groups(groups)
