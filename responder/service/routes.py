"""The responder's own HTTP routes: what reads or changes the worker's state.

Metrics, status, health, the Watchdog's and a person's webhooks, and the
commands (maintenance, resume). They are served on the responder's private
socket, behind the receiver (`responder.service.receiver`), which answers
Alertmanager's alert webhooks itself and forwards every other request here as
it came: each route's gate is checked here. Nothing blocking runs on the
event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CollectorRegistry

from responder.intake.webhook import parse_body
from responder.observe.metrics import RuntimeMetrics
from responder.rules.admission import budget_status
from responder.rules.modes import maintenance_seconds
from responder.service.metrics import ResponderMetrics
from responder.service.receiver import FAILURES
from responder.service.worker import RECENT_DECISIONS, Service
from warden.exposition import Pages
from warden.gates import basic, bearer, guard
from warden.serve import read_body

log = logging.getLogger(__name__)


SERVICE: web.AppKey[Service] = web.AppKey("service", Service)
PAGES: web.AppKey[Pages] = web.AppKey("pages", Pages)


def make_app(service: Service) -> web.Application:
    sender, reader = bearer(service.token), basic(service.scrape)
    gates = {
        "/api/v1/watchdog": sender,
        "/api/v1/human": sender,
        "/api/v1/maintenance": sender,
        "/api/v1/swarm-types/{type}/resume": sender,
        "/api/v1/status": reader,
        "/metrics": reader,
    }
    app = web.Application(
        client_max_size=service.config.responder.max_body_bytes,
        middlewares=[guard(gates, None, FAILURES, service.reject)],
    )
    app[SERVICE] = service
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RuntimeMetrics(service.runtime))
    registry.register(ResponderMetrics(service))
    app[PAGES] = Pages(registry)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        service.start()
        yield
        await asyncio.get_running_loop().run_in_executor(None, service.stop)

    app.cleanup_ctx.append(lifecycle)
    app.router.add_post("/api/v1/watchdog", watchdog)
    app.router.add_post("/api/v1/human", human)
    app.router.add_get("/api/v1/status", status)
    app.router.add_post("/api/v1/maintenance", maintenance_start)
    app.router.add_delete("/api/v1/maintenance", maintenance_stop)
    app.router.add_post("/api/v1/swarm-types/{type}/resume", resume)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app


async def watchdog(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    parse_body(await read_body(request))
    service.watchdog_arrived()
    return web.json_response({"ok": True})


async def human(request: web.Request) -> web.Response:
    """What a person must see, kept for `warden status` (the responder's own log)."""
    service = request.app[SERVICE]
    parsed = parse_body(await read_body(request))
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
    """From the worker's published view and the runtime's snapshot, and the decision log
    read here: never waits on the worker."""
    service = request.app[SERVICE]
    snap, view = service.runtime.snapshot, service.view
    decisions = await asyncio.get_running_loop().run_in_executor(
        None, service.runtime.store.decisions, RECENT_DECISIONS
    )
    body = {
        "mode": service.situation.mode,
        "escalation": service.situation.escalation,
        "heartbeat": service.heartbeat,
        "watchdog_at": service.watchdog.at or None,
        "pipeline_silent": service.watchdog.silent(),
        "kill_method": service.runtime.launcher.kill_method,
        "budget": {**budget_status(snap.facts), "by_basis": view["spend_by_basis"]},
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
        "decisions": decisions,
        "dead_letters": {"count": view["dead_letter_count"], "recent": view["dead_letters"]},
        "for_a_person": service.human[-20:],
    }
    return web.json_response(body, dumps=lambda o: json.dumps(o, sort_keys=True, indent=1))


async def maintenance_start(request: web.Request) -> web.Response:
    """Start a maintenance window now: `{"for": "2h"}`."""
    service = request.app[SERVICE]
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
    store = service.runtime.store
    stopped = await asyncio.wrap_future(
        service.submit(lambda: store.stop_maintenance(service.clock()))
    )
    return web.json_response({"stopped": stopped})


async def resume(request: web.Request) -> web.Response:
    """Lift the circuit breaker's pause of a swarm type (A2)."""
    service = request.app[SERVICE]
    name = request.match_info["type"]
    if name not in service.config.swarm_types:
        known = ", ".join(sorted(service.config.swarm_types))
        return web.json_response(
            {"error": f"unknown swarm type {name!r} (known: {known})"}, status=404
        )
    resumed = await asyncio.wrap_future(service.submit(lambda: service.resume(name)))
    return web.json_response({"type": name, "resumed": resumed})


async def metrics(request: web.Request) -> web.Response:
    loop = asyncio.get_running_loop()
    accept = request.headers.get("Accept", "")
    body, content_type = await loop.run_in_executor(None, request.app[PAGES].page, accept)
    return web.Response(body=body, headers={"Content-Type": content_type})


async def healthz(request: web.Request) -> web.Response:
    """The worker's heartbeat: 0 until its first step ends, which a supervisor must
    not take for health (a worker stuck in its first step never beats)."""
    service = request.app[SERVICE]
    return web.json_response({"status": "ok", "heartbeat": service.heartbeat, "pid": os.getpid()})
