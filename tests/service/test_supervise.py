"""R1: a crashed or hung responder is restarted and continues from its state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tests.conftest import REPO, free_port, http_get, stack_auth, wait_for
from tests.service.test_responder import alert, body, post, responder_config
from warden.supervise import Supervisor


def health(url: str) -> dict[str, object] | None:
    try:
        status, text = http_get(url + "/healthz", timeout=1)
    except OSError:
        return None
    return json.loads(text) if status == 200 else None


def pid_other_than(url: str, old: int | None) -> int | None:
    h = health(url)
    pid = int(h["pid"]) if h else None  # type: ignore[call-overload]
    return pid if pid and pid != old else None


def test_crash_and_hang_are_restarted(tmp_path: Path) -> None:
    port = free_port()
    cfg = responder_config(tmp_path, responder_extra=f"  listen: 127.0.0.1:{port}")
    url, log = f"http://127.0.0.1:{port}", tmp_path / "supervise.log"
    with log.open("w") as err:  # the supervisor's and the responders' logs
        sup = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "warden.shell.cli",
                "supervise",
                "responder",
                "-c",
                str(cfg),
                "--hang-after",
                "3s",
                "--check-interval",
                "500ms",
            ],
            cwd=REPO,
            stderr=err,
        )

    def up(pid: int) -> bool:
        """The supervisor saw it healthy: from now on a hang is hang_after, not a slow start."""
        return f"responder is up (pid {pid})" in log.read_text()

    try:
        first = wait_for(lambda: pid_other_than(url, None), 30)
        assert post(url, body(alert("CoverageDecreased", fp="5e1")))[0] == 200
        # A crash: the supervisor sees the exit and starts it again.
        os.kill(first, signal.SIGKILL)
        second = wait_for(lambda: pid_other_than(url, first), 30)

        # It continues from its state: the decision taken before the crash is there
        # (or, if the crash came first, taken from the stored body by the new one).
        # The status shows what the worker published after its last step.
        def decided() -> bool:
            status = json.loads(http_get(url + "/api/v1/status", auth=stack_auth(cfg))[1])
            return any(d.get("alert") == "CoverageDecreased" for d in status["decisions"])

        assert wait_for(decided, 10)
        assert wait_for(lambda: up(second), 30)
        # A hang: stopped, it answers nothing; after 3 s it is killed and restarted.
        os.kill(second, signal.SIGSTOP)
        third = wait_for(lambda: pid_other_than(url, second), 30)
        assert not psutil.pid_exists(second) or psutil.Process(second).status() == "zombie"
    finally:
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(timeout=30) == 0
        print(log.read_text())
    assert not psutil.pid_exists(third) or psutil.Process(third).status() == "zombie"
    assert health(url) is None


SLOW_START = """
import json, pathlib, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

ready, port = pathlib.Path(sys.argv[1]), int(sys.argv[2])
while not ready.exists():  # a start that takes as long as the test says
    time.sleep(0.05)

class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        data = json.dumps({"heartbeat": time.time()}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

HTTPServer(("127.0.0.1", port), Health).serve_forever()
"""


def test_a_slow_start_is_not_a_hang(tmp_path: Path) -> None:
    """Was: the hang clock ran from the child's start, so a responder that took
    longer than --hang-after to load (3 s on a busy machine, in CI) was killed
    before its first answer, and again at every restart: it never came up."""
    ready, port = tmp_path / "ready", free_port()
    sup = Supervisor(
        "slow",
        [sys.executable, "-c", SLOW_START, str(ready), str(port)],
        f"http://127.0.0.1:{port}/healthz",
        hang_after=0.5,
        start_within=3.0,
    )
    sup.start()
    try:
        assert sup.proc is not None
        first, since = sup.proc.pid, time.monotonic()
        # Starting for four hang periods: not hung.
        while time.monotonic() - since < 2.0:
            assert sup.check() is None
        ready.touch()
        wait_for(lambda: sup.check() is None and sup.healthy(), 10)
        assert (sup.proc.pid, sup.restarts) == (first, 0)
        # Once it has answered, the hang clock is hang_after again.
        ready.unlink()
        os.kill(first, signal.SIGSTOP)
        assert wait_for(lambda: sup.check(), 10) == "hung: no healthy answer for 0.5 s"
        # A start that never answers is a hang too, after start_within.
        since = time.monotonic()
        why = wait_for(lambda: sup.check(), 20)
        assert why == "hung: no healthy answer within 3 s of its start", why
        assert time.monotonic() - since >= 3.0
    finally:
        sup.stop()


def test_sigterm_stops_the_supervisor_at_once_not_after_its_check_interval(
    tmp_path: Path,
) -> None:
    """Was: `warden supervise` slept its check interval in time.sleep, which a signal
    handler does not end (PEP 475): a SIGTERM waited out the rest of it."""
    port = free_port()
    cfg = responder_config(tmp_path, responder_extra=f"  listen: 127.0.0.1:{port}")
    argv = ["supervise", "responder", "-c", str(cfg), "--check-interval", "5m"]
    sup = subprocess.Popen([sys.executable, "-m", "warden.shell.cli", *argv], cwd=REPO)
    try:
        child = wait_for(lambda: pid_other_than(f"http://127.0.0.1:{port}", None), 30)
        since = time.monotonic()
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(timeout=60) == 0
        took = time.monotonic() - since
        assert took < 15, f"stopped {took:.1f} s after SIGTERM"
        assert not psutil.pid_exists(child) or psutil.Process(child).status() == "zombie"
    finally:
        sup.kill()
        sup.wait()
