"""The alert path: one firing or resolved alert through a chain of named stages.

Like Alertmanager's notification pipeline, every stage has one signature and
the chain is built in one place (`alert_path`), each stage handed at
construction only the owner it needs. A stage does its part and hands the
alert on (`rest(work)`), or stops it (a resolved alert, a duplicate, a
recovery started); because it wraps the rest, it can also act after them
(the claim's release, the decision's record), as a middleware does.

The order is the behaviour: the episode is named before the claim, the
situation is reassessed before acting (so a crisis the alert opens is already
the mode and budget period its swarms run in), and a recovery command goes
before any swarm. Every stage runs on the worker (C1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from responder.act.recovery import Recoveries
from responder.decide.briefing import Briefing
from responder.decide.situation import CurrentSituation
from responder.decide.spawner import PolicySwarms
from responder.decide.stages import (
    Act,
    AlertCounts,
    Brief,
    Claim,
    Episode,
    Reassess,
    Record,
    Recover,
    RunJobs,
    Spawn,
    Stage,
    WithPolicy,
    Work,
)
from responder.intake.claims import Claims
from responder.intake.webhook import Alert
from responder.rules.policy import Policy
from responder.state.held import Held
from responder.state.store import Store


class Chain:
    """Named stages run in order; each may stop the alert or wrap the rest."""

    def __init__(self, stages: Sequence[tuple[str, Stage]]) -> None:
        self.stages = tuple(stages)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.stages)

    def handle(self, alert: Alert, taken_from: str | None = None) -> bool:
        """Take the alert through the chain; True if this responder acted on it."""
        work = Work(alert, taken_from)
        self._run(0, work)
        return work.outcome is not None

    def _run(self, i: int, work: Work) -> None:
        if i < len(self.stages):
            self.stages[i][1](work, lambda w: self._run(i + 1, w))


def alert_path(
    store: Store,
    held: Held,
    clock: Callable[[], float],
    claims: Claims,
    situation: CurrentSituation,
    policies: Mapping[str, Policy],
    jobs: Mapping[str, Callable[[], None]],
    briefing: Briefing,
    recoveries: Recoveries,
    swarms: PolicySwarms,
    counts: AlertCounts,
) -> Chain:
    """The chain every alert takes. `jobs`: what a policy may run (`run_jobs`)."""
    return Chain(
        (
            ("episode", Episode(store, held, clock, counts)),
            ("policy", WithPolicy(policies)),
            ("record", Record(store, clock)),
            ("claim", Claim(claims, counts)),
            ("reassess", Reassess(situation)),
            ("act", Act(counts.latency)),
            ("jobs", RunJobs(jobs)),
            ("brief", Brief(briefing)),
            ("recover", Recover(recoveries)),
            ("spawn", Spawn(swarms)),
        )
    )
