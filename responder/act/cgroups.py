"""Certain kills through cgroup v2, the way container runtimes do it (A4).

A process can leave its process group (`setsid`), its parent (a double
fork) and its environment (a cleared `WARDEN_RUNTIME` mark), so finding an
agent's descendants through the process tree misses some. It cannot leave
its cgroup: a process is born in its parent's, and only a privileged writer
of `cgroup.procs` moves it. So each agent runs in a cgroup of its own,
`<cgroup2 mount>/<Warden's own cgroup>/warden-<instance>/<swarm>/<agent>`,
joined before its program starts; a kill freezes the cgroup and writes
`cgroup.kill`, which the kernel applies to every process in it and its
children, forks in flight included. The path is derived from names in the
store, so a restarted responder finds its agents' cgroups again.

Where the hierarchy offers the `memory` and `pids` controllers, a swarm
type's `memory_max` and `pids_max` become the agent cgroup's `memory.max`
and `pids.max`: MemoryHigh is prevented rather than alerted on.

Where there is no writable cgroup2 mount (no mount, an unprivileged Warden
without delegation, a kernel without `cgroup.kill`), `open` returns None and
the runtime keeps the process-tree method; `warden up` says which is in use.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from warden.proc import GraceThenForce, alive_groups, signal_groups

log = logging.getLogger(__name__)

LIMIT_CONTROLLERS = ("memory", "pids")


def cgroup2_mount(mounts: Path = Path("/proc/mounts")) -> Path | None:
    """Where the cgroup2 hierarchy is mounted (beside v1 ones, at /sys/fs/cgroup/unified
    on hybrid hosts, at /sys/fs/cgroup on unified ones), or None."""
    try:
        lines = mounts.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) >= 3 and fields[2] == "cgroup2":
            return Path(fields[1])
    return None


def own_cgroup(self_cgroup: Path = Path("/proc/self/cgroup")) -> str:
    """This process's cgroup2 path (the `0::` line), "/" if it has none."""
    with contextlib.suppress(OSError):
        for line in self_cgroup.read_text().splitlines():
            if line.startswith("0::"):
                return line[3:] or "/"
    return "/"


@dataclass
class Cgroups:
    base: Path
    """This Warden's folder in the hierarchy: one per state (instance)."""
    limits: frozenset[str] = field(default_factory=frozenset)
    """Controllers enabled for agents: those of LIMIT_CONTROLLERS the host offers."""

    @classmethod
    def open(cls, instance: str) -> Cgroups | None:
        mount = cgroup2_mount()
        if mount is None:
            return None
        parent = mount / own_cgroup().lstrip("/")
        base = parent / f"warden-{instance}"
        try:
            base.mkdir(exist_ok=True)
        except OSError as exc:
            log.info("cgroup v2 at %s is not writable (%s): kills use the process tree", mount, exc)
            return None
        usable = (base / "cgroup.kill").exists()
        with contextlib.suppress(OSError):
            base.rmdir()  # made again by the first agent; nothing is left while none runs
        if not usable:
            log.info("this kernel's cgroup v2 has no cgroup.kill: kills use the process tree")
            return None
        offered = set(_read(mount / "cgroup.controllers").split())
        enabled = frozenset(c for c in LIMIT_CONTROLLERS if c in offered and _enable(parent, c))
        return cls(base, enabled)

    def agent(self, swarm: str, agent: str) -> Path:
        return self.base / swarm / agent

    def prepare(self, swarm: str, agent: str, memory_max: int | None, pids_max: int | None) -> Path:
        """The agent's cgroup, made with its limits (where the controllers are on)."""
        folder = self.base / swarm
        for level in (self.base, folder):  # the base goes when its last agent does
            level.mkdir(exist_ok=True)
            for c in self.limits:
                _enable(level, c)
        path = folder / agent
        path.mkdir(exist_ok=True)
        if memory_max is not None and "memory" in self.limits:
            (path / "memory.max").write_text(str(memory_max))
        if pids_max is not None and "pids" in self.limits:
            (path / "pids.max").write_text(str(pids_max))
        return path

    def agents(self) -> dict[str, Path]:
        """Every agent cgroup of this Warden, by agent id (after a restart too)."""
        out = {}
        for swarm in _folders(self.base):
            for agent in _folders(swarm):
                out[agent.name] = agent
        return out

    def remove(self, path: Path) -> bool:
        """Remove an agent's cgroup once empty, then its swarm's and this Warden's if
        they are empty too (nothing is left behind on the host); False while the agent's
        is not empty yet."""
        for folder in (path, path.parent, self.base):
            with contextlib.suppress(OSError):
                folder.rmdir()
        return not path.exists()


def pids(path: Path) -> list[int]:
    """Every process in the cgroup and its children."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for folder, _, _ in os.walk(path):
            found += [int(p) for p in _read(Path(folder) / "cgroup.procs").split()]
    return found


def populated(path: Path) -> bool:
    """Whether any process (a zombie is none) is in the cgroup or its children."""
    for line in _read(path / "cgroup.events").splitlines():
        if line.startswith("populated "):
            return line.split()[1] == "1"
    return False


def kill(path: Path) -> None:
    """Freeze, then SIGKILL everything in the cgroup: nothing forks or escapes meanwhile."""
    with contextlib.suppress(OSError):
        (path / "cgroup.freeze").write_text("1")
    with contextlib.suppress(OSError):
        (path / "cgroup.kill").write_text("1")


@dataclass
class CgroupKill(GraceThenForce):
    """A kill in progress that never waits (the runtime's `Stopping`): SIGTERM to
    every process in the cgroups and to the agents' own process groups, then,
    after the grace, freeze and kill the cgroups and SIGKILL the groups; done when
    the cgroups are empty and the groups gone. The groups cover an agent killed in
    its first milliseconds, before it has joined its cgroup."""

    paths: list[Path]
    groups: list[int]
    grace: float
    deadline: float
    forced: bool = False

    @classmethod
    def begin(cls, paths: list[Path], groups: list[int], grace: float) -> CgroupKill:
        kill = cls(paths, groups, grace, time.monotonic() + grace)
        for path in paths:
            for pid in pids(path):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGTERM)
        signal_groups(groups, signal.SIGTERM)
        return kill

    def _gone(self) -> bool:
        return not any(populated(p) for p in self.paths) and not alive_groups(self.groups)

    def _force(self) -> None:
        for path in self.paths:
            kill(path)
        signal_groups(self.groups, signal.SIGKILL)


def _folders(path: Path) -> list[Path]:
    try:
        return [p for p in path.iterdir() if p.is_dir()]
    except OSError:
        return []


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _enable(folder: Path, controller: str) -> bool:
    """Turn a controller on for the folder's children; False if the host refuses."""
    if controller in _read(folder / "cgroup.subtree_control").split():
        return True
    try:
        (folder / "cgroup.subtree_control").write_text(f"+{controller}")
    except OSError:
        return False
    return True
