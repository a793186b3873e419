"""The store's writers' lock lets them in in the order they came (responder/state/fairlock.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

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


def test_a_waiter_interrupted_gives_its_turn_up() -> None:
    """As Ctrl-C while a command waits for the store: the writers after it still get in."""
    lock = FairLock()

    def interrupted(predicate: Callable[[], bool]) -> bool:
        raise KeyboardInterrupt

    with lock:
        waiting = lock._turns.wait_for
        setattr(lock._turns, "wait_for", interrupted)  # noqa: B010  (this one wait only)
        with pytest.raises(KeyboardInterrupt):
            lock.__enter__()
        setattr(lock._turns, "wait_for", waiting)  # noqa: B010
    done = threading.Event()

    def next_writer() -> None:
        with lock:
            done.set()

    t = threading.Thread(target=next_writer, daemon=True)  # stuck forever if the turn is lost
    t.start()
    assert done.wait(10)
    t.join(10)
