"""This responder's situation (mode, escalation, budget period, crisis), held by the
worker and reassessed from firing alerts and the clock (M1-M4, E, J9).

One owner holds the current `Situation`; the runtime, the jobs and the readers
take it from here (`get`), and only the worker changes it (`reassess`). A
change of mode or escalation is a decision of its own in the log; what the new
situation no longer admits is stopped by the runtime's next poll, and the
scheduler follows the mode's heartbeat at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from responder.rules.modes import Situation, assess
from responder.state.held import Held
from responder.state.store import Store
from warden.config import Config

log = logging.getLogger(__name__)


class ModeFollower(Protocol):
    def follow(self, old: str, new: str) -> None:
        """The mode changed from `old` to `new` (the scheduler's heartbeat follows)."""


class CurrentSituation:
    def __init__(
        self,
        config: Config,
        store: Store,
        held: Held,
        clock: Callable[[], float],
        follower: ModeFollower | None = None,
    ) -> None:
        self.config, self.store, self.clock, self.follower = config, store, clock, follower
        self.held = held
        self.now = assess(config, store, clock(), held)

    def get(self) -> Situation:
        return self.now

    def reassess(self) -> Situation:
        """The situation now; a change of mode or escalation is logged as a decision."""
        old, new = self.now, assess(self.config, self.store, self.clock(), self.held)
        self.now = new
        if (old.mode, old.escalation) != (new.mode, new.escalation):
            self.store.log_decision(
                "mode",
                {
                    "from": old.mode,
                    "to": new.mode,
                    "escalation": new.escalation,
                    "period": new.period.key,
                },
                self.clock(),
            )
            if old.mode != new.mode and self.follower is not None:
                self.follower.follow(old.mode, new.mode)
                log.info("mode %s -> %s (escalation %d)", old.mode, new.mode, new.escalation)
        return new
