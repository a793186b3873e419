"""Host and agents collectors read the real host and real agent processes."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from exporter.collectors.agents import AgentsCollector
from exporter.collectors.host import HostCollector
from tests.conftest import REPO, wait_for
from tests.units.test_checks import value
from warden.config import AgentPattern, AgentsSettings, HostSettings

FAKE = str(REPO / "tests" / "fake_agent.py")


def test_host_reads_memory_filesystems_and_processes(tmp_path: Path) -> None:
    fam = HostCollector(HostSettings((Path("/"), tmp_path), 15)).collect()
    st = os.statvfs(tmp_path)
    assert value(fam, "warden_host_filesystem_size_bytes", {"path": str(tmp_path)}) == (
        st.f_blocks * st.f_frsize
    )
    free = value(fam, "warden_host_filesystem_free_bytes", {"path": str(tmp_path)})
    assert free is not None and abs(free - st.f_bavail * st.f_frsize) < 64 * 2**20
    total = value(fam, "warden_host_memory_total_bytes")
    available = value(fam, "warden_host_memory_available_bytes")
    assert total == psutil.virtual_memory().total
    assert available is not None and 0 < available <= total
    procs = value(fam, "warden_host_processes")
    assert procs is not None and abs(procs - len(psutil.pids())) < 20
    assert value(fam, "warden_host_cpus") == os.cpu_count()
    assert value(fam, "warden_host_load1") is not None


@pytest.fixture
def agents() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def start(procs: list[subprocess.Popen[bytes]], *args: str) -> subprocess.Popen[bytes]:
    p = subprocess.Popen(
        [sys.executable, FAKE, *args], stdout=subprocess.DEVNULL, start_new_session=True
    )
    procs.append(p)
    return p


def collector() -> AgentsCollector:
    return AgentsCollector(
        AgentsSettings(
            15,
            (
                AgentPattern("fake", re.compile(re.escape(FAKE))),
                AgentPattern("nothing", re.compile("no-such-agent-zz")),
            ),
        )
    )


def test_agents_by_state_orphans_memory_and_cpu(
    agents: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    c = collector()
    start(agents, "idle")
    stopped = start(agents, "idle")
    helper_parent = start(agents, "helper")
    burner = start(agents, "burn")
    # An orphan: its parent exits right after starting it.
    pid_file = tmp_path / "orphan.pid"
    subprocess.run(
        [
            sys.executable,
            "-c",
            f"import subprocess,sys; p=subprocess.Popen([sys.executable, {FAKE!r}, 'idle'],"
            " start_new_session=True); open(sys.argv[1],'w').write(str(p.pid))",
            str(pid_file),
        ],
        check=True,
    )
    orphan = int(pid_file.read_text())
    try:
        os.kill(stopped.pid, signal.SIGSTOP)
        wait_for(lambda: psutil.Process(stopped.pid).status() == psutil.STATUS_STOPPED)
        wait_for(lambda: len(psutil.Process(helper_parent.pid).children()) == 1)
        wait_for(
            lambda: (
                psutil.Process(burner.pid).cpu_times().user
                + psutil.Process(burner.pid).cpu_times().system
                >= 0.25
            )
        )

        fam = c.collect()
        # Five agents; the helper's child matches too but belongs to its agent.
        counts = {
            s: value(fam, "warden_agents", {"agent": "fake", "state": s})
            for s in ("running", "sleeping", "stopped", "zombie")
        }
        assert sum(v or 0 for v in counts.values()) == 5, counts
        assert counts["stopped"] == 1
        assert value(fam, "warden_agents_orphans", {"agent": "fake"}) == 1
        assert psutil.Process(orphan).ppid() == 1
        mem = value(fam, "warden_agents_memory_bytes", {"agent": "fake"})
        assert mem is not None and mem > 5 * 2**20
        cpu_before = value(fam, "warden_agents_cpu_seconds_total", {"agent": "fake"})
        assert cpu_before is not None and cpu_before >= 0.25
        assert value(fam, "warden_agents", {"agent": "nothing", "state": "running"}) == 0

        # The burner exits: its CPU time stays in the counter.
        os.killpg(burner.pid, signal.SIGKILL)
        burner.wait()
        fam = c.collect()
        cpu_after = value(fam, "warden_agents_cpu_seconds_total", {"agent": "fake"})
        assert cpu_after is not None and cpu_after >= cpu_before
        assert (
            sum(
                value(fam, "warden_agents", {"agent": "fake", "state": s}) or 0
                for s in ("running", "sleeping", "stopped", "zombie")
            )
            == 4
        )
    finally:
        os.kill(stopped.pid, signal.SIGCONT)
        os.kill(orphan, signal.SIGKILL)
        time.sleep(0.05)
