"""Certain killing of process groups: SIGTERM, a grace period, then SIGKILL.

Shared by the exporter (build and test commands) and the swarm runtime
(agents). Every command Warden starts leads a session of its own, so its
process group id is its pid and one signal reaches all it started. A
descendant that left the group (its own `setsid`) is found through the
process tree before the group is signalled and is killed on its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

KILL_GRACE_SECONDS = 2.0


class GraceThenForce(ABC):
    """The shape of every kill that never waits: `step` (called as often as the owner
    likes) says when all is gone and, once the grace is over, forces the end.
    Subclasses hold `grace`, `deadline` and `forced`, and say what gone and force are."""

    grace: float
    deadline: float
    forced: bool

    @abstractmethod
    def _gone(self) -> bool:
        """Nothing of theirs can run any more."""

    @abstractmethod
    def _force(self) -> None:
        """End what is left, now (SIGKILL, cgroup.kill)."""

    def step(self) -> bool:
        """True once nothing of theirs can run any more; forces the end when due."""
        if self._gone():
            return True
        if not self.forced and time.monotonic() >= self.deadline:
            self._force()
            self.forced = True
            self.deadline = time.monotonic() + self.grace
        return False

    @property
    def overdue(self) -> bool:
        """Forced a grace ago and something is still there (a D-state process)."""
        return self.forced and time.monotonic() >= self.deadline


@dataclass
class Termination(GraceThenForce):
    """A kill in progress that never waits: SIGTERM is sent at `begin`, and each
    `step` (called as often as the owner likes) checks what is left and sends
    SIGKILL once the grace is over. Many run side by side, so killing several
    groups costs one grace, and the owner stays free to answer in between."""

    groups: list[int]
    strays: list[psutil.Process]
    grace: float
    deadline: float
    forced: bool = False

    @classmethod
    def begin(
        cls, pgids: Iterable[int], grace: float = KILL_GRACE_SECONDS, descendants: bool = True
    ) -> Termination:
        groups = list(pgids)
        strays = [p for g in groups for p in _descendants(g)] if descendants else []
        t = cls(groups, strays, grace, time.monotonic() + grace)
        t._send(signal.SIGTERM)
        return t

    def _send(self, sig: signal.Signals) -> None:
        signal_groups(self.groups, sig)
        for p in self.strays:
            _signal_process(p, sig)

    def _gone(self) -> bool:
        return not alive_groups(self.groups) and not any(_alive(p) for p in self.strays)

    def _force(self) -> None:
        self._send(signal.SIGKILL)


def kill_groups(
    pgids: Iterable[int], grace: float = KILL_GRACE_SECONDS, descendants: bool = True
) -> None:
    """SIGTERM every group (and every descendant, unless told not to), SIGKILL
    what is left after `grace`, and wait.

    Returns once nothing of theirs can run any more (bounded by a second
    `grace` after SIGKILL), so a caller can rely on them being gone. For
    callers that may wait: a command-line tool, a supervisor. An owner that
    must stay responsive steps a `Termination` instead.
    """
    t = Termination.begin(pgids, grace, descendants)
    while not t.step() and not t.overdue:
        time.sleep(0.02)


def kill_group(pgid: int, grace: float = KILL_GRACE_SECONDS, descendants: bool = True) -> None:
    kill_groups([pgid], grace, descendants)


def group_alive(pgid: int) -> bool:
    """Whether any member of the group can still run (zombies cannot)."""
    return bool(alive_groups([pgid]))


def alive_groups(pgids: Iterable[int]) -> set[int]:
    """Those of the groups with a member that can still run, from one scan of /proc."""
    wanted = set(pgids)
    found: set[int] = set()
    if not wanted:
        return found
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        group = int(fields[2])
        if group in wanted and fields[0] != b"Z":
            found.add(group)
    return found


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return []


def signal_groups(pgids: Iterable[int], sig: signal.Signals) -> None:
    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


def _signal_process(p: psutil.Process, sig: signal.Signals) -> None:
    with contextlib.suppress(psutil.Error):
        p.send_signal(sig)


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
