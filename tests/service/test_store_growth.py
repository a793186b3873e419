"""The reads a simulated step makes cost the same after a month of history as after a
day (issue 30: a step cost 1.4 ms on day 1 and 2.7 ms on day 23, most of the growth in
reads that walked every swarm, episode or charge ever written).

The cost is counted in SQLite's virtual machine instructions (its progress handler):
a count, not a time, so a busy machine does not move it."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.dialects import sqlite

from responder.state import schema as t
from responder.state.store import Store

MINUTE = 60.0
TYPES = ("improvement", "review")
FINGERPRINT = "f00d"
"""One alert that fired again and again (the simulated month's SwarmsBelowMinimum
had 657 episodes of one fingerprint)."""

READS: dict[str, Callable[[Store, float], Any]] = {
    "the learning's latest runs of a work": lambda s, now: s.work_results("J2", TYPES, 12),
    "the types a work tried": lambda s, now: s.work_tried("J2", (*TYPES, "docs")),
    "an episode acted on twice since the last look": lambda s, now: s.duplicate_triggers(now),
    "the periods charged lately": lambda s, now: s.spend_of_periods_since(now - 600),
    "the swarms ended lately": lambda s, now: s.ended_swarms(now - 600),
    "the open episode of an alert": lambda s, now: s.same_episode(
        FINGERPRINT, "2026-12-01T00:00:00Z"
    ),
    "the results of the last hour": lambda s, now: s.swarm_results(now - 3600),
}


def _history(path: Path, swarms: int) -> float:
    """`swarms` swarms, one a minute, each charged; an alert's episode every ten; the
    latest one still open. Returns the time after the last."""
    rows, charges, episodes = [], [], []
    for i in range(swarms):
        at = i * MINUTE
        rows.append(
            {
                "id": f"s{i}",
                "type": TYPES[i % 2],
                "priority": "MEDIUM",
                "size": 1,
                "trigger": f"job:J2:{int(at)}:0" if i % 5 else f"alert:A:{FINGERPRINT}:{i}:0",
                "context": "",
                "context_file": "",
                "budget_usd": 1.0,
                "period": f"day:{i // 1440}",
                "state": ("succeeded", "failed")[i % 3 == 0],
                "created_at": at,
                "ended_at": at + 30.0,
                "work": "J2" if i % 5 else "A",
            }
        )
        charges.append(
            {
                "agent_id": f"s{i}-0",
                "swarm_id": f"s{i}",
                "type": TYPES[i % 2],
                "period": f"day:{i // 1440}",
                "amount_usd": 0.5,
                "estimated": 0,
                "at": at + 30.0,
            }
        )
        if i % 10 == 0:
            episodes.append(
                {
                    "fingerprint": FINGERPRINT,
                    "starts_at": f"{i}",
                    "alertname": "A",
                    "first_seen": at,
                    "resolved_at": at + 300.0 if i + 10 < swarms else None,
                }
            )
    with sqlite3.connect(path) as db:  # the driver's executemany: 20 days in a second
        for table, values in ((t.swarms, rows), (t.ledger, charges), (t.episodes, episodes)):
            names = list(values[0])
            sql = table.insert().compile(dialect=sqlite.dialect(), column_keys=names)
            db.executemany(str(sql), [[v[n] for n in names] for v in values])
    return swarms * MINUTE


def _instructions(store: Store, read: Callable[[Store, float], Any], now: float) -> int:
    raw = store._connection("read").connection.driver_connection
    assert raw is not None
    ticks = [0]

    def tick() -> int:
        ticks[0] += 1
        return 0  # go on

    raw.set_progress_handler(tick, 10)
    try:
        read(store, now)
    finally:
        raw.set_progress_handler(None, 10)
    return ticks[0]


@pytest.fixture(scope="module")
def histories(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, tuple[Store, float]]]:
    """A day's history (1,440 swarms) and twenty days' (28,800), made once."""
    made = {}
    for days in (1, 20):
        path = tmp_path_factory.mktemp(f"days{days}") / "warden.db"
        store = Store(path)  # its schema, then its history
        made[days] = (store, _history(path, days * 1440))
    yield made
    for store, _ in made.values():
        store.close()


@pytest.mark.parametrize("name", READS)
def test_a_read_of_each_step_costs_no_more_after_weeks(
    histories: dict[int, tuple[Store, float]], name: str
) -> None:
    """The same read after a day and after twenty: the same cost within a tenth (on
    the code before, the learning's read cost 20 times as much)."""
    costs = []
    for store, now in histories.values():
        READS[name](store, now)  # planned and cached once, as every step after the first
        costs.append(_instructions(store, READS[name], now))
    day, weeks = costs
    assert weeks <= day * 1.1 + 20, (
        f"{name}: {day * 10} instructions after a day, {weeks * 10} after 20"
    )


def _next_body(store: Store, now: float, after: int) -> list[tuple[int, bytes]]:
    return store.pending_inbox("r0", 1, after)


def test_the_next_waiting_body_costs_no_more_behind_a_storm(tmp_path: Path) -> None:
    """The worker reads the inbox a body at a time. With 2,000 bodies waiting (the
    webhook bench's storm) the next one costs what it costs behind 2: on the code
    before, the read sorted every waiting body, blobs and all, at each look, and
    took a sixth of the worker's time in the storm. J7's prune of handled bodies keeps
    an index of its own."""
    store = Store(tmp_path / "warden.db")
    costs = []
    for waiting in (2, 2000):
        for i in range(waiting - len(store.pending_inbox("r0"))):
            store.add_inbox(b'{"version": "4", "alerts": []}' + b" " * 900, float(i), "r0")
        first = store.pending_inbox("r0", 1)[0][0]
        store.pending_inbox("r0", 1, after=first)  # planned once, as every look after
        look = functools.partial(_next_body, after=first)
        costs.append(_instructions(store, look, 0.0))
    few, many = costs
    assert many <= few * 1.1 + 20, f"{few * 10} instructions behind 2, {many * 10} behind 2,000"
    raw = store._connection("read").connection.driver_connection
    assert raw is not None
    plan = raw.execute(
        "EXPLAIN QUERY PLAN DELETE FROM inbox WHERE done = 1 AND received_at < 5"
    ).fetchall()
    assert "received_at<?" in str(plan), plan
    store.close()
