"""Runs every collector on its own schedule and keeps its latest result.

A scrape never waits on a collector: it reads `CollectorState.families`,
which a run replaces as a whole when it finishes. Blocking work happens in a
dedicated thread pool (one worker per loop) so a long build never delays the
log follower or a probe.

Changes are file events from the kernel (inotify through `watchfiles`), not
polling: one task watches every folder a collector named, and passes each
batch of changed paths to the collectors, which say whether it calls for a
run. A batch is what changed until 150 ms passed without a change (at most
400 ms), so an editor's save, or a burst of them, is one run. A change during
a run sets the trigger again: exactly one run follows, at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import watchfiles
from prometheus_client.metrics_core import Metric

from exporter.collectors import Collector

log = logging.getLogger(__name__)
QUIET_MS = 150
"""A batch of changes ends when nothing changed for this long ... (the watcher
wakes this often to look, so it is also what an idle watch costs)"""
BATCH_MAX_MS = 400
"""... or when it has lasted this long (a file written without pause)."""
SETTLE_SECONDS = (2 * QUIET_MS + 100) / 1000
"""After a run, how long its last writes take to arrive as events."""


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
        self._pool = ThreadPoolExecutor(
            max_workers=len(collectors) + 1, thread_name_prefix="collector"
        )
        self._tasks: list[asyncio.Task[None]] = []
        self.roots, self.watched = watch_roots(self.collectors)
        self.file_events_up = False
        """Whether file events are being delivered (else changes wait for a schedule)."""
        self.version = 0
        """Bumped whenever what a scrape serves may have changed (a run ended, the
        watch came up or went down): the encoded page is cached until then."""
        self._ready = asyncio.Event()

    async def start(self) -> None:
        if self.roots:
            self._tasks.append(asyncio.create_task(self._watch(), name="file-events"))
            # The first runs must not miss a change made while the watch is set up.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), timeout=5)
        for c in self.collectors:
            self._tasks.append(asyncio.create_task(self._loop(c), name=f"collector-{c.name}"))

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
        self.version += 1

    async def _loop(self, c: Collector) -> None:
        state = self.states[c.name]
        loop = asyncio.get_running_loop()
        while True:
            state.trigger.clear()
            await self.run_once(c)
            watched = self.file_events_up and c.name in self.watched
            if watched:
                await asyncio.sleep(SETTLE_SECONDS)
                released = await loop.run_in_executor(self._pool, c.settled)
                if released:
                    await self._dispatch(set(released), released=True)
                if not await loop.run_in_executor(self._pool, c.pending):
                    state.trigger.clear()  # nothing, or only its own output, changed
            interval = c.watched_interval if watched and c.watched_interval else c.interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.trigger.wait(), timeout=interval)

    async def _watch(self) -> None:
        try:
            events = watchfiles.awatch(*self.roots, step=QUIET_MS, debounce=BATCH_MAX_MS)
            first = asyncio.ensure_future(anext(events))
            # RustNotify has set its watches once the generator waits for events.
            await asyncio.sleep(0.05)
            self.file_events_up = True
            self.version += 1
            self._ready.set()
            batch = await first
            while True:
                await self._dispatch({Path(p) for _, p in batch})
                batch = await anext(events)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # No inotify (or out of watches): the schedules still run.
            log.warning(
                "file events unavailable (%s): changes are seen at each collector's "
                "next scheduled run",
                exc,
            )
        finally:
            self.file_events_up = False
            self.version += 1
            self._ready.set()

    async def _dispatch(self, paths: set[Path], released: bool = False) -> None:
        """A batch of changed paths (or of paths a run's end released) to every watching
        collector: a run of each that wants one (its run names the paths that started it)."""
        loop = asyncio.get_running_loop()
        wanted = []
        for c in self.collectors:
            if c.name not in self.watched:
                continue
            judge = c.released if released else c.changed
            try:
                if await loop.run_in_executor(self._pool, judge, paths):
                    wanted.append(c.name)
            except Exception as exc:
                log.warning("collector %s: reading a change failed: %s", c.name, exc)
        # Started once every collector judged the batch: a run the batch starts must
        # not make its paths look, to the next collector, written during a run.
        for name in wanted:
            self.trigger(name)


def watch_roots(collectors: Sequence[Collector]) -> tuple[list[Path], set[str]]:
    """The folders to watch (none inside another) and the collectors they serve.

    A watched file is watched through its folder, so a rotation (a new file
    under the same name) is seen; a collector whose folder does not exist and
    is not under another watched folder is left to its schedule."""
    wanted: dict[str, list[Path]] = {}
    for c in collectors:
        if c.watch:
            wanted[c.name] = [p if p.is_dir() else p.parent for p in c.watch]
    existing = {d for dirs in wanted.values() for d in dirs if d.is_dir()}
    roots = sorted(d for d in existing if not any(o in d.parents for o in existing))

    def covered(d: Path) -> bool:
        return any(d == r or r in d.parents for r in roots)

    watched = {name for name, dirs in wanted.items() if all(covered(d) for d in dirs)}
    return roots, watched
