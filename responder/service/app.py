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
import json
import logging
import os
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

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

from responder.act.launcher import Launcher
from responder.act.notify import post_human_alert
from responder.act.recovery import ESCALATIONS
from responder.act.recovery import OUTCOMES as RECOVERY_OUTCOMES
from responder.act.runtime import Runtime
from responder.decide.alerts import AlertHandler, policies_from
from responder.decide.learning import Pick
from responder.intake import reconcile
from responder.intake.reconcile import Reconciler
from responder.intake.webhook import BadBody, parse_body
from responder.jobs.scheduler import Jobs
from responder.observe.metrics import RuntimeMetrics
from responder.rules import breaker
from responder.rules.admission import budget_status
from responder.rules.modes import assess, maintenance_seconds
from responder.service import statefile
from responder.state.errors import StoreUnavailable
from responder.state.store import open_store
from warden.alertspecs import ALERTS, WATCHDOG_SILENCE_SECONDS
from warden.auth import ALERTMANAGER, PROMETHEUS, SCRAPE, Secrets, read_secret
from warden.config import Config, Recovery
from warden.serve import authorization_is, authorized, read_body, refused

log = logging.getLogger(__name__)
T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STEP_ALERTS = 200
STEP_ALERT_SECONDS = 0.5
"""Alerts one step handles at most, and for how long: a backlog (a storm, or one
body of thousands of alerts) is worked through step by step, so agents are
watched meanwhile and the heartbeat shows progress, not a hang."""
IDLE_WAKE_SECONDS = 5.0
OUTAGE_RETRY_SECONDS = 1.0
"""How often a worker whose database is unreachable tries again."""
CRISIS_BUCKETS = (30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 14400.0)


