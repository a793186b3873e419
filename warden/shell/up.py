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
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

from warden.auth import ALERTMANAGER, PROMETHEUS, SCRAPE, Credentials, Secrets, fetch, make_secret
from warden.config import Config
from warden.phase import align, exporter_scrape, predicted_scrape
from warden.rules import FAST_GROUP
from warden.rules import render as render_rules
from warden.shell.view import Part, Scene, render
from warden.stackconfig import (
    PROMETHEUS_FLAGS,
    Addresses,
    alertmanager_config,
    prometheus_config,
    write_yaml,
)
from warden.supervise import Supervisor
from warden.wakeup import Wakeup

log = logging.getLogger(__name__)
INSTALL = "apt-get install prometheus prometheus-alertmanager"
VIEW_SECONDS = 2.0
PIPE_VIEW_SECONDS = 10.0
"""Without a terminal the view is a log of changes: looking less often costs less."""
CHECK_SECONDS = 10.0
ALIGN_LOOK_SECONDS = 0.5
ALIGN_EAGER_SECONDS = 60.0
"""How often, and for how long after the start, to look for the exporter's first
scrape until the rules are aligned; later (an exporter that never came up) at the
view's own pace."""
PIPE_COLUMNS = 160
LOG_PANE_LINES = 8
STOP_GRACE_SECONDS = 10.0
"""A service's SIGTERM grace before SIGKILL (Supervisor.stop)."""


