"""The responder's receiver: a process of its own in front of the worker's, the
two living and dying together (responder/service/receiver.py, serve.py)."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ResponderProcess, http_get, receiver_of, sample, wait_for
from tests.service.test_responder import alert, body, post, responder_config, swarms


def inbox(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "state" / "warden.db") as conn:
        return int(conn.execute("SELECT COUNT(*) FROM inbox").fetchone()[0])


def test_bodies_are_accepted_while_the_worker_process_is_stopped_and_worked_off_after(
    tmp_path: Path, responder_factory: type[ResponderProcess]
) -> None:
    """The receiver answers on its own: a webhook is stored and acknowledged while
    the worker's process is stopped (SIGSTOP), which forwarded requests wait for;
    the worker takes the body when it runs again. The same bytes again while the
    first still waits are accepted and not stored: a copy, counted."""
    resp = responder_factory(responder_config(tmp_path))
    receiver = receiver_of(resp.proc.pid)
    assert receiver.ppid() == resp.proc.pid
    os.kill(resp.proc.pid, signal.SIGSTOP)
    try:
        for _ in range(2):
            assert post(resp.url, body(alert("StormAlert", fp="f1"))) == (200, {"accepted": 1})
        assert inbox(tmp_path) == 1
        with pytest.raises(TimeoutError):
            http_get(resp.url + "/healthz", timeout=1)  # forwarded: the worker's to answer
    finally:
        os.kill(resp.proc.pid, signal.SIGCONT)
    trigger = "alert:StormAlert:f1:2026-11-26T20:00:00Z:0"
    wait_for(lambda: [s[3] for s in swarms(tmp_path)] == [trigger])
    text = resp.wait_until(lambda t: sample(t, "warden_responder_webhook_copies_total") == 1)
    assert sample(text, "warden_responder_alerts_received_total", {"status": "firing"}) == 1


def test_the_responder_stops_when_its_receiver_dies_so_its_supervisor_starts_both(
    tmp_path: Path, responder_factory: type[ResponderProcess]
) -> None:
    resp = responder_factory(responder_config(tmp_path))
    receiver_of(resp.proc.pid).kill()
    assert resp.proc.wait(timeout=30) == 1
    assert "the webhook receiver" in resp.log.read_text()
    assert "ended with status -9" in resp.log.read_text()


def test_the_receiver_dies_with_the_responder_and_leaves_the_port_free(
    tmp_path: Path, responder_factory: type[ResponderProcess]
) -> None:
    """A SIGKILL, which the responder cannot act on: the kernel ends the receiver
    (its parent-death signal), and a responder started again gets the port."""
    config = responder_config(tmp_path)
    resp = responder_factory(config)
    receiver = receiver_of(resp.proc.pid)
    resp.kill()
    receiver.wait(timeout=30)
    with socket.create_server(("127.0.0.1", resp.port)):
        pass
    again = responder_factory(config, resp.port)
    assert post(again.url, body(alert("StormAlert", fp="f2")))[0] == 200
    stopped = receiver_of(again.proc.pid)
    assert again.stop() == 0, "a SIGTERM stops both, cleanly"
    assert not stopped.is_running()


def test_refusals_of_the_receiver_are_counted_and_other_routes_keep_their_gates(
    tmp_path: Path, responder_factory: type[ResponderProcess]
) -> None:
    resp = responder_factory(responder_config(tmp_path))
    assert post(resp.url, body(alert("X")), token=None)[0] == 401
    assert post(resp.url, b"[]")[0] == 400
    assert http_get(resp.url + "/metrics")[0] == 401, "forwarded, and refused by its gate"
    assert http_get(resp.url + "/api/v1/status")[0] == 401
    status, answer = post(resp.url, b"{}", token=None, path="/api/v1/maintenance")
    assert status == 401, answer
    text = resp.metrics()
    rejected = "warden_responder_webhooks_rejected_total"
    assert sample(text, rejected, {"reason": "unauthorized"}) == 4
    assert sample(text, rejected, {"reason": "bad_body"}) == 1
    assert (sample(text, "warden_responder_receiver_cpu_seconds_total") or 0) > 0
    assert resp.get("/api/v1/status")[0] == 200


def test_a_port_taken_stops_the_start_with_the_address_named(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        config, listen = str(responder_config(tmp_path)), f"127.0.0.1:{port}"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "warden.shell.cli",
                "responder",
                "-c",
                config,
                "--listen",
                listen,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}: " in done.stderr
    assert "address already in use" in done.stderr.lower()
    assert "Traceback" not in done.stderr


def test_the_worker_routes_answer_only_processes_of_the_responders_user(
    tmp_path: Path, responder_factory: type[ResponderProcess]
) -> None:
    """Its socket is in the abstract namespace (no file, no mode): anyone on the
    host may connect, and a request of another user's process is refused."""
    resp = responder_factory(responder_config(tmp_path))
    tag = f"@warden-responder-{resp.proc.pid}-"
    names = [w for line in Path("/proc/net/unix").read_text().splitlines() for w in line.split()]
    name = next(n for n in names if n.startswith(tag))
    ask = (
        "import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect('\\0' + sys.argv[1]);"
        "s.sendall(b'GET /healthz HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n');"
        "print(s.recv(100).split(b'\\r\\n')[0].decode())"
    )
    address = name[1:]  # without the "@" /proc shows for the namespace's NUL
    mine = subprocess.run([sys.executable, "-c", ask, address], capture_output=True, text=True)
    assert mine.stdout.strip() == "HTTP/1.1 200 OK", mine
    if os.getuid() != 0:
        pytest.skip("another user's process needs root to start")
    nobody = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"]
    theirs = subprocess.run(
        [*nobody, "/usr/bin/python3", "-I", "-c", ask, address], capture_output=True, text=True
    )
    assert theirs.stdout.strip() == "HTTP/1.1 403 Forbidden", theirs
