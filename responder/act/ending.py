"""How an agent's run ended, and what it is charged: decided from facts alone.

The runtime records an end in one transaction (the agent's row and its ledger
entry), then counts it, trips the breaker or retries; what the end *is* comes
from here: the state (killed, succeeded, failed), why Warden killed it, how it
died, its failure class, and the charge (B6, `Charge.basis`):
- reported: the run's own total, also past its cap (Claude Code stops after the
  turn that reaches `--max-budget-usd`, and reports what that turn cost too);
- set_aside: a total over `budget.report_limit` times the cap is not believed:
  the cap is charged and a person told;
- usage: a run that ended without its total (killed, stalled, crashed) is
  charged the tokens its stream showed, at `budget.prices`; one whose stream
  began and showed no answer yet, nothing (a request in flight at the kill is
  not seen);
- cap: a run that ran and showed neither, or reported what is not a cost;
- none: a run that never became the agent (its program missing, its
  arguments refused).
Was (issue 29): every run was charged at most its cap ($6.00 reported on a $2
cap booked $2) and every killed run its whole cap (a run stalled after its
first line and killed four times: $8.00 for $0 spent).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from responder.act.adapters import Adapter
from responder.act.live import LiveAgent
from responder.model import AgentState, EndReason
from responder.rules.failures import Failure, FailureClass
from responder.state.store import LedgerEntry, Store
from warden.config import BudgetSettings

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
    """What the ledger books."""
    reported: float | None
    """What the run reported as its cost (None: nothing, or not a cost)."""
    basis: str
    """reported, set_aside, usage, cap or none (the module's docstring)."""

    @property
    def estimated(self) -> bool:
        """Not the run's own word: the cap, or a price of the tokens seen."""
        return self.basis in ("set_aside", "usage", "cap")


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


def charge(
    adapter: Adapter, ending: Ending, ran: bool, cap: float, budget: BudgetSettings
) -> Charge:
    """What the run costs, and on what basis. `ran`: it was started and has a process."""
    failure = ending.failure
    never_ran = failure is not None and failure.cls in (FailureClass.NOT_FOUND, FailureClass.USAGE)
    result = adapter.result
    reported = result.cost_usd if result and result.cost_usd is not None else None
    if reported is not None:
        if reported > cap * budget.report_limit:
            return Charge(cap, reported, "set_aside")
        return Charge(reported, reported, "reported")
    if not ran or never_ran:
        return Charge(0.0, None, "none")
    used = None if result is not None else adapter.usage_cost(budget.prices)
    return Charge(cap, None, "cap") if used is None else Charge(used, None, "usage")


def note_charge(store: Store, live: LiveAgent, paid: Charge, now: float) -> bool:
    """A cost report that is not a cost, and one set aside, are decisions of their own
    in the log; True for one set aside (a person is told)."""
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
    if paid.basis == "set_aside":
        log.warning(
            "agent %s (%s) reported $%.2f, past budget.report_limit: charged its cap $%.2f",
            agent_id,
            swarm_type,
            paid.reported,
            paid.amount,
        )
        store.log_decision(
            "cost_set_aside",
            {"agent": agent_id, "reported_usd": paid.reported, "cap_usd": paid.amount},
            now,
        )
    return paid.basis == "set_aside"


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
    failure, reported = end.failure, paid.reported
    ledger = LedgerEntry(
        row.id,
        row.swarm_id,
        swarm.type,
        period,
        paid.amount,
        int(paid.estimated),
        now,
        reported if paid.basis == "set_aside" else None,
        paid.basis,
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
        first_output_at=row.first_output_at,
        last_progress_at=row.last_progress_at,
    )
    row.state = end.state


def _text(value: object) -> str | None:
    """A text the agent printed, or None: nothing it prints is trusted as a kind."""
    return value if isinstance(value, str) and value else None
