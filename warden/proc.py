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
from collections.abc import Iterable

import psutil

KILL_GRACE_SECONDS = 2.0


def kill_groups(
    pgids: Iterable[int], grace: float = KILL_GRACE_SECONDS, descendants: bool = True
) -> None:
    """SIGTERM every group (and every descendant, unless told not to), SIGKILL
    what is left after `grace`.

    Returns once nothing of theirs can run any more (bounded by a second
    `grace` after SIGKILL), so a caller can rely on them being gone.
    """
    groups = list(pgids)
    strays = [p for g in groups for p in _descendants(g)] if descendants else []
    for g in groups:
        _signal_group(g, signal.SIGTERM)
    for p in strays:
        _signal_process(p, signal.SIGTERM)
    if _wait_gone(groups, strays, grace):
        return
    for g in groups:
        _signal_group(g, signal.SIGKILL)
    for p in strays:
        _signal_process(p, signal.SIGKILL)
    _wait_gone(groups, strays, grace)


def kill_group(pgid: int, grace: float = KILL_GRACE_SECONDS, descendants: bool = True) -> None:
    kill_groups([pgid], grace, descendants)


def group_alive(pgid: int) -> bool:
    """Whether any member of the group can still run (zombies cannot)."""
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


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return []


def _signal_group(pgid: int, sig: signal.Signals) -> None:
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


def _wait_gone(groups: list[int], strays: list[psutil.Process], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(group_alive(g) for g in groups) or any(_alive(p) for p in strays):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True
