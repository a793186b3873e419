"""How an agent's run ended, and what it is charged: decided from facts alone.

The runtime records an end in one transaction (the agent's row and its ledger
entry), then counts it, trips the breaker or retries; what the end *is* comes
from here: the state (killed, succeeded, failed), why Warden killed it, how it
died, its failure class, and the charge (the run's own report if it is a cost,
else its cap if it ran, never more than its cap).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from responder.act.adapters import Adapter
from responder.act.live import LiveAgent
from responder.model import AgentState, EndReason
from responder.rules.failures import Failure, FailureClass
from responder.state.store import LedgerEntry, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ending:
    state: AgentState
    why: EndReason | None
    """Why Warden killed it (None: it ended by itself)."""
    death: str | None
    """How a run that ended without its result died: killed (by a signal Warden did
    not send), crashed; None for a run that ended with one (T3)."""
    failure: Failure | None
    error: bool
    """It printed an error result."""


@dataclass(frozen=True)
class Charge:
    amount: float
    """What the ledger books: at most the cap."""
    reported: float | None
    """What the run reported as its cost (None: nothing, or not a cost)."""
    started: bool
    """It became the agent: a run that never did spent nothing."""
    clamped_from: float | None
    """What the ledger would have booked above the cap (None: nothing was clamped)."""


def classify(
    adapter: Adapter, exit_code: int | None, why: EndReason | None, swarm_over: bool
) -> Ending:
    """The end of a run: killed by Warden (`why`, or its swarm ended by another
    command), succeeded (exit 0, or a result without an error when its exit is
    unknown), or failed with its class and how it died."""
    result = adapter.result
    error = bool(result and result.is_error)
    if why is None and swarm_over and exit_code != 0:
        why = EndReason.SWARM_KILLED  # its swarm was ended by another Warden command
    if why is not None:
        failure = None
        if why in (EndReason.STUCK_SILENT, EndReason.STUCK_SPAWNING):
            failure = Failure(FailureClass.STUCK, f"{why.stuck}: killed and replaced")
        return Ending(AgentState.KILLED, why, None, failure, error)
    if not error and (exit_code == 0 or (exit_code is None and result is not None)):
        return Ending(AgentState.SUCCEEDED, None, None, None, error)
    death: str | None = None  # it ended with its result: a failed run, not a death (T3)
    if result is None:
        death = "killed" if exit_code in (-9, -15) else "crashed"
    return Ending(AgentState.FAILED, None, death, adapter.failure(exit_code), error)


def charge(adapter: Adapter, ending: Ending, ran: bool, cap: float) -> Charge:
    """What the run costs. A run that never became the agent (its program missing,
    its arguments refused) spent nothing; any other run that did not report is
    charged its cap; nothing is charged more than its cap (what the guard
    reserved for it). `ran`: it was started and has a process."""
    failure = ending.failure
    never_ran = failure is not None and failure.cls in (FailureClass.NOT_FOUND, FailureClass.USAGE)
    started = ran and not never_ran
    result = adapter.result
    reported = result.cost_usd if result and result.cost_usd is not None else None
    amount = reported if reported is not None else (cap if started else 0.0)
    clamped_from = amount if amount > cap else None
    return Charge(min(amount, cap), reported, started, clamped_from)


def note_charge(store: Store, live: LiveAgent, paid: Charge, now: float) -> None:
    """A cost report that is not a cost, and a charge held to the cap, are decisions
    of their own in the log."""
    agent_id, swarm_type, refused = live.row.id, live.swarm.type, live.adapter.refused_cost
    if refused is not None:
        log.warning(
            "agent %s (%s) reported %s as its cost, which is not a cost: "
            "charged $%.2f as a run that reported none",
            agent_id,
            swarm_type,
            refused,
            paid.amount,
        )
        store.log_decision(
            "cost_refused",
            {
                "agent": agent_id,
                "type": swarm_type,
                "reported": refused,
                "charged_usd": paid.amount,
            },
            now,
        )
    if paid.clamped_from is not None:
        # A run is charged at most its cap: what the guard reserved for it.
        store.log_decision(
            "charge_clamped",
            {"agent": agent_id, "reported_usd": paid.clamped_from, "cap_usd": paid.amount},
            now,
        )


def record(
    store: Store,
    live: LiveAgent,
    end: Ending,
    paid: Charge,
    exit_code: int | None,
    now: float,
    period: str,
) -> None:
    """The agent's end and its ledger entry, in one transaction. The charge is booked
    to `period`, the one it happened in: a run that outlived the crisis it was started
    in is paid from the period after (issue 29: an ended $12 crisis was charged $21)."""
    row, swarm, adapter = live.row, live.swarm, live.adapter
    failure, reported, cap = end.failure, paid.reported, live.type.budget_usd
    ledger = LedgerEntry(
        row.id,
        row.swarm_id,
        swarm.type,
        period,
        paid.amount,
        int(reported is None and paid.started),
        now,
        reported if reported is not None and reported > cap else None,
    )
    store.end_agent(
        row.id,
        ledger,
        state=end.state,
        ended_at=now,
        exit_code=exit_code,
        death_reason=end.death,
        end_reason=None if end.why is None else str(end.why),
        cost_usd=paid.amount,
        result_error=None if adapter.result is None else int(end.error),
        failure_class=None if failure is None else str(failure.cls),
        failure_text=None if failure is None else failure.text,
        cost_refused=adapter.refused_cost,
        session_id=_text(adapter.details.get("session_id")),
    )
    row.state = end.state


def _text(value: object) -> str | None:
    """A text the agent printed, or None: nothing it prints is trusted as a kind."""
    return value if isinstance(value, str) and value else None
