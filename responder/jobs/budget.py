"""J5, the budget's watch: the runtime stops what the tier no longer allows as soon
as spend is recorded; J5 tells a person once per period when spending stops."""

from __future__ import annotations

from responder.act.notify import Notifier
from responder.act.runtime import Runtime


class BudgetWatchdog:
    def __init__(self, runtime: Runtime, notifier: Notifier) -> None:
        self.runtime, self.notifier, self.clock = runtime, notifier, runtime.clock
        self.notified: set[str] = set()
        """The budget periods a person was told of."""

    def run(self) -> None:
        """J5: the runtime stops what the tier no longer allows as soon as spend is
        recorded; J5 tells a person once per period when spending stops."""
        facts = self.runtime.snapshot.facts
        period = facts.period
        if facts.tier_name == "stop" and period.key not in self.notified:
            self.notified.add(period.key)
            self.notifier.told(
                "budget_exhausted",
                "The budget is spent: all swarms stopped.",
                f"Period {period.key} reached its cap of ${period.cap_usd:.2f}"
                + "".join(
                    f"; {c.name} ${c.spend_usd:.2f} of ${c.cap_usd:.2f}" for c in facts.ceilings
                )
                + ".",
            )
        self.runtime.store.log_decision("J5", {"tier": facts.tier_name}, self.clock())
