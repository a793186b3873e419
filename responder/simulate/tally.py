"""What a simulated run did that a person would judge it by, beyond the invariants:
which alerts opened its crises, whom it called and why, and what work a crisis
stopped. Read at each step from the responder, never from its logs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from responder.act.notify import Notifier
from responder.rules.modes import NOT_A_CRISIS
from responder.service.worker import Service


class Pager(Notifier):
    """A person's pager in the simulation: what would have been sent is kept, and
    nothing leaves the process."""

    def __init__(self) -> None:
        super().__init__("", None)
        self.calls: list[tuple[str, str, str]] = []
        """(reason, summary, description) of each call, in order."""

    def tell(
        self, reason: str, summary: str, description: str, labels: dict[str, str] | None = None
    ) -> bool:
        self.calls.append((reason, summary, description))
        return True


@dataclass
class Tally:
    crises_by_alert: Counter[str] = field(default_factory=Counter)
    """Alertname -> crises opened while it fired (a crisis opened by two counts for both)."""
    killed_in_crisis: Counter[str] = field(default_factory=Counter)
    """Refusal reason -> running swarms the admission rule stopped during a crisis."""
    _crisis: int | None = None

    def kept(self, svc: Service) -> Counter[str]:
        """The runtime's count of running swarms stopped so far, by reason (taken
        before a step, to tell what the step stopped)."""
        return Counter({r: n for (path, r), n in svc.runtime.refusals.items() if path == "keep"})

    def after_step(self, svc: Service, kept_before: Counter[str]) -> None:
        sit = svc.situation
        if sit.mode != "CRISIS":
            return
        self.killed_in_crisis.update(self.kept(svc) - kept_before)
        if sit.crisis_id is not None and sit.crisis_id != self._crisis:
            self._crisis = sit.crisis_id
            for name, severity, component in svc.view["firing"]:
                if severity == "critical" and component not in NOT_A_CRISIS:
                    self.crises_by_alert[name] += 1
