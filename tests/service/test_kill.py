"""A4: kill for certain. An agent's grandchild that double-forks, calls setsid and
clears its environment leaves no trail in the process tree, its group or its
environment; its cgroup keeps it. Every way Warden kills (the command line, the
admission rule stopping work, a restart's adoption, an agent that exits) leaves
0 survivors where the host has cgroup v2, and the process-tree method is shown
to miss it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from responder.act.cgroups import cgroup2_mount
from responder.act.launcher import Processes
from responder.act.runtime import Runtime
from responder.model import Priority
from responder.rules.budget import Period
from responder.rules.modes import Situation
from tests.conftest import run_cli, wait_for
from tests.service.test_runtime import (  # noqa: F401
    config,
    ended,
    make,
    marked_processes,
    run_until,
    runtimes,
)
from warden.config import Config

pytestmark = pytest.mark.skipif(
    cgroup2_mount() is None, reason="this host has no cgroup v2 mount (the tree method is used)"
)


def escapees(token: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if token in (p.info["cmdline"] or []) and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
        except psutil.Error:
            pass
    return found


@pytest.fixture
def token() -> Iterator[str]:
    value = f"escapee-{uuid.uuid4().hex}"
    yield value
    for p in escapees(value):  # whatever a failing test left
        p.kill()


def escaping(tmp_path: Path, token: str) -> Config:
    """Improvement swarms whose agent lets a daemon escape, then hangs."""
    return config(tmp_path, f"improvement: {{env: {{FAKE_CLAUDE: 'mode=hang,escape={token}'}}}}")


def daemonized(token: str) -> list[psutil.Process]:
    """The escapee once it is only the sleeping daemon (its forks have exited)."""
    found = escapees(token)
    try:
        sleeping = all("import time; time.sleep(3600)" in p.cmdline() for p in found)
    except psutil.Error:  # a fork exiting meanwhile
        return []
    return found if len(found) == 1 and sleeping else []


def start(rt: Runtime, token: str) -> str:
    swarm = rt.start_swarm("improvement", Priority.MEDIUM, "job", "")
    run_until(rt, lambda: bool(daemonized(token)))
    [daemon] = daemonized(token)
    assert daemon.ppid() == 1 or daemon.ppid() != rt.live_agents()[0].pid
    assert "WARDEN_RUNTIME" not in daemon.environ()
    return swarm.id


def test_warden_swarm_kill_leaves_no_survivor(
    tmp_path: Path,
    token: str,
    runtimes: list[Runtime],  # noqa: F811
) -> None:
    cfg = escaping(tmp_path, token)
    rt = make(runtimes, cfg)
    assert rt.launcher.kill_method == "cgroup"
    swarm_id = start(rt, token)
    killed = run_cli("swarm", "kill", swarm_id, "-c", str(cfg.file))
    assert killed.returncode == 0, killed.stderr
    assert escapees(token) == []
    run_until(rt, lambda: not rt.live_agents())


def test_work_the_admission_rule_stops_leaves_no_survivor(
    tmp_path: Path,
    token: str,
    runtimes: list[Runtime],  # noqa: F811
) -> None:
    """The build breaks (R4): MEDIUM work is stopped by the runtime's own check."""
    cfg = escaping(tmp_path, token)
    mode = ["ACTIVE"]
    day = Period("ACTIVE", "day:test", 100.0)

    def now() -> Situation:
        crisis = mode[0] == "CRISIS"
        return Situation(mode[0], 3 if crisis else 1, day, None, None, build_broken=crisis)

    rt = make(runtimes, cfg, situation=now)
    swarm_id = start(rt, token)
    mode[0] = "CRISIS"
    run_until(rt, lambda: ended(rt, swarm_id)() and not rt.killing())
    assert rt.store.swarm(swarm_id).state == "killed"  # type: ignore[union-attr]
    wait_for(lambda: not escapees(token), 5)


def test_an_adopted_agent_is_killed_whole_and_an_exited_one_leaves_nothing(
    tmp_path: Path,
    token: str,
    runtimes: list[Runtime],  # noqa: F811
) -> None:
    cfg = escaping(tmp_path, token)
    first = make(runtimes, cfg)
    swarm_id = start(first, token)
    first.drop()  # the responder crashes; a new one finds the cgroups again
    runtimes.remove(first)
    second = make(runtimes, cfg)
    assert [a.swarm_id for a in second.live_agents()] == [swarm_id]
    assert second.kill_swarm(swarm_id, wait=True)
    assert escapees(token) == []
    # An agent that exits normally: what it left running goes with its cgroup.
    other = f"{token}-2"
    second.config.swarm_types["improvement"].env["FAKE_CLAUDE"] = f"escape={other},delay=0.3"
    swarm = second.start_swarm("improvement", Priority.MEDIUM, "job", "")
    run_until(second, ended(second, swarm.id))
    assert second.store.swarm(swarm.id).state == "succeeded"  # type: ignore[union-attr]
    wait_for(lambda: not escapees(other), 5)
    second.reap_orphans()  # the emptied cgroup goes at the next sweep
    assert not (second.launcher.cgroups.base / swarm.id).exists()  # type: ignore[attr-defined]


def test_the_process_tree_alone_misses_the_escapee(
    tmp_path: Path,
    token: str,
    runtimes: list[Runtime],  # noqa: F811
) -> None:
    """Why cgroups: the same kill by the tree method leaves the daemon running."""
    cfg = escaping(tmp_path, token)
    rt = make(runtimes, cfg, launcher=Processes(None))
    assert rt.launcher.kill_method == "process_tree"
    swarm_id = start(rt, token)
    assert rt.kill_swarm(swarm_id, wait=True)
    assert len(escapees(token)) == 1


def test_an_agent_killed_before_it_joined_its_cgroup_is_gone_too(
    tmp_path: Path,
    runtimes: list[Runtime],  # noqa: F811
) -> None:
    """Was: a kill in the agent's first milliseconds (a crisis began as it started)
    found its cgroup empty, called it done, and the agent joined the cgroup and ran on."""
    cfg = config(tmp_path, "improvement: {env: {FAKE_CLAUDE: 'mode=hang'}}")
    rt = make(runtimes, cfg)
    for _ in range(5):
        swarm = rt.start_swarm("improvement", Priority.MEDIUM, "job", "")
        assert rt.kill_swarm(swarm.id, wait=True)
        assert marked_processes(rt) == [], "the kill is over only when all of it is gone"


def test_a_runtime_that_closes_leaves_no_cgroup_behind(
    tmp_path: Path,
    token: str,
    runtimes: list[Runtime],  # noqa: F811
) -> None:
    """Was: 406 empty agent cgroup folders under the cgroup mount. An agent that left a
    daemon behind ended while its cgroup was still being emptied, and the folder
    stayed unless a runtime of the same state swept it later. Now it goes at the next
    agent's end, or when the runtime closes."""
    cfg = config(tmp_path, f"improvement: {{env: {{FAKE_CLAUDE: 'escape={token},delay=0.3'}}}}")
    rt = make(runtimes, cfg)
    assert rt.launcher.cgroups is not None  # type: ignore[attr-defined]
    base = rt.launcher.cgroups.base  # type: ignore[attr-defined]
    swarm = rt.start_swarm("improvement", Priority.MEDIUM, "job", "")
    run_until(rt, ended(rt, swarm.id))
    assert rt.store.swarm(swarm.id).state == "succeeded"  # type: ignore[union-attr]
    rt.close()
    runtimes.remove(rt)
    assert escapees(token) == []
    assert not base.exists(), sorted(str(p) for p in base.rglob("*") if p.is_dir())
