"""Runs every collector on its own schedule and keeps its latest result.

A scrape never waits on a collector: it reads `CollectorState.families`,
which a run replaces as a whole when it finishes. Blocking work happens in a
dedicated thread pool (one worker per loop) so a long build never delays the
log follower or a probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from prometheus_client.metrics_core import Metric

from exporter.collectors import Collector

log = logging.getLogger(__name__)


@dataclass
class CollectorState:
    families: Sequence[Metric] = ()
    success: bool | None = None
    duration_seconds: float = 0.0
    last_run_timestamp: float = 0.0
    runs_total: int = 0
    failures_total: int = 0
    last_error: str = ""
    trigger: asyncio.Event = field(default_factory=asyncio.Event)


class Scheduler:
    def __init__(self, collectors: Sequence[Collector], clock: Callable[[], float] = time.time):
        names = [c.name for c in collectors]
        if len(set(names)) != len(names):
            raise ValueError(f"collector names must be unique: {names}")
        self.collectors = list(collectors)
        self.states = {c.name: CollectorState() for c in collectors}
        self._clock = clock
        watchers = sum(1 for c in collectors if c.watch_interval)
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, len(collectors) + watchers), thread_name_prefix="collector"
        )
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for c in self.collectors:
            self._tasks.append(asyncio.create_task(self._loop(c), name=f"collector-{c.name}"))
            if c.watch_interval:
                self._tasks.append(asyncio.create_task(self._watch(c), name=f"watch-{c.name}"))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        loop = asyncio.get_running_loop()
        for c in self.collectors:
            await loop.run_in_executor(self._pool, c.close)
        self._pool.shutdown(wait=True)

    def trigger(self, name: str) -> None:
        """Run `name` as soon as its current run (if any) ends."""
        self.states[name].trigger.set()

    async def run_once(self, c: Collector) -> None:
        state = self.states[c.name]
        loop = asyncio.get_running_loop()
        t0 = time.monotonic()
        try:
            families = await loop.run_in_executor(self._pool, c.collect)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Drop the stale families: serving old values as if fresh would
            # hide the failure; warden_collector_success tells it instead.
            state.families = ()
            state.success = False
            state.failures_total += 1
            error = f"{type(exc).__name__}: {exc}"
            if error != state.last_error:  # log a new failure once, not every 250 ms
                log.warning("collector %s failed: %s", c.name, error)
            state.last_error = error
        else:
            if state.success is False:
                log.info("collector %s recovered", c.name)
            state.families = families
            state.success = True
            state.last_error = ""
        state.duration_seconds = time.monotonic() - t0
        state.last_run_timestamp = self._clock()
        state.runs_total += 1

    async def _loop(self, c: Collector) -> None:
        state = self.states[c.name]
        while True:
            state.trigger.clear()
            await self.run_once(c)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.trigger.wait(), timeout=c.interval)

    async def _watch(self, c: Collector) -> None:
        assert c.watch_interval
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(c.watch_interval)
            try:
                if await loop.run_in_executor(self._pool, c.changed):
                    log.info("collector %s: change detected, running now", c.name)
                    self.trigger(c.name)
            except Exception as exc:
                log.warning("collector %s: change watch failed: %s", c.name, exc)
