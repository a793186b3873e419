"""J1's work on the project's problems while they fire: each problem's escalation
ladder (`responder.decide.ladder`), looked at every 30 s and at each J1 decision.

A problem is worked on here when its policy starts swarms, on any host, with no
recovery command first (a recovery has its own ladder: `responder.act.recovery`);
a critical alert without a policy gets the CRITICAL bugfix swarm a crisis calls
for. Only J1 starts a problem's later swarms: the alert path starts the first, once
per episode. The call is once per episode whoever tells (`Store.tell_once`); a
warning's ladder ends recorded in the decision log, not paged: a person is called
for what breaks the project, and a warning that swarms could not clear waits for
the review.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from responder.act.notify import Notifier
from responder.act.runtime import Runtime
from responder.decide import learning, wake
from responder.decide.ladder import Attempt, Rung, ended_since, rung, what_was_tried
from responder.decide.learning import Learner
from responder.model import Priority
from responder.rules.policy import Policy, Spawn
from warden.config import Config

CRISIS_SPAWN = Spawn("bugfix", Priority.CRITICAL)
"""What a critical alert without a policy of its own gets."""


@dataclass(frozen=True)
class Problem:
    name: str
    critical: bool
    began: float
    told: bool
    retried: float | None
    """A person asked for another try then: what was tried before no longer counts."""
    spawn: Spawn


class Ladders:
    """The ladders of the firing problems; owned by the worker (J1)."""

    def __init__(
        self,
        config: Config,
        runtime: Runtime,
        learner: Learner,
        policies: Mapping[str, Policy],
        notifier: Notifier,
    ) -> None:
        self.config, self.runtime, self.learner = config, runtime, learner
        self.policies, self.notifier = policies, notifier

    def problems(self) -> list[Problem]:
        """The firing problems Warden works on with swarms, critical ones first."""
        rt = self.runtime
        firing = rt.held.firing()
        critical = {name for name, sev, _ in firing if sev == "critical"}
        open_ = rt.held.read(rt.store.open_problems)
        out = []
        for name in sorted(wake.problems(firing), key=lambda n: (n not in critical, n)):
            policy = self.policies.get(name)
            if policy is None:
                spawn = CRISIS_SPAWN if name in critical else None
            elif policy.spawn and not policy.host_bound and not policy.recover:
                spawn = policy.spawn[0]
            else:
                spawn = None
            if spawn is not None and name in open_:
                o = open_[name]
                told = o.told_at is not None
                out.append(Problem(name, name in critical, o.began, told, o.retried_at, spawn))
        return out

    def attempts(self, problem: Problem, spend: bool = False) -> list[Attempt]:
        """The swarms started for `problem` in its episode (with what each cost)."""
        rt = self.runtime
        prefix = f"alert:{problem.name}:"
        return [
            Attempt(
                s.type,
                s.size,
                s.state,
                s.ended_at,
                rt.store.swarm_spend(s.id) if spend else 0.0,
                ":escalated:" in s.trigger,
                s.outcome == "verified" and s.landed is not None,
            )
            for s in rt.held.read(rt.store.swarms, None, problem.began - 1.0)
            if s.trigger.startswith(prefix)
        ]

    def look(self, problems: list[Problem] | None = None) -> list[str]:
        """Each firing problem's (`problems`, if the caller has them) next rung, acted on:
        the decision log's sentences."""
        now, usual = self.runtime.clock(), self.config.escalation.attempts
        actions = []
        for problem in self.problems() if problems is None else problems:
            attempts = self.attempts(problem)
            step = rung(attempts, now, usual, problem.retried)
            if step is Rung.USUAL:
                actions.append(self._usual(problem, now))
            elif step is Rung.BIGGER:
                actions.append(self._bigger(problem, attempts, now))
            elif step is Rung.CALL and not problem.told:  # told already: by a long crisis
                actions.append(self._call(problem, now))
        return actions

    def _usual(self, problem: Problem, now: float) -> str:
        return self.learner.start_for_job(
            self.runtime,
            "J1",
            self.learner.types(problem.name, (problem.spawn.type,)),
            problem.spawn.priority,
            f"alert:{problem.name}:wake:{int(now)}:0",
            f"{problem.name} still fires and no swarm works on it: fix its cause.",
            problem.name,
        )

    def _bigger(self, problem: Problem, attempts: list[Attempt], now: float) -> str:
        ran = [a.size for a in attempts]
        configured = self.config.swarm_types[problem.spawn.type].size
        size = min(max([configured, *ran]) + 1, self.config.escalation.max_size)
        return learning.launch(
            self.runtime,
            learning.Choice(problem.spawn.type, size),
            f"{problem.name} still fires after its swarms ended",
            problem.spawn.priority,
            f"alert:{problem.name}:escalated:{int(now)}:0",
            f"{problem.name} still fires after the swarms on it ended: a bigger swarm, fix"
            " its cause.",
            "J1",
        )[1]

    def _call(self, problem: Problem, now: float) -> str:
        """Once per episode, on every host: the person is told what was tried and what
        it cost, and that nothing more is spent on it; a warning is recorded."""
        if not self.runtime.store.tell_once([problem.name], now):
            return f"{problem.name}: a person was told already"
        tried = what_was_tried(ended_since(self.attempts(problem, spend=True), problem.retried))
        stop = (
            "Warden spends nothing more on it until it resolves, verified work lands, or"
            f" `warden retry {problem.name}` asks for another try."
        )
        if not problem.critical:
            return f"{problem.name} still fires after {tried}; gave up. {stop}"
        return self.notifier.told(
            "no_progress",
            f"{problem.name} still fires after what Warden tried.",
            f"Tried: {tried}. {stop}",
        )
