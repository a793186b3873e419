"""Open episodes checked against what Alertmanager holds now: at start, after a gap
in deliveries, and every few minutes.

A responder that was down when an alert resolved may never hear of it: a
Prometheus that restarted meanwhile does not send "resolved" for an alert it
no longer knows. Before this, such an episode kept the mode in CRISIS until it
had not been re-sent for long enough to expire (12 minutes for a critical one).

An open episode is closed as "reconciled" when Alertmanager (its v2 API) does
not hold it, that is no alert of its fingerprint starting within the episode
skew of it, and one of these says it cannot be firing unseen:
- Alertmanager holds its fingerprint with another start only: a new episode
  began, so this one ended;
- the Prometheus the responder reads started after the episode began: it gives
  an alert that still fires a new startsAt, a new episode;
- Alertmanager has been up `SETTLE_SECONDS`: Prometheus re-sends every firing
  alert at each evaluation once its resend delay (10 s) passed, so by then
  Alertmanager holds all that fires.

A close by reconciliation is a guess; a firing delivery of the same episode
reopens it (`Store.open_episode`). The reads happen off the worker (they wait
on the network); only the closes run on it.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from responder.state.queries import EPISODE_SKEW_SECONDS
from responder.state.store import Store
from warden.auth import Credentials, fetch, fetch_with_headers
from warden.rfc3339 import instant

log = logging.getLogger(__name__)
SETTLE_SECONDS = 120.0
RETRY_SECONDS = 2.0
"""How soon to try again when Alertmanager did not answer (at start: it may be starting)."""
EVERY_SECONDS = 300.0
"""How often to look when nothing asked for it."""
TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Held:
    """What Alertmanager holds now, and since when it and Prometheus run."""

    starts: dict[str, list[float]]
    """fingerprint -> the startsAt of each alert of it Alertmanager holds."""
    alertmanager_up_for: float | None
    """Seconds Alertmanager has been up, by its own clock (None: not known)."""
    prometheus_since: float | None
    """When the Prometheus the responder reads started (None: it did not answer)."""


def judge(
    episodes: list[tuple[str, str]], held: Held
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The open `episodes` (fingerprint, startsAt) that cannot be firing unseen, and
    those Alertmanager does not hold but may not yet have been sent again."""
    settled = (held.alertmanager_up_for or 0.0) >= SETTLE_SECONDS
    stale, undecided = [], []
    for fingerprint, starts_at in episodes:
        began = instant(starts_at)
        if began is None:
            continue
        others = held.starts.get(fingerprint, [])
        if any(abs(s - began) <= EPISODE_SKEW_SECONDS for s in others):
            continue  # held: still firing
        restarted = held.prometheus_since is not None and held.prometheus_since > began
        if others or restarted or settled:
            stale.append((fingerprint, starts_at))
        else:
            undecided.append((fingerprint, starts_at))
    return stale, undecided


def read(
    alertmanager_url: str,
    alertmanager: Credentials,
    prometheus_url: str,
    prometheus: Credentials,
) -> Held | None:
    """Alertmanager's alerts (active, silenced, inhibited: all it holds) and start, and
    Prometheus' start; None when Alertmanager does not answer (nothing to go by)."""
    try:
        alerts = _json(alertmanager_url, "/api/v2/alerts", alertmanager)
        raw, headers = fetch_with_headers(
            alertmanager_url.rstrip("/") + "/api/v2/status", alertmanager, TIMEOUT_SECONDS
        )
        status = json.loads(raw)
    except (OSError, ValueError) as exc:
        log.debug("reconciling: Alertmanager did not answer: %s", exc)
        return None
    if not isinstance(alerts, list) or not isinstance(status, dict):
        return None
    # How long Alertmanager has been up, on its own clock (its start and its Date):
    # this host's clock may be set otherwise.
    started = instant(str(status.get("uptime", "")))
    answered = headers.get("Date")
    up_for = None
    if started is not None and answered:
        with contextlib.suppress(TypeError, ValueError):
            up_for = email.utils.parsedate_to_datetime(answered).timestamp() - started
    starts: dict[str, list[float]] = {}
    for a in alerts:
        fp, began = a.get("fingerprint"), instant(str(a.get("startsAt", "")))
        if isinstance(fp, str) and began is not None:
            starts.setdefault(fp, []).append(began)
    try:
        runtime = _json(prometheus_url, "/api/v1/status/runtimeinfo", prometheus)
        prometheus_since = instant(str(runtime["data"]["startTime"]))
    except (OSError, ValueError, KeyError, TypeError):
        prometheus_since = None  # the other two rules still hold
    return Held(starts, up_for, prometheus_since)


def _json(base: str, path: str, credentials: Credentials) -> Any:
    return json.loads(fetch(base.rstrip("/") + path, credentials, TIMEOUT_SECONDS))


class Reconciler:
    """When to look next. The scheduler's thread calls `run`; `soon` may be called
    from any thread (a float replaced whole)."""

    def __init__(
        self,
        read_held: Callable[[], Held | None],
        on_owner: Callable[[Callable[[], int]], int],
        store: Store,
        clock: Callable[[], float],
    ) -> None:
        """`read_held`: what Alertmanager holds (read off the worker); `on_owner`: runs
        the closes on the worker, returning what they return."""
        self.read_held = read_held
        self.on_owner = on_owner
        self.store = store
        self.clock = clock
        self.due = 0.0
        """When to look next (monotonic): at once after start."""
        self.closed = 0

    def soon(self) -> None:
        """Look at the next turn (a gap in deliveries just ended)."""
        self.due = 0.0

    def run(self) -> None:
        if time.monotonic() < self.due:
            return
        held = self.read_held()
        if held is None:
            self.due = time.monotonic() + RETRY_SECONDS
            return
        undecided = self.on_owner(lambda: self._close(held))
        # An episode Alertmanager may not have been sent again yet: looked at again
        # soon, until Alertmanager has settled or Prometheus answers.
        self.due = time.monotonic() + (RETRY_SECONDS if undecided else EVERY_SECONDS)

    def _close(self, held: Held) -> int:
        """Close the stale episodes (on the worker); how many are undecided."""
        now = self.clock()
        stale, undecided = judge(self.store.open_episodes(), held)
        closed = 0
        for fingerprint, starts_at in stale:
            if self.store.close_episode(fingerprint, starts_at, now, by="reconciled"):
                closed += 1
                log.info("episode %s %s: not held by Alertmanager; closed", fingerprint, starts_at)
        if closed:
            self.closed += closed
            self.store.log_decision("reconciled", {"closed": closed}, now)
        return len(undecided)
