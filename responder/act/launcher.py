"""How the runtime starts, watches and kills agent processes, behind one small interface.

`Processes` is the real thing: each agent leads a session of its own (so one
signal reaches everything it started), its output goes to its log file, and
kills never wait. Where the host offers a writable cgroup v2, each agent
joins a cgroup of its own before its program starts, and a kill empties the
cgroup (`responder.act.cgroups`), so nothing it started escapes however it
daemonizes; elsewhere kills follow the process group and tree
(`warden.proc.Termination`). The simulator (`warden
simulate`) gives the runtime a launcher of virtual agents instead, so the
same runtime, store, admission and jobs run a week under a virtual clock.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import logging
import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple, Protocol

import psutil

from responder.act.cgroups import CgroupKill, Cgroups, populated
from responder.act.cgroups import kill as cgroup_kill
from responder.act.cgroups import pids as cgroup_pids
from warden.access import User, which
from warden.private import project_umask
from warden.proc import Termination

log = logging.getLogger(__name__)
ENV_RUNTIME = "WARDEN_RUNTIME"
ENV_AGENT = "WARDEN_AGENT_ID"
SETTLE_SECONDS = 2.0
"""How long a close waits for the kernel to empty the cgroups its kills left."""
INHERITED = frozenset({"PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR"})
"""What an agent inherits of Warden's environment, with the LC_* variables."""


