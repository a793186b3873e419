"""Host and agents collectors read the real host and real agent processes."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
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
from exporter.proctable import ProcessTable
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


def fake_proc(root: Path, uptime: float, procs: dict[int, tuple[str, int, str]]) -> None:
    """A /proc of `procs`: pid -> (name, start in clock ticks, command line)."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    (root / "uptime").write_text(f"{uptime:.2f} 1.00\n")
    for pid, (name, start, cmdline) in procs.items():
        (root / str(pid)).mkdir()
        # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt
        # cmajflt utime stime cutime cstime priority nice threads itreal starttime
        # vsize rss ...
        fields = ["S", "1", *["0"] * 9, "150", "50", *["0"] * 6, str(start), "0", "256"]
        (root / str(pid) / "stat").write_text(f"{pid} ({name}) {' '.join(fields)} 0 0\n")
        (root / str(pid) / "cmdline").write_bytes(cmdline.replace(" ", "\0").encode() + b"\0")


def test_a_scan_reads_the_command_lines_of_new_processes_only(tmp_path: Path) -> None:
    """Issue 30, item 3: with 1,000 agents a scan (every 2 s) took 136-161 ms, 6.8 % of
    a core: every attribute of every process, every time. Now a scan reads each
    process's stat; a command line is read when a process is new, when its name
    changed (an exec), and while it was first seen younger than a second."""
    ticks = os.sysconf("SC_CLK_TCK")
    root = tmp_path / "proc"
    table = ProcessTable(root)
    procs = {10: ("claude", 0, "claude -p x"), 11: ("bash", 0, "bash"), 12: ("python3", 0, "py")}
    fake_proc(root, 100.0, procs)
    first = {p.pid: p for p in table.scan(skip=12)}
    assert set(first) == {10, 11}, "its own process is left out"
    assert first[10].text == "claude claude -p x" and first[10].state == "sleeping"
    assert first[10].cpu_seconds == 200 / ticks and first[10].rss_bytes == 256 * os.sysconf(
        "SC_PAGE_SIZE"
    )
    assert table.cmdlines_read == 2
    table.scan(skip=12)
    assert table.cmdlines_read == 2, "nothing new: no command line read"
    # A child just forked (younger than a second, its parent's name), then exec'd.
    procs[13] = ("python3", int(99.8 * ticks), "python3 warden")
    fake_proc(root, 100.0, procs)
    assert {p.pid: p.text for p in table.scan(skip=12)}[13] == "python3 python3 warden"
    procs[13] = ("python3", int(99.8 * ticks), "python3 fake_claude.py")
    fake_proc(root, 101.0, procs)
    assert {p.pid: p.text for p in table.scan(skip=12)}[13] == "python3 python3 fake_claude.py"
    read = table.cmdlines_read
    table.scan(skip=12)
    assert table.cmdlines_read == read, "settled once seen a second old"
    # An exec under another name; a pid reused by a new process.
    procs[10] = ("node", 0, "node claude")
    procs[11] = ("claude", int(50 * ticks), "claude --resume")
    fake_proc(root, 102.0, procs)
    texts = {p.pid: p.text for p in table.scan(skip=12)}
    assert texts[10] == "node node claude" and texts[11] == "claude claude --resume"
