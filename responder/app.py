"""The responder's HTTP service: Alertmanager's webhooks in, metrics and status out.

A webhook is answered at once: authenticated (bearer token, compared in
constant time), size-limited (413), parsed (400 with the reason, nothing
stored), then stored in SQLite and only then acknowledged, so an
acknowledged alert survives a crash. One worker thread does everything else:
it handles the stored bodies and polls the swarm runtime; nothing blocking
runs on the event loop.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from responder import statefile
from responder.handler import AlertHandler, policies_from
from responder.jobs import Jobs
from responder.metrics import RuntimeMetrics
from responder.modes import assess
from responder.runtime import Runtime
from responder.store import Store
from responder.webhook import BadBody, parse_body
from warden.alertspecs import ALERTS, WATCHDOG_SILENCE_SECONDS
from warden.config import Config
from warden.configreader import parse_duration

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CRISIS_BUCKETS = (30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 14400.0)


class Service:
    """The runtime, the alert handler and the worker thread that drives both."""

    def __init__(self, config: Config, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.token = read_token(config.responder.token_file)
        store = Store(config.state_dir / "warden.db")
        self.situation = assess(config, store, clock())
        self.runtime = Runtime(config, store, clock, period=lambda: self.situation.period)
        self.state_file = config.state_dir / "state.json"
        listen = config.exporter.listen
        self.handler = AlertHandler(
            self.runtime,
            policies_from(config.responder.policies),
            f"http://{listen.host}:{listen.port}/api/v1/checks",
            gate=self.gate,
            run_job=lambda job: self.jobs.run_now(job),
            reassess=lambda: self.reassess(),
        )
        self.jobs = Jobs(self)
        self.rejected: dict[str, int] = {}
        self.heartbeat = 0.0
        self.watchdog_at = 0.0  # wall clock, for people and the metric
        # Silence is timed on the monotonic clock: a step of the wall clock
        # (NTP, a suspended VM) must not look like a silent pipeline.
        self.watchdog_seen = time.monotonic()
        self.human: list[dict[str, Any]] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="responder-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self.jobs.start()

    def stop(self) -> None:
        self.jobs.stop()
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)
        self.runtime.close()

    def wake(self) -> None:
        self._wake.set()

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:
                log.exception("responder worker step failed; continuing")
            self._wake.wait(self.config.responder.poll_interval)
            self._wake.clear()

    def step(self) -> None:
        """One cycle: alerts in, the situation assessed, agents watched, state written."""
        self.handler.process_inbox()
        self.reassess()
        self.runtime.poll()
        self.heartbeat = self.clock()
        statefile.write(
            self.state_file, statefile.build(self.runtime, self.situation, self.heartbeat)
        )

    def reassess(self) -> None:
        """Mode and escalation from firing alerts and the clock (M1-M4, E, J9)."""
        old, new = self.situation, assess(self.config, self.runtime.store, self.clock())
        self.situation = new
        if (old.mode, old.escalation) == (new.mode, new.escalation):
            return
        self.runtime.store.log_decision(
            "mode",
            {
                "from": old.mode,
                "to": new.mode,
                "escalation": new.escalation,
                "period": new.period.key,
            },
            self.clock(),
        )
        if old.mode != new.mode:
            self.jobs.on_mode_change(new.mode)
            allowed = set(self.config.modes[new.mode].priorities)
            killed = self.runtime.kill_where(
                lambda s: s.priority in allowed, f"{new.mode}: {', '.join(sorted(allowed))} only"
            )
            log.info(
                "mode %s -> %s (escalation %d); killed %d swarm(s)",
                old.mode,
                new.mode,
                new.escalation,
                len(killed),
            )

    def pipeline_silent(self) -> bool:
        """X5: the Watchdog stopped arriving (or never came) for WATCHDOG_SILENCE seconds.

        The Watchdog's route repeats every 30 s; three missed repeats mean
        Prometheus, Alertmanager or the route between them is broken, and
        alerts cannot be trusted to arrive.
        """
        return time.monotonic() - self.watchdog_seen > WATCHDOG_SILENCE_SECONDS

    def watchdog_arrived(self) -> None:
        self.watchdog_at = time.time()
        self.watchdog_seen = time.monotonic()

    def gate(self, priority: str) -> str | None:
        """Why the current mode refuses a swarm of `priority` now, or None."""
        mode = self.config.modes[self.situation.mode]
        if priority not in mode.priorities:
            return f"{self.situation.mode} allows only {', '.join(mode.priorities)}"
        running = len(self.runtime.store.swarms("running"))
        if running >= mode.max_swarms:
            return f"{self.situation.mode} allows {mode.max_swarms} swarms, {running} run"
        return None

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1


def read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SystemExit(
            f"responder.token_file {path}: {exc.strerror}; create it as "
            "alertmanager/secrets/README.md says"
        ) from exc
    if len(token) < 16:
        raise SystemExit(f"responder.token_file {path}: the token must be at least 16 characters")
    return token


SERVICE: web.AppKey[Service] = web.AppKey("service", Service)
REGISTRY: web.AppKey[CollectorRegistry] = web.AppKey("registry", CollectorRegistry)


def make_app(service: Service) -> web.Application:
    app = web.Application(
        client_max_size=service.config.responder.max_body_bytes, middlewares=[_errors]
    )
    app[SERVICE] = service
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RuntimeMetrics(service.runtime))
    registry.register(ResponderMetrics(service))
    registry.register(service.handler.action_latency)
    app[REGISTRY] = registry

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        service.start()
        yield
        await asyncio.get_running_loop().run_in_executor(None, service.stop)

    app.cleanup_ctx.append(lifecycle)
    app.router.add_post("/api/v1/alerts", alerts)
    app.router.add_post("/api/v1/watchdog", watchdog)
    app.router.add_post("/api/v1/human", human)
    app.router.add_get("/api/v1/status", status)
    app.router.add_post("/api/v1/maintenance", maintenance_start)
    app.router.add_delete("/api/v1/maintenance", maintenance_stop)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        request.app[SERVICE].reject("too_large")
        return web.json_response({"error": "body too large"}, status=413)


def _authorized(request: web.Request) -> bool:
    service = request.app[SERVICE]
    given = request.headers.get("Authorization", "")
    expected = f"Bearer {service.token}"
    if hmac.compare_digest(given.encode(), expected.encode()):
        return True
    service.reject("unauthorized")
    return False


def _unauthorized() -> web.Response:
    return web.json_response(
        {"error": "missing or wrong bearer token"},
        status=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


async def alerts(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    if not _authorized(request):
        return _unauthorized()
    raw = await request.read()
    try:
        parsed = parse_body(raw)
    except BadBody as exc:
        service.reject("bad_body")
        return web.json_response({"error": str(exc)}, status=400)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, service.runtime.store.add_inbox, raw, time.time())
    service.wake()
    return web.json_response({"accepted": len(parsed)})


async def watchdog(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    if not _authorized(request):
        return _unauthorized()
    try:
        parse_body(await request.read())
    except BadBody as exc:
        service.reject("bad_body")
        return web.json_response({"error": str(exc)}, status=400)
    service.watchdog_arrived()
    return web.json_response({"ok": True})


async def human(request: web.Request) -> web.Response:
    """What a person must see, kept for `warden status` (the responder's own log)."""
    service = request.app[SERVICE]
    if not _authorized(request):
        return _unauthorized()
    try:
        parsed = parse_body(await request.read())
    except BadBody as exc:
        service.reject("bad_body")
        return web.json_response({"error": str(exc)}, status=400)
    for a in parsed:
        entry = {
            "at": time.time(),
            "alert": a.name,
            "status": a.status,
            "summary": a.annotations.get("summary", ""),
        }
        service.human.append(entry)
        log.warning("for a person: %s %s: %s", a.name, a.status, entry["summary"])
    del service.human[:-100]
    return web.json_response({"accepted": len(parsed)})


async def status(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    rt = service.runtime
    loop = asyncio.get_running_loop()

    def snapshot() -> dict[str, Any]:
        return {
            "mode": service.situation.mode,
            "escalation": service.situation.escalation,
            "heartbeat": service.heartbeat,
            "watchdog_at": service.watchdog_at or None,
            "pipeline_silent": service.pipeline_silent(),
            "budget": rt.budget_status(),
            "swarms": [
                {
                    "id": s.id,
                    "type": s.type,
                    "priority": s.priority,
                    "size": s.size,
                    "trigger": s.trigger,
                    "created_at": s.created_at,
                }
                for s in rt.store.swarms("running")
            ],
            "decisions": rt.store.decisions(20),
            "for_a_person": service.human[-20:],
        }

    body = await loop.run_in_executor(None, snapshot)
    return web.json_response(body, dumps=lambda o: json.dumps(o, sort_keys=True, indent=1))


async def maintenance_start(request: web.Request) -> web.Response:
    """Start a maintenance window now: `{"for": "2h"}`."""
    service = request.app[SERVICE]
    if not _authorized(request):
        return _unauthorized()
    try:
        seconds = parse_duration(str((await request.json()).get("for", "")))
    except (ValueError, AttributeError):
        return web.json_response({"error": 'expected {"for": DURATION} such as "2h"'}, status=400)
    now = service.clock()
    window = service.runtime.store.start_maintenance(now, now + seconds)
    service.wake()
    return web.json_response({"window": window, "until": now + seconds})


async def maintenance_stop(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    if not _authorized(request):
        return _unauthorized()
    stopped = service.runtime.store.stop_maintenance(service.clock())
    service.wake()
    return web.json_response({"stopped": stopped})


async def metrics(request: web.Request) -> web.Response:
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    loop = asyncio.get_running_loop()
    body = await loop.run_in_executor(None, encoder, request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": content_type})


async def healthz(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    return web.json_response({"status": "ok", "heartbeat": service.heartbeat, "pid": os.getpid()})


class ResponderMetrics(Collector):
    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        s, h = self.service, self.service.handler
        yield GaugeMetricFamily(
            "warden_responder_heartbeat_timestamp_seconds",
            "When the responder's worker last completed a cycle.",
            value=s.heartbeat,
        )
        mode = GaugeMetricFamily(
            "warden_mode", "1 for the current operating mode, else 0.", labels=["mode"]
        )
        for m in s.config.modes:
            mode.add_metric([m], 1.0 if s.situation.mode == m else 0.0)
        yield mode
        yield GaugeMetricFamily(
            "warden_escalation_level",
            "1 normal, 2 a warning fires, 3 a critical alert fires.",
            value=s.situation.escalation,
        )
        durations = s.runtime.store.crisis_durations()
        crisis = HistogramMetricFamily(
            "warden_crisis_duration_seconds", "Time from a crisis starting to its end."
        )
        crisis.add_metric(
            [],
            [(f"{b:g}", sum(1 for d in durations if d <= b)) for b in CRISIS_BUCKETS]
            + [("+Inf", len(durations))],
            sum(durations),
        )
        yield crisis
        yield GaugeMetricFamily(
            "warden_responder_pipeline_silent",
            "1 while the Watchdog has not arrived for 90 s: alerts may not reach Warden.",
            value=1.0 if s.pipeline_silent() else 0.0,
        )
        yield GaugeMetricFamily(
            "warden_responder_watchdog_timestamp_seconds",
            "When the Watchdog alert last arrived; 0 if never.",
            value=s.watchdog_at,
        )
        received = CounterMetricFamily(
            "warden_responder_alerts_received",
            "Alerts handled from webhook bodies, by status.",
            labels=["status"],
        )
        for st in ("firing", "resolved"):
            received.add_metric([st], h.received[st])
        yield received
        yield CounterMetricFamily(
            "warden_responder_alerts_deduplicated",
            "Alerts that repeated a firing episode already handled.",
            value=h.duplicates,
        )
        rejected = CounterMetricFamily(
            "warden_responder_webhooks_rejected",
            "Webhook requests refused, by reason.",
            labels=["reason"],
        )
        for reason in ("unauthorized", "bad_body", "too_large"):
            rejected.add_metric([reason], s.rejected.get(reason, 0))
        yield rejected
        actions = CounterMetricFamily(
            "warden_responder_actions",
            "Actions taken on alerts, by action and outcome.",
            labels=["action", "outcome"],
        )
        for key in sorted(
            {
                ("spawn", "done"),
                ("spawn", "refused"),
                ("kill", "done"),
                ("enforce_budget", "done"),
                *h.actions,
            }
        ):
            actions.add_metric(list(key), h.actions[key])
        yield actions
        skipped = CounterMetricFamily(
            "warden_responder_actions_skipped",
            "Spawns skipped, by reason (concurrency, budget, refused).",
            labels=["reason"],
        )
        for reason in ("concurrency", "mode", "budget", "refused"):
            skipped.add_metric([reason], h.skipped[reason])
        yield skipped
        episodes = CounterMetricFamily(
            "warden_responder_alert_episodes",
            "Firing episodes (fingerprint + startsAt), by alert.",
            labels=["alertname"],
        )
        # Label values are Warden's own alert names; any other name an
        # authenticated sender used is counted as "other", keeping them bounded.
        known = {a.name for a in ALERTS}
        counts = Counter({n if n in known else "other": 0 for n in (*known, "other")})
        for name, n in s.runtime.store.episode_counts().items():
            counts[name if name in known else "other"] += n
        for name in sorted(counts):
            episodes.add_metric([name], counts[name])
        yield episodes