def inherited_environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The part of Warden's environment an agent gets: an allow-list. A PGPASSWORD,
    a token or a cloud key set where Warden was started must not reach a program
    that acts on text anyone can forge (an alert, a log line). The type's own
    `env` and the WARDEN_* variables the runtime sets come on top."""
    return {k: v for k, v in environ.items() if k in INHERITED or k.startswith("LC_")}


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


@dataclass(frozen=True)
class Placement:
    """Whom an agent runs as (A3: None is Warden's own user and group) and the
    limits of its cgroup (where the host has the controllers)."""

    user: str | None = None
    group: str | None = None
    memory_max: int | None = None
    pids_max: int | None = None


class Target(NamedTuple):
    """An agent to kill: its process (if it has one) and where it lives."""

    pid: int | None
    swarm: str
    agent: str


class Launcher(Protocol):
    def start(
        self,
        argv: Sequence[str],
        cwd: Path,
        env: Mapping[str, str],
        log: Path,
        placement: Placement,
    ) -> Process:
        """Start an agent with its output appended to `log`; OSError if it cannot start.
        `env` carries the agent's ids (ENV_AGENT, WARDEN_SWARM_ID)."""

    def start_time(self, pid: int) -> float | None:
        """When the process started (to tell it from a later one with the same pid)."""

    def alive(self, pid: int | None, start_time: float | None) -> bool: ...

    def terminate(self, targets: list[Target], grace: float) -> Stopping: ...

    def marked(self, instance: str) -> list[tuple[int, str | None]]:
        """(pid, agent id) of every process of this state's agents: in their cgroups,
        or carrying this state's mark in their environment."""

    def kill(self, pids: list[int]) -> None:
        """SIGKILL, without waiting (an orphan's end is none of the runtime's business)."""

    def forget(self, swarm: str, agent: str) -> None:
        """The agent ended: what it left running dies, and its cgroup goes."""

    def agent_cgroups(self) -> set[str]:
        """The agents with a cgroup here, empty or not (what `sweep` looks at)."""

    def sweep(self, known: set[str]) -> None:
        """Cgroups of agents no runtime knows as live: emptied and removed."""

    def settle(self) -> None:
        """At close, after the kills: what they left (cgroups the kernel was still
        emptying) is removed, waiting a moment for it; nothing stays on the host."""

    @property
    def kill_method(self) -> str:
        """How kills are made certain: `cgroup` or `process_tree`."""


JOIN = 'echo $$ > "$1" && shift && unset PWD && exec "$@"'
"""The agent's first moment where it has a cgroup: a shell, still Warden's user,
writes its own pid into the agent's cgroup and then becomes the rest of its
arguments (the switch to the agents' user, then the agent's program) under the
same pid, so everything the agent starts is in the cgroup. A fixed script: the
agent's argument list reaches `exec` as the shell's positional parameters, never
parsed by it, and what the shell adds to the environment (PWD) is taken out.
Python's subprocess can run nothing of ours in the child before the exec, and a
process that is no longer root cannot join a cgroup; the shell costs about 1 ms
of CPU where the Python first step it replaces cost 20 ms (an interpreter's
start-up an agent)."""


class Processes:
    """Real agent processes, in cgroups of their own where the host allows."""

    def __init__(self, cgroups: Cgroups | None = None) -> None:
        self.cgroups = cgroups
        self._unlimited_told = False
        self._leftover: set[Path] = set()
        """Agent cgroups not empty yet when their agent ended: removed at the next
        chance (another agent's end, a sweep, the close)."""

    @property
    def kill_method(self) -> str:
        return "process_tree" if self.cgroups is None else "cgroup"

    def start(
        self,
        argv: Sequence[str],
        cwd: Path,
        env: Mapping[str, str],
        log: Path,
        placement: Placement,
    ) -> Process:
        self._tell_unlimited(placement)
        with log.open("ab") as out:
            try:
                return in_session(self._command(argv, env, placement), cwd, env, out)
            except OSError as exc:
                out.write(f"warden: cannot start {argv[0]!r}: {exc}\n".encode())
                raise

    def _command(
        self, argv: Sequence[str], env: Mapping[str, str], placement: Placement
    ) -> list[str]:
        """The agent's command behind what places it: the switch to its user (its own
        group and none of Warden's supplementary ones), then its cgroup's JOIN."""
        command = list(argv)
        if placement.user:
            uid, gid = _ids(placement.user, placement.group)
            agent = User(placement.user, uid, frozenset({gid}))
            switch = [_setpriv(), f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]
            command = [*switch, _found(command[0], agent, env), *command[1:]]
        if self.cgroups is not None:
            path = self.cgroups.prepare(
                env["WARDEN_SWARM_ID"], env[ENV_AGENT], placement.memory_max, placement.pids_max
            )
            command = ["/bin/sh", "-c", JOIN, "sh", str(path / "cgroup.procs"), *command]
        return command

    def _tell_unlimited(self, placement: Placement) -> None:
        """Once: a limit is configured that this host cannot apply."""
        offered = self.cgroups.limits if self.cgroups is not None else frozenset()
        wanted = {"memory": placement.memory_max, "pids": placement.pids_max}
        missing = [c for c, v in wanted.items() if v is not None and c not in offered]
        if missing and not self._unlimited_told:
            self._unlimited_told = True
            log.warning(
                "swarm limits not applied: this host's cgroup v2 offers no %s controller",
                " or ".join(missing),
            )

    def start_time(self, pid: int) -> float | None:
        return process_start_time(pid)

    def alive(self, pid: int | None, start_time: float | None) -> bool:
        """The pid runs and is the process we started (not a reused pid)."""
        return same_process_alive(pid, start_time)

    def terminate(self, targets: list[Target], grace: float) -> Stopping:
        if self.cgroups is None:
            return Termination.begin([t.pid for t in targets if t.pid], grace)
        paths = [self.cgroups.agent(t.swarm, t.agent) for t in targets]
        return CgroupKill.begin(paths, [t.pid for t in targets if t.pid], grace)

    def marked(self, instance: str) -> list[tuple[int, str | None]]:
        found: dict[int, str | None] = {}
        if self.cgroups is not None:
            for agent, path in self.cgroups.agents().items():
                found.update(dict.fromkeys(cgroup_pids(path), agent))
        for proc in psutil.process_iter(["pid"]):
            try:
                env = proc.environ()
            except psutil.Error:
                continue
            if env.get(ENV_RUNTIME) == instance:
                found.setdefault(proc.pid, env.get(ENV_AGENT))
        return list(found.items())

    def kill(self, pids: list[int]) -> None:
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()

    def forget(self, swarm: str, agent: str) -> None:
        if self.cgroups is not None:
            for path in (self.cgroups.agent(swarm, agent), *self._leftover):
                self._clear(path)

    def agent_cgroups(self) -> set[str]:
        return set() if self.cgroups is None else set(self.cgroups.agents())

    def sweep(self, known: set[str]) -> None:
        if self.cgroups is None:
            return
        for agent, path in self.cgroups.agents().items():
            if agent not in known:
                self._clear(path)

    def settle(self) -> None:
        deadline = time.monotonic() + SETTLE_SECONDS
        while self._leftover and time.monotonic() < deadline:
            for path in list(self._leftover):
                self._clear(path)
            if self._leftover:
                time.sleep(0.02)
        if self._leftover:
            log.warning("agent cgroups not empty at close: %s", ", ".join(map(str, self._leftover)))

    def _clear(self, path: Path) -> None:
        """Kill what is left in the cgroup and remove it; one the kernel is still
        emptying is kept for the next chance (`_leftover`)."""
        assert self.cgroups is not None
        if populated(path):
            cgroup_kill(path)
        if self.cgroups.remove(path):
            self._leftover.discard(path)
        else:
            self._leftover.add(path)


def _ids(user: str, group: str | None) -> tuple[int, int]:
    entry = pwd.getpwnam(user)
    return entry.pw_uid, grp.getgrnam(group).gr_gid if group else entry.pw_gid


def _found(program: str, user: User, env: Mapping[str, str]) -> str:
    """The program as `user` finds it on the agent's PATH. setpriv keeps root's
    capabilities until its exec, so its own search would find a program only root
    may reach (a shim in /root) and the agent would fail past the exec; so the
    search is made here, as execvp makes it for that user, and a program the user
    cannot run is refused before anything starts (FileNotFoundError, as Popen's)."""
    if "/" in program:
        return program
    found, why = which(program, user, env.get("PATH", os.defpath))
    if found is None:
        raise FileNotFoundError(errno.ENOENT, why)
    return str(found)


def _setpriv() -> str:
    """util-linux's setpriv, which becomes the agents' user and then runs the agent in
    its place (same pid). Popen's own `user=` would cost a full fork of the responder
    (CPython forks rather than vforks to switch users): 5-12 ms of the responder's CPU
    an agent at 100-300 MB, and as long again in the child, against 0.2 ms."""
    found = shutil.which("setpriv")
    if found is None:
        raise FileNotFoundError(
            errno.ENOENT, "setpriv (util-linux) is needed to start agents as another user"
        )
    return found


def in_session(
    command: Sequence[str], cwd: Path, env: Mapping[str, str], out: BinaryIO
) -> subprocess.Popen[bytes]:
    """A process in a session of its own (its whole group can be killed, and what it
    starts may outlive it), no stdin, its output appended to `out`, with the
    project's umask (the files it writes are the project's, not Warden's private
    ones). Agents and recovery commands both start so."""
    return subprocess.Popen(
        list(command),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        umask=project_umask(),
    )


def process_start_time(pid: int) -> float | None:
    """When the process started (None: it is gone)."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


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
