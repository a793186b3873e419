"""Real Prometheus and Alertmanager on loopback, with the shipped configs.

The shipped `prometheus/prometheus.yml` and `alertmanager/alertmanager.yml`
are loaded and only their addresses are rewritten to free ports (and the
webhook token file to a temp one); rules, intervals, routes and receivers
stay as shipped. `defaults=True` instead resets the timings to Prometheus'
and Alertmanager's own defaults, for comparison in the benchmarks.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO, free_port, http_get, write_config
from warden import auth
from warden.auth import fetch
from warden.stackconfig import (
    PROMETHEUS_FLAGS,
    Addresses,
    alertmanager_config,
    prometheus_config,
    write_yaml,
)

PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
TOKEN = "test-token-0123456789"


@dataclass
class Hook:
    path: str
    authorization: str
    body: dict[str, Any]
    received: float


@dataclass
class Receiver:
    """An HTTP server standing in for the responder's webhook endpoints."""

    hooks: list[Hook] = field(default_factory=list)
    port: int = 0

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(size))
                receiver.hooks.append(
                    Hook(self.path, self.headers.get("Authorization", ""), body, time.time())
                )
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()

    def alerts(self, alertname: str, status: str = "firing") -> list[tuple[Hook, dict[str, Any]]]:
        return [
            (h, a)
            for h in list(self.hooks)
            for a in h.body.get("alerts", [])
            if a["labels"].get("alertname") == alertname and a["status"] == status
        ]


def build_project(work: Path, script: str) -> Path:
    """A project whose build is `script`, run every second; returns its config."""
    (work / "build.py").write_text(script)
    return write_config(
        work / "w.yml",
        f"""
        collectors:
          build: {{command: [{sys.executable}, build.py], interval: 1s, run_on_change: false}}
    """,
    )


class Stack:
    def __init__(
        self,
        work: Path,
        exporter_port: int,
        webhook_port: int,
        defaults: bool = False,
        secrets: Path | None = None,
        critical_repeat: str | None = None,
        responder_port: int | None = None,
    ) -> None:
        """`secrets`: the secrets_dir of the exporter it scrapes (its scrape password);
        `critical_repeat`: the critical route's repeat_interval instead of the shipped
        one (5m), so that a test sees Alertmanager deliver an alert again;
        `responder_port`: a real responder to scrape (by default a port nobody
        listens on, so that the rules' ResponderHeartbeatMissing fires)."""
        if PROMETHEUS is None or ALERTMANAGER is None:
            raise RuntimeError(
                "prometheus and prometheus-alertmanager are needed: "
                "apt-get install prometheus prometheus-alertmanager"
            )
        self.work = work
        self.secrets = auth.Secrets(secrets or work / "secrets")
        self.secrets.ensure()
        self.prom_web, self.am_web = self.secrets.web_configs()
        self.prom_auth = self.secrets.credentials(auth.PROMETHEUS)
        self.am_auth = self.secrets.credentials(auth.ALERTMANAGER)
        self.prom_port, self.am_port = free_port(), free_port()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.prometheus_flags = [] if defaults else list(PROMETHEUS_FLAGS)
        self._write_alertmanager(webhook_port, defaults, critical_repeat)
        self._write_prometheus(exporter_port, responder_port or free_port(), defaults)

    def _write_alertmanager(
        self, webhook_port: int, defaults: bool, critical_repeat: str | None
    ) -> None:
        token = self.work / "am" / "secrets" / "webhook-token"
        token.parent.mkdir(parents=True)
        token.write_text(TOKEN + "\n")
        am = alertmanager_config(
            REPO / "alertmanager" / "alertmanager.yml", [f"127.0.0.1:{webhook_port}"], token
        )
        if defaults:  # Alertmanager's own defaults: 30s, 5m, 4h on every route
            for route in [am["route"], *am["route"]["routes"]]:
                for key in ("group_wait", "group_interval", "repeat_interval"):
                    route.pop(key, None)
        for route in am["route"]["routes"]:
            if critical_repeat and route["matchers"] == ['severity="critical"']:
                route["repeat_interval"] = critical_repeat
        write_yaml(self.work / "am" / "alertmanager.yml", am)

    def _write_prometheus(self, exporter_port: int, responder_port: int, defaults: bool) -> None:
        rules = self.work / "prom" / "rules" / "warden.rules.yml"
        rule_doc = yaml.safe_load((REPO / "prometheus" / "rules" / "warden.rules.yml").read_text())
        addresses = Addresses(
            f"127.0.0.1:{exporter_port}",
            f"127.0.0.1:{responder_port}",
            f"127.0.0.1:{self.prom_port}",
            f"127.0.0.1:{self.am_port}",
        )
        prom = prometheus_config(
            REPO / "prometheus" / "prometheus.yml", addresses, rules, self.secrets.folder
        )
        if defaults:  # Prometheus' own defaults: scrape and evaluate every 1m
            prom["global"] = {}
            for job in prom["scrape_configs"]:
                job.pop("scrape_interval", None)
                job.pop("scrape_timeout", None)
            for group in rule_doc["groups"]:
                group.pop("interval", None)
        write_yaml(rules, rule_doc)
        write_yaml(self.work / "prom" / "prometheus.yml", prom)

    def start(self) -> None:
        log = (self.work / "stack.log").open("ab")
        self.procs.append(
            subprocess.Popen(
                [
                    str(ALERTMANAGER),
                    f"--config.file={self.work / 'am' / 'alertmanager.yml'}",
                    f"--storage.path={self.work / 'am' / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.am_port}",
                    f"--web.config.file={self.am_web}",
                    "--cluster.listen-address=",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=log,
            )
        )
        self.procs.append(
            subprocess.Popen(
                [
                    str(PROMETHEUS),
                    f"--config.file={self.work / 'prom' / 'prometheus.yml'}",
                    f"--storage.tsdb.path={self.work / 'prom' / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.prom_port}",
                    f"--web.config.file={self.prom_web}",
                    "--log.level=warn",
                    *self.prometheus_flags,
                ],
                stdout=log,
                stderr=log,
            )
        )
        for port, creds in ((self.am_port, self.am_auth), (self.prom_port, self.prom_auth)):
            deadline = time.monotonic() + 30
            while True:
                try:
                    if http_get(f"http://127.0.0.1:{port}/-/ready", 1, creds)[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"not ready on {port}: {(self.work / 'stack.log').read_text()}"
                    )
                time.sleep(0.1)

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant PromQL query's result vector."""
        url = f"http://127.0.0.1:{self.prom_port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": expr}
        )
        return list(json.loads(fetch(url, self.prom_auth, 10))["data"]["result"])

    def am_alerts(self) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.am_port}/api/v2/alerts"
        return list(json.loads(fetch(url, self.am_auth, 10)))

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        fetch(
            f"http://127.0.0.1:{self.am_port}/api/v2/alerts",
            self.am_auth,
            10,
            data=json.dumps(alerts).encode(),
            headers={"Content-Type": "application/json"},
        )

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
