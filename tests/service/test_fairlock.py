"""The store's writers' lock lets them in in the order they came (responder/state/fairlock.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from responder.state.fairlock import FairLock
from tests.conftest import wait_for


def ticket_taken(lock: FairLock, ticket: int) -> Callable[[], bool]:
    """The writer holding `ticket` has come and queues (the holder has ticket 0)."""
    return lambda: lock._next > ticket


def test_waiters_enter_in_the_order_they_came() -> None:
    lock, entered = FairLock(), list[int]()

    def writer(n: int) -> None:
        with lock:
            entered.append(n)

    threads = []
    with lock:  # held: each writer that comes queues behind the one before
        for n in range(8):
            threads.append(threading.Thread(target=writer, args=(n,)))
            threads[-1].start()
            wait_for(ticket_taken(lock, n + 1), 10)
    for t in threads:
        t.join(10)
    assert entered == list(range(8))


def test_an_error_inside_lets_the_next_in() -> None:
    lock = FairLock()
    try:
        with lock:
            raise ValueError("a failed transaction")
    except ValueError:
        pass
    done = threading.Event()

    def next_writer() -> None:
        with lock:
            done.set()

    t = threading.Thread(target=next_writer)
    t.start()
    assert done.wait(10)
    t.join(10)
