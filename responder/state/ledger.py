"""The spend ledger: what was spent, by period, window, type and swarm."""

from __future__ import annotations

from responder.state.base import StoreBase
from responder.state.queries import Q

CONTEXTS_OVERLAP = 86400.0
"""How far before the last prune's bound a prune looks again for contexts to drop."""


class LedgerTables(StoreBase):
    """The spend ledger."""

    # -- ledger -----------------------------------------------------------
    def spend(self, period: str) -> float:
        return float(self._value(Q.spend, period=period))

    def spend_between(self, start: float, end: float) -> float:
        """Everything charged in [start, end): a day's, week's or month's ceiling."""
        return float(self._value(Q.spend_between, start=start, end=end))

    def charges_between(self, start: float, end: float) -> list[tuple[float, str, float, str]]:
        """(at, period, amount, swarm type) of every charge in [start, end): the reviews'
        spend."""
        rows = self._rows(Q.charges_between, start=start, end=end)
        return [(float(r[0]), r[1], float(r[2]), r[3]) for r in rows]

    def spend_of_periods_since(self, since: float) -> dict[str, float]:
        """period -> its whole spend, for each period charged at or after `since`."""
        return {r[0]: float(r[1]) for r in self._rows(Q.spend_of_periods_since, since=since)}

    def bases_of_swarm(self, swarm_id: str) -> dict[str, str]:
        """agent -> what its charge was booked on (B6)."""
        return {r[0]: r[1] for r in self._rows(Q.bases_of_swarm, id=swarm_id)}

    def spend_by_basis(self, period: str) -> dict[str, float]:
        """What the period was charged, by what each charge was booked on (B6)."""
        return {r[0]: float(r[1]) for r in self._rows(Q.spend_by_basis, period=period)}

    def past_caps_of_periods_since(self, since: float) -> dict[str, float]:
        """period -> what its runs reported past their own caps (B6: booked, and beyond
        what the spawn guard reserves), for each period charged at or after `since`."""
        rows = self._rows(Q.past_caps_of_periods_since, since=since)
        return {r[0]: float(r[1]) for r in rows}

    def past_caps_between(self, start: float, end: float) -> float:
        """What runs charged in [start, end) reported past their own caps."""
        return float(self._value(Q.past_caps_between, start=start, end=end))

    def swarm_spend(self, swarm_id: str) -> float:
        return float(self._value(Q.swarm_spend, id=swarm_id))

    def spend_by_type(self) -> dict[str, float]:
        return {r[0]: float(r[1]) for r in self._rows(Q.spend_by_type)}

    def spend_by_swarm(self) -> dict[str, float]:
        return {r[0]: float(r[1]) for r in self._rows(Q.spend_by_swarm)}

    def prune(self, before: float, keep_decisions: int = 1000) -> list[str]:
        """J7: drop handled webhook bodies, old decisions (keeping the newest) and the
        contexts of swarms that ended before `before`; returns those swarms' ids, whose
        files may go too. Rows and the ledger stay: every sum is still exact."""
        # Swarms that ended before the last prune's `before` had theirs dropped then
        # (a day's overlap for an end recorded late): each prune reads the swarms that
        # ended since, not every swarm ever (issue 30: the cost grew with the history).
        ended = {"since": self._contexts_dropped_before - CONTEXTS_OVERLAP, "before": before}
        with self._tx() as db:
            db.execute(Q.prune_inbox, {"before": before})
            db.execute(Q.prune_decisions, {"before": before, "keep": keep_decisions})
            ids = [r[0] for r in db.execute(Q.old_contexts, ended)]
            db.execute(Q.drop_contexts, ended)
        self._contexts_dropped_before = max(self._contexts_dropped_before, before)
        return ids