class Service:
    """The runtime, the alert handler and the one worker thread that owns both.

    Every change (alerts handled, swarms started and killed, jobs' actions,
    maintenance windows) runs on the worker: other threads hand it a command
    (`on_owner`) and HTTP readers take `view` and the runtime's snapshot,
    which the worker publishes after each step. Nothing a reader needs is
    held while the worker waits.
    """

    def __init__(
        self,
        config: Config,
        clock: Callable[[], float] = time.time,
        launcher: Launcher | None = None,
        rng: random.Random | None = None,
        step_alert_seconds: float | None = STEP_ALERT_SECONDS,
    ) -> None:
        """`rng`: the learning's exploration (seeded by the simulator, so a run repeats);
        `step_alert_seconds`: a step's time for alerts (None: STEP_ALERTS alone bound it,
        as in the simulator, whose runs must not depend on the machine's speed)."""
        self.config = config
        self.clock = clock
        self.step_alert_seconds = step_alert_seconds
        self.token = read_secret(
            config.responder.token_file,
            "responder.token_file",
            "create it as alertmanager/secrets/README.md says",
        )
        secrets = Secrets(config.secrets_dir)
        secrets.ensure()
        self.scrape = secrets.credentials(SCRAPE)
        """What Prometheus (and a person) show to read /metrics and the status API."""
        self.prometheus = secrets.credentials(PROMETHEUS)
        self.alertmanager = secrets.credentials(ALERTMANAGER)
        store = open_store(config)
        self.situation = assess(config, store, clock())
        self.runtime = Runtime(
            config, store, clock, situation=lambda: self.situation, launcher=launcher
        )
        log.info("agents are killed by %s", self.runtime.launcher.kill_method)
        self.state_file = config.state_dir / "state.json"
        listen = config.exporter.listen
        self.handler = AlertHandler(
            self.runtime,
            policies_from(config.responder.policies),
            f"http://{listen.host}:{listen.port}",
            exporter_credentials=self.scrape,
            run_job=lambda job: self.jobs.run_now(job),
            reassess=lambda: self.reassess(),
            # A5: a recovery and its swarms did not set an alert right.
            tell=lambda alert, summary, description: self.tell(
                "alert_unresolved", summary, description, {"unresolved": alert}
            ),
            rng=rng,
        )
        r = config.responder
        self.reconciler = Reconciler(
            lambda: reconcile.read(
                r.alertmanager_url, self.alertmanager, r.prometheus_url, self.prometheus
            ),
            self.on_owner,
            store,
            clock,
        )
        self.jobs = Jobs(self)
        self.rejected: dict[str, int] = {}
        self.heartbeat = 0.0
        """When the worker last completed a step (0 until the first): it proves progress."""
        self.watchdog_at = 0.0  # wall clock, for people and the metric
        # Silence is timed on the monotonic clock: a step of the wall clock
        # (NTP, a suspended VM) must not look like a silent pipeline.
        self.watchdog_seen = time.monotonic()
        self.human: list[dict[str, Any]] = []
        self._commands: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = (
            queue.SimpleQueue()
        )
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="responder-worker", daemon=True)
        self._state_written: tuple[dict[str, Any], float] = ({}, 0.0)
        self._backlog = False
        self.view: dict[str, Any] = {}
        self._publish()

    def start(self) -> None:
        self._thread.start()
        self.jobs.start()

    def stop(self) -> None:
        self.jobs.stop()
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=60)
        self.runtime.close()

    def wake(self) -> None:
        self._wake.set()

    def on_owner(self, fn: Callable[[], T], timeout: float | None = 120.0) -> T:
        """Run `fn` on the worker (at once when called there, or before it started)
        and return its result; the caller waits, the worker's readers do not."""
        if not self._thread.is_alive() or threading.current_thread() is self._thread:
            with self.runtime.store.one_view():
                return fn()
        return self.submit(fn).result(timeout)

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Hand `fn` to the worker; its result arrives in the future."""
        future: Future[T] = Future()
        self._commands.put((fn, future))
        self._wake.set()
        return future

    def _work(self) -> None:
        outage_since: float | None = None
        while not self._stop.is_set():
            wait: float | None = None
            try:
                self.step()
            except StoreUnavailable as exc:
                # Told once, not at every step: steps wait for the server (no
                # heartbeat meanwhile, so a supervisor and ResponderDown see it).
                if outage_since is None:
                    outage_since = time.monotonic()
                    log.error("%s; steps wait for it, tried every second", exc)
                wait = OUTAGE_RETRY_SECONDS
            except Exception:
                log.exception("responder worker step failed; continuing")
            else:
                if outage_since is not None:
                    log.warning(
                        "the database is reachable again after %.0f s of outage",
                        time.monotonic() - outage_since,
                    )
                    outage_since = None
            self._wake.wait(self._idle_wait() if wait is None else wait)
            self._wake.clear()
        self._run_commands()  # none is left waiting on a stopped worker

    def _idle_wait(self) -> float:
        """Poll agents at poll_interval while any live or waits; otherwise sleep until
        woken (a webhook, a job, a command) or IDLE_WAKE_SECONDS, for the clock's sake."""
        if self._backlog:
            return 0.0
        snap = self.runtime.snapshot
        busy = snap.live or snap.waiting or self.runtime.killing()
        return self.config.responder.poll_interval if busy else IDLE_WAKE_SECONDS

    def _run_commands(self) -> None:
        while True:
            try:
                fn, future = self._commands.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

    def step(self) -> None:
        """One cycle: commands, a batch of alerts, the situation assessed, agents
        watched, the view and the state file published. Its reads are one view of the
        store (`Store.one_view`): what its parts read alike is read once."""
        with self.runtime.store.one_view():
            self._run_commands()
            # A step cut short means more may wait: the next comes without a pause.
            self._backlog = self.handler.process_inbox(STEP_ALERTS, self.step_alert_seconds)
            self.handler.take_over()
            self.handler.claims.lead()
            self.reassess()
            self.runtime.poll()
            self.handler.recoveries.poll()
            self._tell_about_pauses()
            self.heartbeat = self.clock()
            self._publish()
            self._write_state()

    def _tell_about_pauses(self) -> None:
        """A2: a person hears once of each swarm type the circuit breaker paused,
        through Alertmanager, with the failure class and the agent's last words."""
        store = self.runtime.store
        for p in store.pauses():
            if p.told_at is not None:
                continue
            if not store.tell_once_about_pause(p.type, p.since, self.clock()):
                continue
            summary, description = breaker.message(p)
            labels = {"swarm_type": p.type, "failure_class": p.cls}
            self.tell("swarm_type_paused", summary, description, labels)

    def tell(
        self, reason: str, summary: str, description: str, labels: dict[str, str] | None = None
    ) -> bool:
        """Tell a person through Alertmanager (HumanNeeded); False if it could not be sent.
        Alertmanager judges startsAt/endsAt by the wall clock, whatever clock the
        service runs on."""
        return post_human_alert(
            self.config.responder.alertmanager_url,
            reason,
            summary,
            description,
            time.time(),
            labels=labels,
            credentials=self.alertmanager,
        )

    def resume(self, swarm_type: str) -> bool:
        """Lift the circuit breaker's pause of a type (on the owner); False if not paused."""
        return breaker.resume(self.runtime.store, swarm_type, self.clock())

    def _publish(self) -> None:
        """The view the status API and the metrics read, replaced whole at every step;
        in the step's `one_view`, only what a write changed is read again."""
        store = self.runtime.store
        self.view = {
            "decisions": store.decisions(20),
            "crisis_durations": store.crisis_durations(),
            "episode_counts": store.episode_counts(),
            "dead_letters": store.dead_letters(5),
            "dead_letter_count": store.dead_letter_count(),
            "last_crisis": store.last_crisis(),
            "firing": store.firing(),
            "pending": store.agents(states=("waiting",)),
            "paused": [vars(p) for p in store.pauses()],
            "recovery_counts": store.recovery_counts(),
        }

    def _write_state(self) -> None:
        """The state file, when its content changed or a heartbeat passed, never more."""
        state = statefile.build(
            self.config,
            self.situation,
            self.runtime.snapshot,
            self.view,
            self.jobs.full_check,
            self.jobs.next_event(),
            self.heartbeat,
        )
        content = statefile.content_key(state)
        last, at = self._state_written
        every = self.config.modes[self.situation.mode].heartbeat
        if content == last and self.heartbeat - at < every:
            return
        statefile.write(self.state_file, state)
        self._state_written = (content, self.heartbeat)

    def reassess(self) -> None:
        """Mode and escalation from firing alerts and the clock (M1-M4, E, J9).
        What the new situation no longer admits is stopped by the runtime's next poll."""
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
            self.jobs.on_mode_change(old.mode, new.mode)
            log.info("mode %s -> %s (escalation %d)", old.mode, new.mode, new.escalation)

    def pipeline_silent(self) -> bool:
        """X5: the Watchdog stopped arriving (or never came) for WATCHDOG_SILENCE seconds.

        The Watchdog's route repeats every 30 s; three missed repeats mean
        Prometheus, Alertmanager or the route between them is broken, and
        alerts cannot be trusted to arrive.
        """
        return time.monotonic() - self.watchdog_seen > WATCHDOG_SILENCE_SECONDS

    def watchdog_arrived(self) -> None:
        if self.pipeline_silent():
            self.reconciler.soon()  # a gap in deliveries: what resolved meanwhile?
        self.watchdog_at = time.time()
        self.watchdog_seen = time.monotonic()

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1


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
    app.router.add_post("/api/v1/swarm-types/{type}/resume", resume)
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
    except StoreUnavailable as exc:
        # Nothing was recorded: a sender that retries (Alertmanager) loses nothing.
        return web.json_response({"error": str(exc)}, status=503)


