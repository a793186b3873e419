"""The stages of the alert path (`responder.decide.pipeline` chains them).

Each is a small callable with one signature, `(work, rest)`, holding only the
owner it was built with: the store, the claims, the current situation, the
jobs a policy may run, the briefing, the recoveries, the policy's swarms.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from responder.act.recovery import Recoveries
from responder.decide.briefing import Briefing
from responder.decide.situation import CurrentSituation
from responder.decide.spawner import PolicySwarms
from responder.intake.claims import Claims
from responder.intake.webhook import Alert
from responder.rules.policy import Policy
from responder.state.errors import StoreUnavailable
from responder.state.held import Held
from responder.state.store import Store

log = logging.getLogger(__name__)


@dataclass
class Work:
    """One alert on its way through the chain, and what the stages did with it."""

    alert: Alert
    taken_from: str | None = None
    """A takeover: the claimer whose lease lapsed ("nobody": no responder may act)."""
    policy: Policy = field(default_factory=Policy)
    context: str = ""
    """What the agents are told (the briefing), when the policy starts anything."""
    done: list[str] = field(default_factory=list)
    acting: bool = False
    """Past the claim and the reassessment: an error from here on is the episode's."""
    outcome: str | None = None
    """What was done, once acted on: the decision log's sentence."""


Rest = Callable[[Work], None]


class Stage(Protocol):
    def __call__(self, work: Work, rest: Rest) -> None:
        """Do this stage's part; call `rest(work)` to hand the alert on."""


ACT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class Latency:
    """How long acting on firing episodes took: cumulative counts per bucket bound,
    as a Prometheus histogram has them (`warden_responder_action_duration_seconds`)."""

    buckets: tuple[float, ...] = ACT_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * len(ACT_BUCKETS))
    count: int = 0
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        for i, bound in enumerate(self.buckets):
            self.counts[i] += seconds <= bound
        self.count += 1
        self.total += seconds


@dataclass
class AlertCounts:
    """What the chain counted, read by the metrics (owned by the worker)."""

    received: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    actions: Counter[tuple[str, str]] = field(default_factory=Counter)
    latency: Latency = field(default_factory=Latency)


class Episode:
    """Count the alert and name its episode: one name whichever replica of a Prometheus
    pair set startsAt. A resolved alert closes its episode and goes no further; a
    re-send of an episode acted on goes no further either, told from what the owner
    holds (most of a storm: Alertmanager re-sends every firing alert of a group)."""

    def __init__(
        self, store: Store, held: Held, clock: Callable[[], float], counts: AlertCounts
    ) -> None:
        self.store, self.held, self.clock, self.counts = store, held, clock, counts

    def __call__(self, work: Work, rest: Rest) -> None:
        alert = work.alert
        if work.taken_from is None:
            self.counts.received[alert.status] += 1
            if alert.status == "firing" and self.held.acted_lately(
                alert.fingerprint, alert.starts_at, self.clock()
            ):
                self.counts.duplicates += 1
                return
        starts = self.store.same_episode(alert.fingerprint, alert.starts_at)
        if starts != alert.starts_at:
            work.alert = alert = dataclasses.replace(alert, starts_at=starts)
        if alert.status == "resolved":
            if not self.store.close_episode(
                alert.fingerprint, starts, self.clock(), labels=alert.labels
            ):
                self.counts.duplicates += 1
            return
        rest(work)


class WithPolicy:
    """The policy that answers the alert (an unknown alert: the empty policy)."""

    def __init__(self, policies: Mapping[str, Policy]) -> None:
        self.policies = policies

    def __call__(self, work: Work, rest: Rest) -> None:
        work.policy = self.policies.get(work.alert.name, Policy())
        rest(work)


