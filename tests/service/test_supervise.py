"""R1: a crashed or hung responder is restarted and continues from its state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from tests.conftest import REPO, free_port, http_get, stack_auth, wait_for
from tests.service.test_responder import alert, body, post, responder_config


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
    url = f"http://127.0.0.1:{port}"
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
    )
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
        # A hang: stopped, it answers nothing; after 3 s it is killed and restarted.
        os.kill(second, signal.SIGSTOP)
        third = wait_for(lambda: pid_other_than(url, second), 30)
        assert not psutil.pid_exists(second) or psutil.Process(second).status() == "zombie"
    finally:
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(timeout=30) == 0
    assert not psutil.pid_exists(third) or psutil.Process(third).status() == "zombie"
    assert health(url) is None
