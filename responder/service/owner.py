"""The one thread that changes the responder's state, and the queue other threads
hand it commands on (C1).

HTTP handlers, the scheduler's jobs and the reconciler never change swarms,
agents or episodes themselves: they hand the owner a function (`submit`,
`on_owner`) and wait for its result, while readers take the snapshots it
publishes. Nothing a reader needs is held while the owner waits.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class Owner:
    def __init__(self, name: str = "responder-worker") -> None:
        self.name = name
        self._thread: threading.Thread | None = None
        self._commands: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = (
            queue.SimpleQueue()
        )
        self._wake = threading.Event()

    def start(self, work: Callable[[], None]) -> None:
        """Run `work` (the worker's loop) on the owner's thread."""
        self._thread = threading.Thread(target=work, name=self.name, daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def on_owner(self, fn: Callable[[], T], timeout: float | None = 120.0) -> T:
        """Run `fn` on the owner (at once when called there, or before it started)
        and return its result; the caller waits, the owner's readers do not."""
        thread = self._thread
        if thread is None or not thread.is_alive() or threading.current_thread() is thread:
            return fn()
        return self.submit(fn).result(timeout)

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Hand `fn` to the owner; its result arrives in the future."""
        future: Future[T] = Future()
        self._commands.put((fn, future))
        self._wake.set()
        return future

    def run_commands(self) -> None:
        """Run what was handed over (on the owner)."""
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

    def wake(self) -> None:
        self._wake.set()

    def wait(self, seconds: float) -> None:
        """Sleep until woken (a webhook, a job, a command) or `seconds` passed."""
        self._wake.wait(seconds)
        self._wake.clear()
