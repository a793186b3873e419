"""The circuit breaker (A2): a swarm type whose runs keep failing the same permanent way
is paused until a person has fixed the cause.

Retrying "Not logged in" costs nothing per run but fills the night with
launches and hides the one line a person needs. After `pause_after` runs of a
type in a row failed with the same permanent class, the type is paused: the
admission rule refuses it on every path (reason `paused`), running swarms of
it are stopped, a person is told once through Alertmanager with the class and
the agent's last words, and `warden swarm resume TYPE` (or `POST
/api/v1/swarm-types/TYPE/resume`) lifts it. The pause is a row in the store,
so a restart keeps it and every runtime sharing the store obeys it.
"""

from __future__ import annotations

import logging
from typing import Protocol

from responder.model import AgentState
from responder.rules.failures import Failure
from responder.state.store import Pause, Store
from warden.config import SwarmType

log = logging.getLogger(__name__)


class Pauses(Protocol):
    """Where pauses are written: the store itself (a command in a terminal), or the
    owner's held copy of them, which writes through (responder/state/held.py)."""

    def pause(self, swarm_type: str, cls: str, error: str, at: float) -> bool: ...

    def resume(self, swarm_type: str) -> Pause | None: ...


def trip(store: Store, pauses: Pauses, stype: SwarmType, failure: Failure, now: float) -> bool:
    """Pause the type if its last `pause_after` runs all failed as `failure` did;
    True if this call paused it."""
    n = stype.pause_after
    if n <= 0 or not failure.cls.permanent:
        return False
    runs = store.last_runs(stype.name, n)
    if len(runs) < n or any(
        state != AgentState.FAILED or cls != failure.cls for state, cls, _ in runs
    ):
        return False
    if not pauses.pause(stype.name, str(failure.cls), failure.text, now):
        return False
    store.log_decision(
        "paused",
        {"type": stype.name, "class": str(failure.cls), "runs": n, "error": failure.text},
        now,
    )
    log.warning(
        "swarm type %s paused: %d runs in a row failed (%s); after fixing the cause, "
        "run `warden swarm resume %s`",
        stype.name,
        n,
        failure,
        stype.name,
    )
    return True


def resume(store: Store, pauses: Pauses, swarm_type: str, now: float) -> bool:
    """Lift the type's pause; False if it was not paused (resuming twice is harmless)."""
    lifted = pauses.resume(swarm_type)
    if lifted is None:
        return False
    store.log_decision(
        "resumed", {"type": swarm_type, "class": lifted.cls, "paused_at": lifted.since}, now
    )
    log.info("swarm type %s resumed (was paused for %s)", swarm_type, lifted.cls)
    return True


def message(p: Pause) -> tuple[str, str]:
    """(summary, description) of the alert that tells a person of a pause."""
    return (
        f"Swarm type {p.type} is paused: its runs keep failing ({p.cls})",
        f"Runs of {p.type} failed the same way in a row ({p.cls}): {p.error}. Nothing "
        f"starts {p.type} swarms until the cause is fixed and a person runs "
        f"`warden swarm resume {p.type}`. Other types that fail the same way pause too, "
        "without a notice of their own: `warden swarm list` shows every paused type.",
    )
