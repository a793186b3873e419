"""Probes against a real local HTTP server and real commands."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from exporter.collectors.probes import ProbesCollector
from tests.conftest import free_port
from tests.units.test_checks import value
from warden.config import CommandProbe, HttpProbe, ProbesSettings
from warden.runner import CommandRunner

seen_headers: list[str] = []


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        seen_headers.append(self.headers.get("Authorization", ""))
        if self.path == "/slow":
            time.sleep(0.6)
        status = {"/readyz": 200, "/slow": 200, "/down": 503, "/redirect": 302}.get(self.path, 404)
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/readyz")
        self.end_headers()
        # The /slow probe's client has given up by now: its closed socket is the point.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def http(
    name: str,
    url: str,
    timeout: float = 5,
    expect: tuple[int, ...] = (),
    headers: dict[str, str] | None = None,
) -> HttpProbe:
    return HttpProbe(name, url, timeout, headers or {}, expect)


def test_http_and_command_probes(server: str, tmp_path: Path) -> None:
    settings = ProbesSettings(
        15,
        (
            http("ready", f"{server}/readyz", headers={"Authorization": "Bearer t0k"}),
            http("slow", f"{server}/slow"),
            http("too_slow", f"{server}/slow", timeout=0.2),
            http("down", f"{server}/down"),
            http("down_expected", f"{server}/down", expect=(503,)),
            http("redirect", f"{server}/redirect"),
            http("refused", f"http://127.0.0.1:{free_port()}/readyz"),
        ),
        (
            CommandProbe("healthy", (sys.executable, "-c", "print('{}')"), 5, {}, "exit"),
            CommandProbe("sick", (sys.executable, "-c", "raise SystemExit(3)"), 5, {}, "exit"),
            CommandProbe(
                "hung", (sys.executable, "-c", "import time; time.sleep(60)"), 0.3, {}, "exit"
            ),
            CommandProbe("missing", ("no-such-program-zz",), 5, {}, "exit"),
        ),
    )
    c = ProbesCollector(settings, tmp_path, CommandRunner())
    fam = c.collect()
    c.close()

    def ok(name: str, kind: str = "http") -> float | None:
        return value(fam, "warden_probe_success", {"probe": name, "kind": kind})

    def status(name: str) -> float | None:
        return value(fam, "warden_probe_http_status_code", {"probe": name})

    assert ok("ready") == 1 and status("ready") == 200
    assert "Bearer t0k" in seen_headers
    assert ok("slow") == 1
    slow = value(fam, "warden_probe_duration_seconds", {"probe": "slow", "kind": "http"})
    assert slow is not None and slow >= 0.6
    assert ok("too_slow") == 0 and status("too_slow") == 0
    assert ok("down") == 0 and status("down") == 503
    assert ok("down_expected") == 1
    assert ok("redirect") == 0 and status("redirect") == 302
    assert ok("refused") == 0 and status("refused") == 0
    assert ok("healthy", "command") == 1
    assert value(fam, "warden_probe_command_exit_code", {"probe": "healthy"}) == 0
    assert ok("sick", "command") == 0
    assert value(fam, "warden_probe_command_exit_code", {"probe": "sick"}) == 3
    assert ok("hung", "command") == 0
    assert value(fam, "warden_probe_command_exit_code", {"probe": "hung"}) == -1
    assert value(fam, "warden_probe_command_exit_code", {"probe": "missing"}) == -1
