"""Run project commands with a timeout, in their own process group.

Why a temp file and not a pipe for the output: a build may leave a background
grandchild holding the pipe open, and reading a pipe to EOF would then wait
for it. With a file, waiting for the command is waiting for its leader only;
whatever it left behind in its process group is killed right after.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

KILL_GRACE_SECONDS = 2.0


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
    ) -> CommandResult:
        """Run `args` (never through a shell); raise OSError if it cannot start."""
        full_env = {**os.environ, **(env or {})}
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
            size = out.seek(0, os.SEEK_END)
            out.seek(max(0, size - tail_bytes))
            tail = out.read().decode("utf-8", errors="replace")
        return CommandResult(code, timed_out, started, duration, tail, size)

    def kill_all(self) -> None:
        """Kill every group still running (exporter shutdown)."""
        with self._lock:
            groups = list(self._groups)
        for pgid in groups:
            kill_group(pgid)


def kill_group(pgid: int, grace: float = KILL_GRACE_SECONDS) -> None:
    """SIGTERM the whole group, then SIGKILL whatever is left after `grace`.

    Returns once no member can run any more (bounded by a second `grace`
    after SIGKILL), so a caller can rely on the group being gone.
    """
    if not _signal_group(pgid, signal.SIGTERM):
        return
    if _wait_group_gone(pgid, grace):
        return
    _signal_group(pgid, signal.SIGKILL)
    _wait_group_gone(pgid, grace)


def _wait_group_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _group_alive(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> bool:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    # A leader that exited but was not yet reaped still counts as a member;
    # it cannot run any more, so it does not keep the group "alive".
    return _has_live_member(pgid)


def _has_live_member(pgid: int) -> bool:
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != b"Z":
            return True
    return False
