"""A responder that starts believes no stale episode: its open episodes are checked
against what Alertmanager holds now (responder/intake/reconcile.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from responder.intake.reconcile import SETTLE_SECONDS, Held, judge
from tests.conftest import Database
from tests.service.test_jobs import make_service
from warden.alertspecs import WATCHDOG_SILENCE_SECONDS
from warden.rfc3339 import instant

T0 = "2026-12-06T10:00:00Z"
AT = instant(T0) or 0.0


@pytest.mark.parametrize(
    ("held", "stale"),
    [
        # Alertmanager holds it (a replica's start, a second later): still firing.
        (Held({"fp": [AT + 1.2]}, 10.0, AT - 60), False),
        # Not held, and Prometheus started after it began: a restart, it is over.
        (Held({}, 10.0, AT + 30), True),
        # Not held, Prometheus ran all along, Alertmanager just started: it may not
        # have been sent again yet.
        (Held({}, 10.0, AT - 60), False),
        (Held({}, 10.0, None), False),
        # ... but after SETTLE_SECONDS it would have been.
        (Held({}, SETTLE_SECONDS, AT - 60), True),
        # Held only with a later start: a new episode began, this one ended.
        (Held({"fp": [AT + 3600]}, 10.0, AT - 60), True),
        # Not known how long Alertmanager is up (no Date): not settled.
        (Held({}, None, None), False),
    ],
)
def test_an_episode_is_stale_only_when_it_cannot_be_firing_unseen(held: Held, stale: bool) -> None:
    closed, undecided = judge([("fp", T0)], held)
    assert closed == ([("fp", T0)] if stale else [])
    assert undecided == ([] if stale or held.starts.get("fp") else [("fp", T0)])


def test_a_guessed_close_is_undone_by_a_firing_delivery_a_resolution_is_not(
    database: Database,
) -> None:
    """Reconciling and expiry guess; if the episode fires again it never ended. A
    resolved notification is Alertmanager's word: a late firing re-send of the same
    episode (two Alertmanagers, one slower) does not reopen it."""
    store = database.store()
    labels = {"alertname": "BuildFailing", "severity": "critical"}
    for fp in ("guessed", "expired", "resolved"):
        assert store.open_episode(fp, T0, labels, 1.0)
    assert store.close_episode("guessed", T0, 2.0, by="reconciled")
    assert store.close_episode("resolved", T0, 2.0)
    assert store.expire_episodes(1000.0, {"": 100.0}) == 1
    assert store.open_episodes() == []
    for fp in ("guessed", "expired", "resolved"):
        assert not store.open_episode(fp, T0, labels, 1001.0), "not a new episode"
    assert sorted(store.open_episodes()) == [("expired", T0), ("guessed", T0)]
    assert len(store.firing()) == 2
    store.close()


def test_a_gap_in_deliveries_asks_for_a_look_at_once(tmp_path: Path) -> None:
    """After a gap (the Watchdog silent, then back), what resolved meanwhile may never be
    sent: the next look at Alertmanager is due at once, not in 5 minutes."""
    svc, _ = make_service(tmp_path)
    try:
        svc.reconciler.due = time.monotonic() + 300
        svc.watchdog_arrived()  # on time: no gap
        assert svc.reconciler.due > time.monotonic()
        svc.watchdog.seen -= WATCHDOG_SILENCE_SECONDS + 1
        svc.watchdog_arrived()
        assert svc.reconciler.due == 0.0
    finally:
        svc.runtime.close()