def find_binary(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit(
        f"warden up: {' or '.join(names)} is not on PATH. Install it with:\n"
        f"  {INSTALL}\n(Debian calls Alertmanager prometheus-alertmanager.)"
    )


class Up:
    def __init__(self, config: Config, config_path: Path, verbose: bool = False) -> None:
        self.config = config
        self.config_path = config_path
        self.verbose = verbose
        self.folder = config.state_dir / "stack"
        self.logs = config.state_dir / "logs"
        self.rules = self.folder / "prometheus" / "warden.rules.yml"
        s = config.stack
        self.addresses = Addresses(
            str(config.exporter.listen),
            str(config.responder.listen),
            str(s.prometheus_listen),
            str(s.alertmanager_listen),
            str(s.prometheus_replica_listen) if s.prometheus_replica_listen else None,
            str(s.alertmanager_peer_listen) if s.alertmanager_peer_listen else None,
            s.other_exporters,
            s.other_responders,
        )
        self.supervisors: list[Supervisor] = []
        self.credentials: dict[str, Credentials] = {}
        """Per part, what this view shows it (made or read by `prepare`)."""
        self._stopping = False

    def prepare(self) -> None:
        prometheus = find_binary("prometheus")
        alertmanager = find_binary("prometheus-alertmanager", "alertmanager")
        c = self.config
        if make_secret(c.responder.token_file):
            log.info("made a webhook token in %s", c.responder.token_file)
        stack_secrets = Secrets(c.secrets_dir)
        made = stack_secrets.ensure()
        if made:
            log.info("made %s in %s", ", ".join(made), c.secrets_dir)
        prom_web, am_web = stack_secrets.web_configs()
        self.credentials = {
            "prometheus": stack_secrets.credentials(PROMETHEUS),
            "alertmanager": stack_secrets.credentials(ALERTMANAGER),
            "responder": stack_secrets.credentials(SCRAPE),
        }
        rules = self.rules
        rules.parent.mkdir(parents=True, exist_ok=True)
        rules.write_text(render_rules(c), encoding="utf-8")  # the thresholds of this config
        am_cfg = self.folder / "alertmanager" / "alertmanager.yml"
        write_yaml(
            am_cfg,
            alertmanager_config(
                c.stack.alertmanager_config,
                self.addresses.responders,
                c.responder.token_file.resolve(),
            ),
        )
        self.supervisors = [
            *self._warden_parts(),
            *self._prometheuses(prometheus, rules, prom_web),
            *self._alertmanagers(alertmanager, am_cfg, am_web, stack_secrets),
        ]
        for s in self.supervisors:
            s.log_path = self.logs / f"{s.name}.log"  # never into the view

    def _warden_parts(self) -> list[Supervisor]:
        """The exporter and the responder, each a `warden` process of this config."""
        warden = [sys.executable, "-m", "warden.shell.cli"]
        cfg, a, hang_after = str(self.config_path), self.addresses, self.config.stack.hang_after
        return [
            Supervisor(
                "exporter",
                [*warden, "exporter", "-c", cfg],
                f"http://{a.exporter}/healthz",
                hang_after=hang_after,
            ),
            Supervisor(
                "responder",
                [*warden, "responder", "-c", cfg],
                f"http://{a.responder}/healthz",
                hang_after=hang_after,
                adopts_children=True,
            ),
        ]

    def _prometheuses(self, binary: str, rules: Path, web: Path) -> list[Supervisor]:
        """One Prometheus, or a pair: replicas a and b, same rules and targets; the
        rules' fast group named for the first one's scrape of the exporter."""
        c, a, out = self.config, self.addresses, list[Supervisor]()
        pair = a.prometheus_b is not None
        for name, listen, replica in (
            ("prometheus", a.prometheus, "a" if pair else None),
            ("prometheus-b", a.prometheus_b, "b"),
        ):
            if listen is None:
                continue
            folder = self.folder / name
            prom_cfg = folder / "prometheus.yml"
            prom = prometheus_config(c.stack.prometheus_config, a, rules, c.secrets_dir, replica)
            write_yaml(prom_cfg, prom)
            if name == "prometheus" and (scrape := predicted_scrape(prom, a.exporter)):
                # The build's alerts evaluated just after the exporter's scrape, its
                # phase computed as this Prometheus will (warden/phase.py); checked
                # once it scraped (`_align_phase`).
                align(rules, FAST_GROUP, scrape)
            out.append(
                Supervisor(
                    name,
                    [
                        binary,
                        f"--config.file={prom_cfg}",
                        f"--storage.tsdb.path={folder / 'data'}",
                        f"--web.listen-address={listen}",
                        f"--web.config.file={web}",
                        *(["--web.enable-lifecycle"] if c.stack.prometheus_lifecycle else []),
                        "--log.level=warn",
                        *PROMETHEUS_FLAGS,
                    ],
                    f"http://{listen}/-/healthy",
                    hang_after=c.stack.hang_after,
                    credentials=self.credentials["prometheus"],
                )
            )
        return out

    def _alertmanagers(
        self, binary: str, config_file: Path, web: Path, secrets: Secrets
    ) -> list[Supervisor]:
        """One Alertmanager, or two gossiping (each on its web port + 1) so a
        notification leaves once, from either. Gossip is mutual TLS
        (warden.clustertls): whoever reaches the port without the cluster's
        certificate can neither join nor spread a silence."""
        c, a, out = self.config, self.addresses, list[Supervisor]()
        managers = [("alertmanager", a.alertmanager), ("alertmanager-b", a.alertmanager_b)]
        gossip = {name: gossip_address(listen) for name, listen in managers if listen}
        tls = secrets.cluster_tls() if len(gossip) > 1 else None
        for name, listen in managers:
            if listen is None:
                continue
            cluster = (
                [
                    f"--cluster.listen-address={gossip[name]}",
                    *(f"--cluster.peer={g}" for other, g in gossip.items() if other != name),
                    f"--cluster.tls-config={tls}",
                ]
                if tls is not None
                else ["--cluster.listen-address="]
            )
            out.append(
                Supervisor(
                    name,
                    [
                        binary,
                        f"--config.file={config_file}",
                        f"--storage.path={self.folder / name / 'data'}",
                        f"--web.listen-address={listen}",
                        f"--web.config.file={web}",
                        *cluster,
                        "--log.level=warn",
                    ],
                    f"http://{listen}/-/healthy",
                    hang_after=c.stack.hang_after,
                    credentials=self.credentials["alertmanager"],
                )
            )
        return out

    def run(self, console: Console | None = None) -> int:
        def on_signal(signum: int, frame: FrameType | None) -> None:
            self._stopping = True

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # a part exited: look now
        with Wakeup() as self._wakeup:
            return self._run(console)

    def _run(self, console: Console | None) -> int:
        console = console or Console()
        if not console.is_terminal:  # a pipe or a log file: no wrapping at 80 columns
            console = Console(width=PIPE_COLUMNS, file=console.file)
        self.prepare()
        for s in self.supervisors:
            s.start()
        log.info("warden up: state in %s, logs in %s", self.config.state_dir, self.logs)
        if not console.is_terminal:
            console.print(f"Warden is up. Logs: {self.logs}/. Ctrl-C stops everything.")
        try:
            if console.is_terminal:
                with Live(render(self.scene()), console=console, auto_refresh=False) as live:

                    def show(scene: Scene) -> None:
                        live.update(render(scene), refresh=True)

                    self._watch(show, VIEW_SECONDS, 5.0)
            else:
                # Without a terminal (a pipe, a log): the view each time it changes.
                self._watch(lambda scene: console.print(render(scene)), PIPE_VIEW_SECONDS, None)
        finally:
            self.stop(console)
        return 0

    def _watch(
        self, show: Callable[[Scene], None], every: float, redraw_after: float | None
    ) -> None:
        """Look `every` seconds, draw when what is seen changed (or, on a
        terminal, every `redraw_after` s for the ages); restart a part that
        exited at once (its SIGCHLD ends the wait), ask the parts' health
        every CHECK_SECONDS, and align the build's alerts with the exporter's
        scrape once Prometheus has scraped it."""
        last_key, drawn_at, checked_at = "", 0.0, time.monotonic()
        aligned, started = False, checked_at
        while not self._stopping:
            scene = self.scene()
            key, now = scene.key(), time.monotonic()
            if key != last_key or (redraw_after and now - drawn_at >= redraw_after):
                show(scene)
                last_key, drawn_at = key, now
            aligned = aligned or self._align_phase()
            eager = not aligned and now - started < ALIGN_EAGER_SECONDS
            self._wakeup.wait(ALIGN_LOOK_SECONDS if eager else every)
            # A part that exited is restarted at once; health is asked less often.
            health_due = time.monotonic() - checked_at >= CHECK_SECONDS
            if health_due:
                checked_at = time.monotonic()
            for s in self.supervisors:
                if not self._stopping and (health_due or s.exited()):
                    s.check()

    def _align_phase(self) -> bool:
        """Once Prometheus scraped the exporter, check that the build's alerts are
        evaluated just after the scrape, and if not (a phase `prepare` could not
        foresee) rename their group and reload Prometheus (warden/phase.py); True once
        done, or when there is nothing to do."""
        prometheus = next((s for s in self.supervisors if s.name == "prometheus"), None)
        if prometheus is None or prometheus.proc is None:
            return True
        url = f"http://{self.addresses.prometheus}/api/v1/targets?state=active"
        scrape = exporter_scrape(
            _get_json(url, self.credentials["prometheus"]), self.addresses.exporter
        )
        if scrape is None:
            return False
        if align(self.rules, FAST_GROUP, scrape):
            prometheus.proc.send_signal(signal.SIGHUP)
            log.warning(
                "the exporter's scrape runs at %.3f s of each second, not as foreseen: the"
                " build's alerts renamed to follow it, Prometheus reloaded",
                scrape.phase,
            )
        return True

    def scene(self) -> Scene:
        a = self.addresses
        where = asdict(a)  # by part name
        parts = [
            Part(
                s.name,
                s.proc is not None and s.proc.poll() is None,
                s.restarts,
                where[s.name.replace("-", "_")],
            )
            for s in self.supervisors
        ]
        status = _get_json(f"http://{a.responder}/api/v1/status", self.credentials["responder"])
        firing = _get_json(
            f"http://{a.alertmanager}/api/v2/alerts?silenced=false&inhibited=false",
            self.credentials["alertmanager"],
        )
        logs = tail_logs(self.logs, LOG_PANE_LINES) if self.verbose else []
        return Scene(parts, status, firing, logs)

    def stop(self, console: Console) -> None:
        """Responder first (no new swarms), then its agents, then the rest; each
        step on screen with the grace it may take."""
        from responder.act.runtime import Runtime
        from responder.model import EndReason

        responder = [s for s in self.supervisors if s.name == "responder"]
        others = [s for s in self.supervisors if s.name != "responder"]
        shutdown = Shutdown(console)
        shutdown.run(
            Step("responder", STOP_GRACE_SECONDS, lambda: _all_at_once([s.stop for s in responder]))
        )
        # The responder is gone: this runtime takes its swarms over and kills
        # them all at once (one grace for all), recording why.
        runtime = Runtime(self.config)
        swarms = runtime.store.swarms("running")

        def kill_swarms() -> None:
            for swarm in swarms:
                runtime.kill_swarm(swarm.id, "warden up stopped", EndReason.SHUTDOWN)
            runtime.wait_kills()
            runtime.close()

        grace = max((t.kill_grace for t in self.config.swarm_types.values()), default=10.0)
        named = ", ".join(f"{s.id} {s.type} {s.priority}" for s in swarms)
        shutdown.run(Step(f"{len(swarms)} swarm(s): {named or 'none running'}", grace, kill_swarms))
        shutdown.run(
            Step(
                ", ".join(s.name for s in others),
                STOP_GRACE_SECONDS,
                lambda: _all_at_once([s.stop for s in others]),
            )
        )
        console.print("Warden is down.")


class Step:
    """One part of a shutdown: what is stopped, and the grace before it is forced."""

    def __init__(self, what: str, grace: float, do: Callable[[], object]) -> None:
        self.what, self.grace, self.do = what, grace, do
        self.took: float | None = None

    def line(self, elapsed: float) -> Text:
        if self.took is not None:
            return Text(f"  stopped {self.what} ({self.took:.1f} s)", style="green")
        left = self.grace - elapsed
        when = f"forced in {left:.0f} s" if left > 0 else "forcing now"
        return Text(f"  stopping {self.what}: SIGTERM sent, {when}", style="bold yellow")


class Shutdown:
    """Runs the steps one by one, each in a thread while the screen counts its
    grace down; each step done stays on screen with the time it took."""

    def __init__(self, console: Console) -> None:
        self.console = console
        console.print(Text("Stopping Warden", style="bold"))

    def run(self, step: Step) -> None:
        worker = threading.Thread(target=step.do, name="stop", daemon=True)
        t0 = time.monotonic()
        worker.start()
        if not self.console.is_terminal:
            self.console.print(f"stopping {step.what} (grace {step.grace:g} s)")
        else:
            with Live(
                step.line(0), console=self.console, auto_refresh=False, transient=True
            ) as live:
                while worker.is_alive():
                    worker.join(0.2)
                    live.update(step.line(time.monotonic() - t0), refresh=True)
        worker.join()
        step.took = time.monotonic() - t0
        self.console.print(step.line(step.took))


def _all_at_once(stops: Sequence[Callable[[], None]]) -> None:
    threads = [threading.Thread(target=stop, daemon=True) for stop in stops]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def tail_logs(folder: Path, lines: int) -> list[str]:
    """The last lines of every part's log, newest file last (the --verbose pane)."""
    out: list[str] = []
    for path in sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime):
        try:
            with path.open("rb") as fh:
                fh.seek(max(0, fh.seek(0, os.SEEK_END) - 4096))
                text = fh.read().decode("utf-8", errors="replace")
        except OSError:
            continue
        out += [f"{path.stem}: {line}" for line in text.splitlines()[-lines:]]
    return out[-lines:]


def gossip_address(listen: str) -> str:
    """Where an Alertmanager of a cluster gossips: its web port + 1, as 9093/9094."""
    host, _, port = listen.rpartition(":")
    return f"{host}:{int(port) + 1}"


def _get_json(url: str, credentials: Credentials) -> Any:
    try:
        return json.loads(fetch(url, credentials, timeout=2))
    except (OSError, ValueError):
        return None
