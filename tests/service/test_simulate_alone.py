"""A simulation touches nothing real (issue 29, item 5): `warden simulate` starts no
process and writes nothing outside its own state and the review it was asked for.
Python's audit hooks see every process start and every file a run opens to write,
whatever part of Warden does it; the run is a process of its own, so the hook,
which cannot be removed, dies with it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

WATCHED = """
import json, os, sys
seen = []
allowed = [os.path.realpath(p) for p in sys.argv[1:3]]
WRITES = ("w", "a", "x", "+")

def inside(path):
    real = os.path.realpath(os.fspath(path))
    real = real.decode() if isinstance(real, bytes) else real
    return any(real == a or real.startswith(a + os.sep) for a in allowed) or real.startswith(
        "/dev/shm/warden-simulate-")

def hook(event, args):
    if event in ("subprocess.Popen", "os.system", "os.posix_spawn", "os.exec", "os.fork",
                 "os.forkpty", "pty.spawn"):
        seen.append([event, repr(args)[:200]])
    elif event == "open" and not isinstance(args[0], int):  # an fd: opened before
        mode, flags = args[1], args[2]
        writes = any(c in mode for c in WRITES) if isinstance(mode, str) else bool(
            flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
        if writes and not inside(args[0]):
            seen.append([event, repr(args)[:200]])
    elif event in ("os.mkdir", "os.remove", "os.rename", "os.rmdir"):
        relative = len(args) > 1 and isinstance(args[-1], int) and args[-1] >= 0
        if not relative and not inside(args[0]):  # relative: within a tree rmtree named
            seen.append([event, repr(args)[:200]])
    elif event in ("shutil.rmtree", "sqlite3.connect") and not inside(args[0]):
        seen.append([event, repr(args)[:200]])

sys.addaudithook(hook)
from warden.shell.cli import main
try:
    code = main(["simulate", "--days", "1.25", "--json", "-c", "warden.yml",
                 "--review", sys.argv[1]])
finally:
    print("AUDIT " + json.dumps(seen))
"""


def test_a_simulation_starts_no_process_and_writes_only_its_own(tmp_path: Path) -> None:
    """The shipped week's first 30 hours: OpenClawDisconnected (day 1) and DiskSpaceLow
    (day 2) have recovery commands (`openclaw gateway restart`), which a simulation
    must not run."""
    review, mpl = tmp_path / "review", tmp_path / "mpl"
    env = {"PATH": "/usr/bin:/bin", "MPLCONFIGDIR": str(mpl), "PYTHONDONTWRITEBYTECODE": "1"}
    # matplotlib lists the fonts (fc-list) once per cache folder: not the simulation's doing.
    warm = [sys.executable, "-c", "import matplotlib.font_manager"]
    subprocess.run(warm, env=env, check=True, capture_output=True, timeout=120)
    done = subprocess.run(
        [sys.executable, "-c", WATCHED, str(review), str(mpl)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env=env,
    )
    audit = [line for line in done.stdout.splitlines() if line.startswith("AUDIT ")]
    assert audit, done.stdout[-2000:] + done.stderr[-2000:]
    assert json.loads(audit[-1][6:]) == []
    summary = json.loads(done.stdout[: done.stdout.index("AUDIT ")])
    assert summary["faults"].get("OpenClawDisconnected") and summary["faults"].get("DiskSpaceLow")
    assert all(i["held"] for i in summary["invariants"].values())
