"""A real OpenClaw gateway on loopback for the tests and the bench: installed by the
test command (scripts/npm-tools.sh openclaw), configured with `openclaw config set`
in a folder of its own (HOME and TMPDIR inside it), started with `openclaw gateway
run`, killed by the environment it runs with."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil

from tests.conftest import REPO, free_port
from tests.stack.test_up import Ports, stack_config

BIN = REPO / ".cache" / "npm" / "openclaw" / "node_modules" / ".bin"
START = REPO / "examples" / "openclaw_start.py"


@dataclass
class Gateway:
    folder: Path
    port: int

    @property
    def env(self) -> dict[str, str]:
        """What every openclaw command needs: its config's home, and Node 24 first."""
        return {
            "HOME": str(self.folder / "home"),
            "TMPDIR": str(self.folder / "tmp"),
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        }

    @property
    def log(self) -> Path:
        return self.folder / "gateway.log"

    @classmethod
    def configure(cls, folder: Path) -> Gateway:
        assert (BIN / "openclaw").exists(), "the test command installs it: npm-tools.sh openclaw"
        gw = cls(folder, free_port())
        for sub in ("home", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        for key, value in (
            ("gateway.mode", "local"),
            ("gateway.bind", "loopback"),
            ("gateway.port", str(gw.port)),
            ("logging.file", str(folder / "openclaw.log")),
        ):
            gw.openclaw("config", "set", key, value)
        return gw

    def openclaw(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["openclaw", *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return done

    def start(self, timeout: float = 60) -> float:
        """`openclaw gateway run` in the background; the seconds until /readyz said ready."""
        with self.log.open("ab") as out:
            subprocess.Popen(
                ["openclaw", "gateway", "run"],
                env={**os.environ, **self.env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.wait_ready(timeout)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def wait_ready(self, timeout: float = 60) -> float:
        """Seconds until /readyz answered 200."""
        t0 = time.monotonic()
        while not self.ready():
            assert time.monotonic() - t0 < timeout, f"not ready: {self.log.read_text()[-2000:]}"
            time.sleep(0.2)
        return time.monotonic() - t0

    def processes(self) -> list[psutil.Process]:
        """Every process of this gateway (found by its HOME, wherever it was started)."""
        home = self.env["HOME"]
        found = []
        for p in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if p.environ().get("HOME") == home and p.status() != psutil.STATUS_ZOMBIE:
                    found.append(p)
        return found

    def kill(self) -> None:
        """An outage: SIGKILL to the gateway and its workers."""
        for p in self.processes():
            with contextlib.suppress(psutil.Error):
                p.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.1)


RECOVER_BY_START = f"""\
import os, sys
os.execv(sys.executable, [sys.executable, {str(START)!r}, *sys.argv[1:]])
"""
"""A recovery that starts the dead gateway (examples/openclaw_start.py)."""

RECOVER_BY_RESTART = """\
import os
os.execvp("openclaw", ["openclaw", "gateway", "restart"])
"""
"""The shipped recovery, `openclaw gateway restart`: without a service manager it
cannot bring back a gateway that died (OpenClaw 2026.9: "service management skipped")."""


SETTLE_SECONDS = 30.0
"""How long after a recovery that worked its alert may take to resolve: the start
script exits once the gateway is healthy, so seconds do; an outage back within it is
the same outage (it joins that run)."""


def stack_for(
    tmp_path: Path,
    project: Path,
    gw: Gateway,
    recover: Path,
    for_: str = "4s",
    interval: str = "2s",
) -> tuple[Path, Ports]:
    """`warden up`'s config with the shipped probes aimed at `gw` (every `interval`), and
    OpenClawDisconnected's recovery running the script `recover` (rewritten by a
    test between outages); bugfix agents succeed at once."""
    env = json.dumps(gw.env)
    return stack_config(
        tmp_path,
        project,
        bugfix="turns=1",
        openclaw_url=f"http://127.0.0.1:{gw.port}/readyz",
        health_command=f"[{BIN / 'openclaw'}, health, --json]",
        openclaw_recovery=(
            f"command: [{sys.executable}, {recover}, --port, '{gw.port}', --log, {gw.log}],"
            f" timeout: 1m, settle: {SETTLE_SECONDS:g}s, env: {env}"
        ),
        extra=(
            (
                "    interval: 15s\n    http:\n      - name: openclaw\n",
                f"    interval: {interval}\n    http:\n      - name: openclaw\n",
            ),
            (
                "        env: {}                       # e.g. {HOME: /home/openclaw}",
                f"        env: {env}  #",
            ),
            ("OpenClawDisconnected: {for: 30s,", f"OpenClawDisconnected: {{for: {for_},"),
        ),
    )


def last_ended(state_dir: Path) -> float:
    """When the last recovery command ended (0 if none has), by the stack's clock."""
    import sqlite3

    with sqlite3.connect(f"file:{state_dir / 'warden.db'}?mode=ro", uri=True) as db:
        [(ended,)] = db.execute("SELECT MAX(ended_at) FROM recoveries")
    return float(ended or 0.0)


def recoveries(state_dir: Path) -> list[tuple[int, str, str, str]]:
    """(id, state, outcome, detail) of every recovery run, from the store itself (the
    status API shows only the last decisions)."""
    import sqlite3

    try:
        with sqlite3.connect(f"file:{state_dir / 'warden.db'}?mode=ro", uri=True) as db:
            return list(db.execute("SELECT id, state, outcome, detail FROM recoveries ORDER BY id"))
    except sqlite3.Error:
        return []
