"""Commands run in their own process group; nothing they start outlives them."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import psutil
import pytest

from warden.runner import CommandRunner

# A command that starts a grandchild which ignores SIGTERM, writes its pid,
# keeps stdout open, then (optionally) waits.
SPAWNER = """
import os, signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
open(sys.argv[1], "w").write(str(child.pid))
print("spawned", flush=True)
time.sleep(float(sys.argv[2]))
"""


def grandchild(pid_file: Path) -> int:
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return int(pid_file.read_text())


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    result = CommandRunner().run(
        [sys.executable, "-c", SPAWNER, str(pid_file), "600"], tmp_path, timeout=1.0
    )
    assert result.timed_out and result.exit_code is None and not result.ok
    assert "spawned" in result.output_tail
    assert gone(grandchild(pid_file)), "the SIGTERM-ignoring grandchild survived"


def test_leftovers_are_killed_after_a_normal_exit(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    t0 = time.monotonic()
    result = CommandRunner().run(
        [sys.executable, "-c", SPAWNER, str(pid_file), "0"], tmp_path, timeout=60
    )
    assert result.exit_code == 0 and not result.timed_out
    # The grandchild held stdout open; the run still ended with its leader.
    assert time.monotonic() - t0 < 30
    assert gone(grandchild(pid_file))


def test_exit_code_and_output_tail(tmp_path: Path) -> None:
    script = "import sys; print('x' * 5000); print('the end', file=sys.stderr); sys.exit(3)"
    result = CommandRunner().run([sys.executable, "-c", script], tmp_path, 10, tail_bytes=100)
    assert result.exit_code == 3 and not result.ok
    assert result.output_bytes > 5000
    assert len(result.output_tail) == 100 and result.output_tail.endswith("the end\n")


def test_runs_in_the_given_folder_with_extra_env(tmp_path: Path) -> None:
    script = "import os; print(os.getcwd(), os.environ['WARDEN_X'])"
    result = CommandRunner().run(
        [sys.executable, "-c", script], tmp_path, 10, env={"WARDEN_X": "42"}
    )
    assert result.output_tail.strip() == f"{tmp_path} 42"


def test_arguments_are_never_interpreted_by_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    result = CommandRunner().run(["echo", f"$(touch {marker}); touch {marker}"], tmp_path, 10)
    assert result.ok and not marker.exists()


def test_missing_program_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        CommandRunner().run(["no-such-program-zz"], tmp_path, 10)


def test_own_session(tmp_path: Path) -> None:
    result = CommandRunner().run(
        [sys.executable, "-c", "import os; print(os.getsid(0))"], tmp_path, 10
    )
    assert int(result.output_tail) != os.getsid(0)
