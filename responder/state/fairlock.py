"""A lock that lets its waiters in in the order they came.

SQLite has one writer at a time, and this process's writers queue on one lock
(`StoreBase._writer`). A `threading.Lock` lets in whichever thread asks first
once it is free: in a storm the worker, which writes transaction after
transaction, took it back before the webhook's thread, woken, could run, and a
body's 200 waited behind several of the worker's transactions (issue 30: POST
p99 23-27 ms against a median of 1.1-1.5 ms). In turn, a body waits for the
transactions queued before it, at most.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType


class FairLock:
    """First come, first served; not reentrant. A waiter interrupted (an exception
    while it waits, as Ctrl-C in a command) gives its turn up, rather than holding
    up every later one."""

    def __init__(self) -> None:
        self._turns = threading.Condition(threading.Lock())
        self._next = 0
        """The ticket the next to come takes."""
        self._serving = 0
        """The ticket whose holder may enter."""
        self._given_up: set[int] = set()
        """Tickets of waiters that left before their turn."""

    def __enter__(self) -> None:
        with self._turns:
            ticket = self._next
            self._next += 1
            try:
                self._turns.wait_for(lambda: self._serving == ticket)
            except BaseException:
                self._given_up.add(ticket)
                self._pass_on()  # its turn may have come meanwhile
                raise

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        with self._turns:
            self._serving += 1
            self._pass_on()

    def _pass_on(self) -> None:
        """The turn to the next waiter still waiting; called holding `_turns`."""
        while self._serving in self._given_up:
            self._given_up.discard(self._serving)
            self._serving += 1
        self._turns.notify_all()


class WriterLock:
    """This process's writers in turn (`FairLock`), then the file's writer lock
    shared with the other processes of one responder (its receiver): a writer
    waiting on it is woken the moment it is free, where SQLite's busy handler
    sleeps 1, 2, 5, 10 ms and more between tries (a body's 200 waited behind
    them: POST p99 22 ms in bench/webhook.py's storm, 7 ms with this lock)."""

    def __init__(self, database: Path) -> None:
        self._turns = FairLock()
        self._fd = os.open(f"{database}-writer", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._turns:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)