def _authorized(request: web.Request) -> bool:
    service = request.app[SERVICE]
    if authorization_is(request, f"Bearer {service.token}"):
        return True
    service.reject("unauthorized")
    return False


def _reader(request: web.Request) -> bool:
    """Basic auth with the scrape password: Prometheus, or a person reading status."""
    service = request.app[SERVICE]
    if authorized(request, service.scrape):
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
    raw = await read_body(request)
    try:
        parsed = parse_body(raw)
    except BadBody as exc:
        service.reject("bad_body")
        return web.json_response({"error": str(exc)}, status=400)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(
        None, service.runtime.store.add_inbox, raw, time.time(), service.config.responder.id
    )
    service.wake()
    return web.json_response({"accepted": len(parsed)})


async def watchdog(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    if not _authorized(request):
        return _unauthorized()
    try:
        parse_body(await read_body(request))
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
        parsed = parse_body(await read_body(request))
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
    """From the worker's published view and the runtime's snapshot: never waits on it."""
    service = request.app[SERVICE]
    if not _reader(request):
        return refused()
    snap, view = service.runtime.snapshot, service.view
    body = {
        "mode": service.situation.mode,
        "escalation": service.situation.escalation,
        "heartbeat": service.heartbeat,
        "watchdog_at": service.watchdog_at or None,
        "pipeline_silent": service.pipeline_silent(),
        "kill_method": service.runtime.launcher.kill_method,
        "budget": budget_status(snap.facts),
        "swarms": [
            {
                "id": s.id,
                "type": s.type,
                "priority": s.priority,
                "size": s.size,
                "trigger": s.trigger,
                "created_at": s.created_at,
            }
            for s in snap.running
        ],
        "paused": view["paused"],
        "decisions": view["decisions"],
        "dead_letters": {"count": view["dead_letter_count"], "recent": view["dead_letters"]},
        "for_a_person": service.human[-20:],
    }
    return web.json_response(body, dumps=lambda o: json.dumps(o, sort_keys=True, indent=1))


async def maintenance_start(request: web.Request) -> web.Response:
    """Start a maintenance window now: `{"for": "2h"}`."""
    service = request.app[SERVICE]
    if not _authorized(request):
        return _unauthorized()
    try:
        asked = json.loads(await read_body(request)).get("for", "")
    except (ValueError, AttributeError, RecursionError):
        return web.json_response({"error": 'expected {"for": DURATION} such as "2h"'}, status=400)
    try:
        seconds = maintenance_seconds(str(asked))
    except ValueError as exc:
        return web.json_response({"error": f'"for": {exc}'}, status=400)
    now = service.clock()
    store = service.runtime.store
    window = await asyncio.wrap_future(
        service.submit(lambda: store.start_maintenance(now, now + seconds))
    )
    return web.json_response({"window": window, "until": now + seconds})


async def maintenance_stop(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    if not _authorized(request):
        return _unauthorized()
    store = service.runtime.store
    stopped = await asyncio.wrap_future(
        service.submit(lambda: store.stop_maintenance(service.clock()))
    )
    return web.json_response({"stopped": stopped})


async def resume(request: web.Request) -> web.Response:
    """Lift the circuit breaker's pause of a swarm type (A2)."""
    service = request.app[SERVICE]
    if not _authorized(request):
        return _unauthorized()
    name = request.match_info["type"]
    if name not in service.config.swarm_types:
        known = ", ".join(sorted(service.config.swarm_types))
        return web.json_response(
            {"error": f"unknown swarm type {name!r} (known: {known})"}, status=404
        )
    resumed = await asyncio.wrap_future(service.submit(lambda: service.resume(name)))
    return web.json_response({"type": name, "resumed": resumed})


async def metrics(request: web.Request) -> web.Response:
    if not _reader(request):
        return refused()
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    loop = asyncio.get_running_loop()
    body = await loop.run_in_executor(None, encoder, request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": content_type})


async def healthz(request: web.Request) -> web.Response:
    """The worker's heartbeat: 0 until its first step ends, which a supervisor must
    not take for health (a worker stuck in its first step never beats)."""
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
        durations = s.view["crisis_durations"]
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
        yield CounterMetricFamily(
            "warden_responder_episode_takeovers",
            "Firing episodes this responder acted on after their claimer's lease lapsed.",
            value=h.claims.taken_over,
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
        for key in sorted({("spawn", "done"), ("spawn", "refused"), *h.actions}):
            actions.add_metric(list(key), h.actions[key])
        yield actions
        yield CounterMetricFamily(
            "warden_responder_dead_letters",
            "Alerts whose handling raised, set aside with their error (warden status).",
            value=s.view["dead_letter_count"],
        )
        episodes = CounterMetricFamily(
            "warden_responder_alert_episodes",
            "Firing episodes (fingerprint + startsAt), by alert.",
            labels=["alertname"],
        )
        # Label values are Warden's own alert names; any other name an
        # authenticated sender used is counted as "other", keeping them bounded.
        known = {a.name for a in ALERTS}
        counts = Counter({n if n in known else "other": 0 for n in (*known, "other")})
        for name, n in s.view["episode_counts"].items():
            counts[name if name in known else "other"] += n
        for name in sorted(counts):
            episodes.add_metric([name], counts[name])
        yield episodes
        yield from _recovery_metrics(s.config.responder.recoveries, s.view["recovery_counts"])
        yield from _learning_metrics(*h.learner.published)
        yield from _hour_metrics(h.learner.hours)


def _learning_metrics(
    latest: tuple[Pick, ...], picks: tuple[tuple[tuple[str, str], int], ...]
) -> Iterator[Metric]:
    """L1, L3, L5: what the learning knew of each choice when it last chose for a kind of
    work (the latest `learning.window` runs), and why it chose what it did."""
    labels = ["work", "type", "size"]
    runs = GaugeMetricFamily(
        "warden_learning_choice_runs",
        "Runs of the choice that count (the latest learning.window), at the last choice.",
        labels=labels,
    )
    succeeded = GaugeMetricFamily(
        "warden_learning_choice_successes",
        "Of those runs, how many succeeded.",
        labels=labels,
    )
    spend = GaugeMetricFamily(
        "warden_learning_choice_spend_usd", "What those runs cost.", labels=labels
    )
    for pick in latest:
        for r in pick.records:
            key = [pick.work, r.choice.type, str(r.choice.size)]
            runs.add_metric(key, r.runs)
            succeeded.add_metric(key, r.succeeded)
            spend.add_metric(key, r.spend_usd)
    chosen = CounterMetricFamily(
        "warden_learning_picks",
        "Swarm types and sizes chosen, by kind of work and why (off, untried, best, explore).",
        labels=["work", "reason"],
    )
    for (work, reason), n in sorted(picks):
        chosen.add_metric([work, reason], n)
    yield from (runs, succeeded, spend, chosen)


def _hour_metrics(hours: tuple[tuple[int, int, int], ...]) -> Iterator[Metric]:
    """L4: improvement swarms by the local hour they started (24 label values at most);
    the L4 rules find the best hour from them."""
    swarms = GaugeMetricFamily(
        "warden_learning_improvement_swarms",
        "Improvement swarms that succeeded or failed (all the store holds), by the local "
        "hour they started.",
        labels=["hour", "result"],
    )
    for hour, runs, won in hours:
        swarms.add_metric([f"{hour:02d}", "succeeded"], won)
        swarms.add_metric([f"{hour:02d}", "failed"], runs - won)
    yield swarms


def _recovery_metrics(
    recoveries: dict[str, Recovery], counts: dict[tuple[str, str, str], int]
) -> Iterator[Metric]:
    """A5: how recovery commands ended, and how often a swarm or a person had to follow."""
    runs = CounterMetricFamily(
        "warden_recoveries",
        "Recovery commands run for firing alerts, by how they ended.",
        labels=["recovery", "outcome"],
    )
    escalations = CounterMetricFamily(
        "warden_recovery_escalations",
        "Recoveries that did not set the alert right: the swarms followed, then a person.",
        labels=["recovery", "to"],
    )
    for name in sorted(recoveries):
        by_outcome = Counter({o: 0 for o in RECOVERY_OUTCOMES})
        to = Counter({e: 0 for e in ESCALATIONS})
        for (n, outcome, state), k in counts.items():
            if n != name:
                continue
            by_outcome[outcome] += k if outcome in by_outcome else 0
            to["swarm"] += k if state in ("escalated", "told") else 0
            to["person"] += k if state in ("told", "told_no_swarm") else 0
        for outcome in RECOVERY_OUTCOMES:
            runs.add_metric([name, outcome], by_outcome[outcome])
        for e in ESCALATIONS:
            escalations.add_metric([name, e], to[e])
    yield runs
    yield escalations
