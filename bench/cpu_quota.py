"""Separate hosts on one machine: a process tree held to a share of the cores.

A fleet's responders run on hosts of their own; on one 2-core machine they share
the cores, and every responder receives every body (Alertmanager sends each
notification to every webhook of its receiver), so N responders' receipt alone
takes N times the CPU and a fleet's figure falls with N where separate hosts'
would grow. Giving each responder a CPU quota of its own (a cgroup with the
scheduler's bandwidth limit: `cpu.max` on cgroup v2, `cpu.cfs_quota_us` on v1)
makes each one a host of that many cores, as long as the quotas and what runs
unheld (the database server, the sender) fit in the machine: the bench prints
how busy the cores were, to show they did.

Where Warden puts an agent in a cgroup of its own (a writable cgroup v2 with
the controllers it needs), the agent leaves the quota's cgroup on v2; on v1 the
CPU hierarchy is apart from Warden's and its agents stay held with their
responder.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from pathlib import Path

import psutil

PERIOD_US = 100_000
ROOT = Path("/sys/fs/cgroup")


class NoQuota(RuntimeError):
    """This host gives no writable CPU controller to hold processes to a quota."""


def _hierarchy() -> tuple[Path, bool]:
    """Where quota cgroups can be made here, and whether it is cgroup v2."""
    v2 = ROOT / "cgroup.subtree_control"
    if v2.exists() and "cpu" in v2.read_text().split() and os.access(ROOT, os.W_OK):
        return ROOT, True
    v1 = ROOT / "cpu"
    if (v1 / "cpu.cfs_quota_us").exists() and os.access(v1, os.W_OK):
        return v1, False
    raise NoQuota(
        "a CPU quota needs a writable cgroup CPU controller: cgroup v2 with cpu in"
        f" {v2}, or cgroup v1's {v1}; this host has neither (run as root, or without"
        " the quota)"
    )


def checked(cores: float) -> float:
    """`cores` if a quota can be that many cores (above 0); else ValueError saying so."""
    if not cores > 0:
        raise ValueError(f"a CPU quota must be above 0 cores, not {cores:g}")
    return cores


class CpuQuota:
    """One cgroup holding the processes put in it (and what they start) to `cores`."""

    def __init__(self, name: str, cores: float) -> None:
        quota = max(1_000, round(checked(cores) * PERIOD_US))  # the kernel's least: 1 ms
        base, self._v2 = _hierarchy()
        self.path = base / f"warden-bench-{os.getpid()}-{name}"
        self.path.mkdir()
        if self._v2:
            (self.path / "cpu.max").write_text(f"{quota} {PERIOD_US}")
        else:
            (self.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (self.path / "cpu.cfs_quota_us").write_text(str(quota))

    def hold(self, pid: int) -> None:
        """The process `pid` and every descendant it has now; later ones follow it."""
        root = psutil.Process(pid)
        for p in (root, *root.children(recursive=True)):
            with contextlib.suppress(ProcessLookupError):
                (self.path / "cgroup.procs").write_text(str(p.pid))

    def remove(self, timeout: float = 10.0) -> None:
        """The cgroup, once it holds nothing: what is still alive goes back to the
        parent's. A process just killed holds it until it has finished exiting (a
        CI run's rmdir found it busy), so the removal is tried until `timeout`."""
        parent = self.path.parent / "cgroup.procs"
        deadline = time.monotonic() + timeout
        while True:
            for pid in (self.path / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    parent.write_text(pid)
            try:
                self.path.rmdir()
                return
            except OSError as exc:
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    held = (self.path / "cgroup.procs").read_text().split()
                    raise RuntimeError(
                        f"cannot remove {self.path} (holding {held}): {exc}"
                    ) from exc
            time.sleep(0.01)
