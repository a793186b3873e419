"""`warden up`: the whole stack on one machine, supervised, with a live view.

Exporter, responder, Prometheus and Alertmanager run as child processes with
the repository's configs (addresses rewritten, see `stackconfig`), all data
under `state_dir/stack/`. Each is restarted when it dies; the responder also
when its heartbeat stops (R1). Ctrl-C or SIGTERM stops everything, the
swarms' agents included, so nothing of Warden's is left running.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import sys
import time
import urllib.request
from pathlib import Path
from types import FrameType
from typing import Any

from warden.config import Config
from warden.rules import render
from warden.stackconfig import (
    PROMETHEUS_FLAGS,
    Addresses,
    alertmanager_config,
    prometheus_config,
    write_yaml,
)
from warden.supervise import HANG_AFTER_SECONDS, Supervisor

log = logging.getLogger(__name__)
INSTALL = "apt-get install prometheus prometheus-alertmanager"
VIEW_SECONDS = 2.0


def find_binary(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit(
        f"warden up: {' or '.join(names)} is not on PATH. Install it with:\n"
        f"  {INSTALL}\n(Debian calls Alertmanager prometheus-alertmanager.)"
    )


def ensure_token(path: Path) -> None:
    """The webhook token the responder checks and Alertmanager sends; made once."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(32) + "\n")
    log.info("made a webhook token in %s", path)