class Record:
    """The decision log's record of the episode, once acted on, whatever happened:
    an action that raised is recorded with its error, so its re-sends are
    duplicates rather than the same error again. A database outage is not the
    episode's fault: nothing is recorded, its claim lapses and it is taken over."""

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self.store, self.clock = store, clock

    def __call__(self, work: Work, rest: Rest) -> None:
        fp, starts = work.alert.episode
        try:
            rest(work)
        except StoreUnavailable:
            raise
        except Exception as exc:
            if work.acting:
                self.store.episode_acted(fp, starts, f"error: {type(exc).__name__}: {exc}")
            raise
        if work.outcome is None:
            return
        decision = {
            "alert": work.alert.name,
            "fingerprint": fp,
            "startsAt": starts,
            "outcome": work.outcome,
        }
        if not self.store.episode_acted(fp, starts, work.outcome, decision, self.clock()):
            log.warning("%s %s was acted on elsewhere too", work.alert.name, work.alert.episode)


class Claim:
    """Remember the episode and claim it: only the responder holding the claim acts;
    a re-send, or an episode another responder holds, goes no further."""

    def __init__(self, claims: Claims, counts: AlertCounts) -> None:
        self.claims, self.counts = claims, counts

    def __call__(self, work: Work, rest: Rest) -> None:
        alert, claims = work.alert, self.claims
        if work.taken_from is None:
            claims.record(alert, claims.bound_to(alert, work.policy.host_bound))
        if not claims.take(*alert.episode):
            self.counts.duplicates += work.taken_from is None
            return
        # A re-send may come after its claimer died: claimed over its lapsed lease, it
        # is a takeover as much as one found by the look for dropped claims.
        former = work.taken_from or claims.former
        if former:
            claims.taken_over += 1
            work.done.append(f"taken over from {former}")
            log.info("took over %s %s from %s", alert.name, alert.episode, former)
        try:
            rest(work)
        finally:
            claims.release(*alert.episode)


class Reassess:
    """The situation from the alerts now firing, before acting: a crisis this episode
    opens is already the mode (and budget period) its swarms run in."""

    def __init__(self, situation: CurrentSituation) -> None:
        self.situation = situation

    def __call__(self, work: Work, rest: Rest) -> None:
        self.situation.reassess()
        rest(work)


class Act:
    """From here on the episode is acted on: timed, and its outcome is what the
    stages after it did."""

    def __init__(self, latency: Latency) -> None:
        self.latency = latency

    def __call__(self, work: Work, rest: Rest) -> None:
        work.acting = True
        began = time.perf_counter()
        try:
            rest(work)
        finally:
            self.latency.observe(time.perf_counter() - began)
        work.outcome = "; ".join(work.done) or "recorded"


class RunJobs:
    """The jobs the policy runs at once (SwarmsBelowMinimum: J2)."""

    def __init__(self, jobs: Mapping[str, Callable[[], None]]) -> None:
        self.jobs = jobs

    def __call__(self, work: Work, rest: Rest) -> None:
        for job in work.policy.run_jobs:
            self.jobs[job]()
            work.done.append(f"ran {job}")
        rest(work)


class Brief:
    """What the agents or the recovery command are told, when the policy starts any."""

    def __init__(self, briefing: Briefing) -> None:
        self.briefing = briefing

    def __call__(self, work: Work, rest: Rest) -> None:
        if work.policy.spawn or work.policy.recover:
            work.context = self.briefing.text(work.alert)
        rest(work)


class Recover:
    """A recovery command first, when the policy names one: the swarms follow only if
    it does not set the alert right (`Recoveries` escalates)."""

    def __init__(self, recoveries: Recoveries) -> None:
        self.recoveries = recoveries

    def __call__(self, work: Work, rest: Rest) -> None:
        if work.policy.recover is None:
            rest(work)
            return
        fp, starts = work.alert.episode
        name = work.alert.name
        work.done.append(self.recoveries.start(work.policy.recover, name, fp, starts, work.context))


class Spawn:
    """The policy's swarms for the episode."""

    def __init__(self, swarms: PolicySwarms) -> None:
        self.swarms = swarms

    def __call__(self, work: Work, rest: Rest) -> None:
        alert = work.alert
        work.done += self.swarms.start(
            alert.name, alert.fingerprint, alert.starts_at, work.context
        )[0]
        rest(work)
