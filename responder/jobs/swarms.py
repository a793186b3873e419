"""The jobs that keep swarms working: J2 keeps the minimum running (R2, X2), J8
starts one small improvement when all is well (seed level 3)."""

from __future__ import annotations

from responder.act.runtime import Runtime
from responder.decide.learning import Learner
from responder.decide.situation import CurrentSituation
from responder.model import Priority, SwarmState
from warden.config import Config

RECOVERY = ("bugfix", "coverage", "monitor")
"""R2: when every swarm died, why they died, carry on, and prevent it again."""
WORK = ("coverage", "improvement", "review")
"""J2 refills with work swarms when swarms simply finished."""


class SwarmWatchdog:
    def __init__(self, config: Config, runtime: Runtime, learner: Learner) -> None:
        self.config, self.runtime, self.learner = config, runtime, learner
        self.clock = runtime.clock
        self.last_watchdog = runtime.clock()

    def run(self) -> None:
        """J2: keep the minimum number of swarms running (R2, X2).

        When every swarm that ended since the last look died (failed), the
        recovery trio starts: bugfix (why they died), coverage (carry on),
        monitor (prevent it). When swarms simply finished, work swarms refill
        the minimum, the learning loop choosing type and size. Never more than
        the minimum per run; every start asks the admission rule."""
        rt, now = self.runtime, self.clock()
        minimum = int(self.config.alerts.number("SwarmsBelowMinimum", "minimum"))
        running = rt.held.read(rt.store.swarms, "running")
        missing = minimum - len(running)
        ended = rt.held.read(rt.store.ended_swarms, since=self.last_watchdog)
        self.last_watchdog = now
        if missing <= 0:
            return
        died = [s for s in ended if s.state == SwarmState.FAILED]
        if ended and len(died) == len(ended):
            # The recovery types not running yet come first (a crisis may have
            # started its own bugfix swarm already).
            decision, priority = "recovery", Priority.HIGH
            order = sorted(RECOVERY, key=lambda k: any(s.type == k for s in running))
            why = "; ".join(f"{s.type} {s.id}: {s.reason}" for s in died[:10])
            context = (
                f"Every swarm died ({why}). Recovery swarm ({{kind}}): find why they "
                "stopped, carry on, and prevent it from happening again."
            )
            # Each of the trio is its own type; the learning chooses its size, for R2's
            # work rather than J2's (they are not a choice of J2's, and ran whatever failed).
            choices: list[tuple[str, ...]] = [(k,) for k in order]
            work = "R2"
        else:
            decision, priority = "refill", Priority.MEDIUM
            own = tuple(k for k in WORK if k in self.config.swarm_types)
            choices = [self.learner.types("J2", own)]
            work = "J2"
            context = "Fewer swarms run than the minimum: carry on with the project's work."
        actions = []
        for i in range(missing):
            types = choices[i % len(choices)]
            trigger = f"job:{work}:{int(now)}:{i}"
            text = context.replace("{kind}", types[0])
            actions.append(
                self.learner.start_for_job(self.runtime, "J2", types, priority, trigger, text, work)
            )
        rt.store.log_decision(
            "J2", {"minimum": minimum, "decision": decision, "actions": actions}, now
        )


class SelfImprovement:
    def __init__(self, runtime: Runtime, situation: CurrentSituation, learner: Learner) -> None:
        self.runtime, self.situation, self.learner = runtime, situation, learner
        self.clock = runtime.clock

    def run(self) -> None:
        """J8: an improvement swarm when all is well and the budget is below every tier."""
        rt = self.runtime
        if self.situation.get().escalation != 1 or rt.snapshot.facts.tier > 0:
            rt.store.log_decision(
                "J8", {"skipped": "not healthy or budget above notify"}, self.clock()
            )
            return
        self.learner.start_for_job(
            self.runtime,
            "J8",
            self.learner.types("J8", ("improvement",)),
            Priority.MEDIUM,
            f"job:J8:{int(self.clock())}",
            "All is well: make one small, safe improvement.",
        )