class Up:
    def __init__(self, config: Config, config_path: Path) -> None:
        self.config = config
        self.config_path = config_path
        self.folder = config.state_dir / "stack"
        s = config.stack
        self.addresses = Addresses(
            str(config.exporter.listen),
            str(config.responder.listen),
            str(s.prometheus_listen),
            str(s.alertmanager_listen),
        )
        self.supervisors: list[Supervisor] = []
        self._stopping = False

    def prepare(self) -> None:
        prometheus = find_binary("prometheus")
        alertmanager = find_binary("prometheus-alertmanager", "alertmanager")
        c = self.config
        ensure_token(c.responder.token_file)
        rules = self.folder / "prometheus" / "warden.rules.yml"
        rules.parent.mkdir(parents=True, exist_ok=True)
        rules.write_text(render(c), encoding="utf-8")  # the thresholds of this config
        prom_cfg = self.folder / "prometheus" / "prometheus.yml"
        write_yaml(prom_cfg, prometheus_config(c.stack.prometheus_config, self.addresses, rules))
        am_cfg = self.folder / "alertmanager" / "alertmanager.yml"
        write_yaml(
            am_cfg,
            alertmanager_config(
                c.stack.alertmanager_config,
                self.addresses.responder,
                c.responder.token_file.resolve(),
            ),
        )
        warden = [sys.executable, "-m", "warden.cli"]
        cfg = str(self.config_path)
        a = self.addresses
        self.supervisors = [
            Supervisor(
                "exporter",
                [*warden, "exporter", "-c", cfg],
                f"http://{a.exporter}/healthz",
                hang_after=HANG_AFTER_SECONDS,
            ),
            Supervisor(
                "responder",
                [*warden, "responder", "-c", cfg],
                f"http://{a.responder}/healthz",
                hang_after=HANG_AFTER_SECONDS,
                adopts_children=True,
            ),
            Supervisor(
                "prometheus",
                [
                    prometheus,
                    f"--config.file={prom_cfg}",
                    f"--storage.tsdb.path={self.folder / 'prometheus' / 'data'}",
                    f"--web.listen-address={a.prometheus}",
                    "--web.enable-lifecycle",
                    "--log.level=warn",
                    *PROMETHEUS_FLAGS,
                ],
                f"http://{a.prometheus}/-/healthy",
                hang_after=HANG_AFTER_SECONDS,
            ),
            Supervisor(
                "alertmanager",
                [
                    alertmanager,
                    f"--config.file={am_cfg}",
                    f"--storage.path={self.folder / 'alertmanager' / 'data'}",
                    f"--web.listen-address={a.alertmanager}",
                    "--cluster.listen-address=",
                    "--log.level=warn",
                ],
                f"http://{a.alertmanager}/-/healthy",
                hang_after=HANG_AFTER_SECONDS,
            ),
        ]

    def run(self) -> int:
        def on_signal(signum: int, frame: FrameType | None) -> None:
            self._stopping = True

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.prepare()
        for s in self.supervisors:
            s.start()
        a = self.addresses
        print(
            f"Warden is up (state in {self.config.state_dir}):\n"
            f"  exporter      http://{a.exporter}/metrics\n"
            f"  responder     http://{a.responder}/api/v1/status\n"
            f"  prometheus    http://{a.prometheus}/\n"
            f"  alertmanager  http://{a.alertmanager}/\n"
            "Ctrl-C stops everything.",
            flush=True,
        )
        last = ""
        try:
            while not self._stopping:
                time.sleep(VIEW_SECONDS)
                for s in self.supervisors:
                    if not self._stopping:
                        s.check()
                view = self.view()
                if view != last:
                    clear = "\033[H\033[J" if sys.stdout.isatty() else ""
                    print(clear + view, flush=True)
                    last = view
        finally:
            self.stop()
        return 0

    def stop(self) -> None:
        """Responder first (no new swarms), then its agents, then the rest."""
        for s in self.supervisors:
            if s.name == "responder":
                s.stop()
        from responder.model import EndReason
        from responder.runtime import Runtime

        # The responder is gone: this runtime takes its swarms over and kills
        # them all at once (one grace for all), recording why.
        runtime = Runtime(self.config)
        for swarm in runtime.store.swarms("running"):
            runtime.kill_swarm(swarm.id, "warden up stopped", EndReason.SHUTDOWN)
        runtime.wait_kills()
        runtime.close()
        for s in self.supervisors:
            if s.name != "responder":
                s.stop()
        print("Warden is down.", flush=True)

    def view(self) -> str:
        """The live view: components, mode and level, firing alerts, swarms, budget."""
        parts = [
            " ".join(
                f"{s.name}:{'up' if s.proc and s.proc.poll() is None else 'DOWN'}"
                + (f"(restarts {s.restarts})" if s.restarts else "")
                for s in self.supervisors
            )
        ]
        status = _get_json(f"http://{self.addresses.responder}/api/v1/status")
        if status is None:
            return parts[0] + "\nresponder: not answering yet"
        budget = status["budget"]
        parts.append(
            f"mode {status['mode']}  escalation {status['escalation']}"
            f"  watchdog {'SILENT' if status['pipeline_silent'] else 'ok'}"
            f"  kills by {KILL_METHODS.get(status.get('kill_method', ''), '?')}"
        )
        firing = _get_json(f"http://{self.addresses.alertmanager}/api/v2/alerts") or []
        names = sorted({a["labels"]["alertname"] for a in firing} - {"Watchdog"})
        parts.append("firing: " + (", ".join(names) or "nothing"))
        swarms = status["swarms"]
        parts.append(
            f"swarms: {len(swarms)} running"
            + "".join(f"\n  {s['id']} {s['type']} {s['priority']} ({s['trigger']})" for s in swarms)
            + "".join(
                f"\n  PAUSED {p['type']} ({p['cls']}): {p['error']}"
                f" - warden swarm resume {p['type']}"
                for p in status.get("paused", [])
            )
        )
        parts.append(
            f"budget {budget['period']}: ${budget['spend_usd']:.2f} of ${budget['cap_usd']:.2f}"
        )
        recent = [
            d
            for d in status["decisions"]
            if d["kind"] in ("alert", "swarm_end", "mode", "paused", "resumed")
        ]
        parts.append("lately:" + "".join(f"\n  {_decision(d)}" for d in recent[:4]))
        return "\n".join(parts)


KILL_METHODS = {"cgroup": "cgroup v2", "process_tree": "process tree (no cgroup v2)"}


def _decision(d: dict[str, Any]) -> str:
    when = time.strftime("%H:%M:%S", time.localtime(d["at"]))
    if d["kind"] == "alert":
        return f"{when} {d['alert']}: {d['outcome']}"
    if d["kind"] == "mode":
        return f"{when} mode {d['from']} -> {d['to']}"
    if d["kind"] in ("paused", "resumed"):
        return f"{when} {d['kind']} {d['type']} ({d['class']})"
    return f"{when} swarm {d['swarm']} {d['state']}: {d['reason']}"


def _get_json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310  (loopback URLs)
            return json.loads(resp.read())
    except (OSError, ValueError):
        return None
