"""The exporter's HTTP server: /metrics, /healthz and /api/v1/checks."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from exporter.collectors.check import CommandCheckCollector
from exporter.collectors.coverage import CoverageCollector
from exporter.metrics import ExporterMetrics
from exporter.scheduler import Scheduler
from exporter.wiring import build_collectors
from warden.auth import SCRAPE, Secrets
from warden.config import Config
from warden.exposition import Pages
from warden.gates import basic, guard
from warden.runner import CommandRunner

log = logging.getLogger(__name__)

SCHEDULER: web.AppKey[Scheduler] = web.AppKey("scheduler", Scheduler)
PAGES: web.AppKey[Pages] = web.AppKey("pages", Pages)
"""Collectors do not run during a scrape, so the page changes only when a run ends
(the scheduler's version), and then only the families of what ran are encoded
again."""


def make_app(config: Config) -> web.Application:
    runner = CommandRunner()
    scheduler = Scheduler(build_collectors(config, runner))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ExporterMetrics(scheduler))
    secrets = Secrets(config.secrets_dir)
    secrets.ensure()
    # Scrapes and the API ask for the scrape password; /healthz only says it lives.
    app = web.Application(
        middlewares=[guard({"/healthz": None}, basic(secrets.credentials(SCRAPE)))]
    )
    app[SCHEDULER] = scheduler
    app[PAGES] = Pages(registry, lambda: scheduler.version)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await scheduler.start()
        yield
        runner.kill_all()
        await scheduler.stop()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/v1/checks", checks)
    app.router.add_get("/api/v1/coverage", coverage)
    app.router.add_get("/", index)
    return app


async def metrics(request: web.Request) -> web.Response:
    body, content_type = request.app[PAGES].page(request.headers.get("Accept", ""))
    return web.Response(body=body, headers={"Content-Type": content_type})


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the server answers. Collector failures are in /metrics, not here."""
    states = request.app[SCHEDULER].states
    body: dict[str, Any] = {
        "status": "ok",
        "collectors": {
            name: {
                "success": st.success,
                "last_run_timestamp_seconds": st.last_run_timestamp or None,
                "last_error": st.last_error or None,
            }
            for name, st in states.items()
        },
    }
    return web.json_response(body, dumps=_dumps)


async def checks(request: web.Request) -> web.Response:
    body = {
        c.name: c.report()
        for c in request.app[SCHEDULER].collectors
        if isinstance(c, CommandCheckCollector)
    }
    return web.json_response(body, dumps=_dumps)


async def coverage(request: web.Request) -> web.Response:
    """The files whose coverage fell, for CoverageDecreased's context (404 when off)."""
    for c in request.app[SCHEDULER].collectors:
        if isinstance(c, CoverageCollector):
            return web.json_response(c.drop(), dumps=_dumps)
    return web.json_response({"error": "the coverage collector is off"}, status=404)


async def index(request: web.Request) -> web.Response:
    return web.Response(
        text="Warden exporter: /metrics, /healthz, /api/v1/checks, /api/v1/coverage\n",
        content_type="text/plain",
    )


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, indent=1)
