"""The learning loop (seed level 3, L1-L5): what worked, what it cost, and what to do next.

For each kind of work (the alert or the job that asks for a swarm) the
`Learner` chooses the swarm's type and size by measured successes per dollar,
with Thompson sampling over the latest `learning.window` runs of each type: a
type never tried is tried first (at its configured size); after that each
choice is taken with the chance that it is the best, so a worse one is still
tried now and then. A run's weight halves every `learning.half_life`, and the
runs of every size of a type are pooled into the rate its sizes start from, so
a type that stops (or starts) working loses (or takes) its place within hours
(issue 29). Swarms Warden killed (mode, budget, a broken build) are left out:
they say nothing of the choice.

The figures come from the store (swarms, their triggers, the ledger); the
daily and weekly reports read them too (`stats`, `best_hour`).
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from responder.act.live import SpawnRefused
from responder.act.runtime import Runtime
from responder.model import Priority
from responder.rules.admission import admit, explain
from responder.state.store import Store, SwarmRow
from warden.config import Config, ScheduleSettings

MIN_COST_USD = 0.01
"""A run that reported no cost is counted at this, so successes per dollar stay finite."""
PRIOR_RUNS = 2.0
"""How many runs a type's pooled success rate counts as in each of its sizes' figures."""
PERIOD_HOURS = 6
"""J8's rhythm: it runs every 6 hours, at the learned best hour and 6, 12, 18 after."""


@dataclass(frozen=True)
class Choice:
    type: str
    size: int

    def __str__(self) -> str:
        return f"{self.type} swarms of {self.size}"


@dataclass(frozen=True)
class Record:
    """One choice's runs in the window, and what its type's runs say of it."""

    choice: Choice
    runs: int
    succeeded: int
    spend_usd: float
    weight: float = 0.0
    """Its runs, each weighed by age (a run's weight halves every `learning.half_life`)."""
    won: float = 0.0
    """Its successes, weighed so."""
    prior: float = 0.5
    """Its type's success rate, all sizes pooled and weighed: what a size not yet run
    is believed to do, and what a few runs of one size are drawn toward."""
    agent_cost: float = MIN_COST_USD
    """Its type's spend per agent run, all sizes pooled."""

    @property
    def cost_per_run(self) -> float:
        if self.runs:
            return max(self.spend_usd / self.runs, MIN_COST_USD)
        return max(self.agent_cost * self.choice.size, MIN_COST_USD)

    @property
    def beta(self) -> tuple[float, float]:
        """The success rate's Beta posterior: the weighed runs over the type's rate
        counted as PRIOR_RUNS runs."""
        return (
            self.won + PRIOR_RUNS * self.prior,
            self.weight - self.won + PRIOR_RUNS * (1.0 - self.prior),
        )

    @property
    def expected(self) -> float:
        """Successes per dollar expected (the mean of the success rate's posterior)."""
        a, b = self.beta
        return a / (a + b) / self.cost_per_run

    def text(self) -> str:
        per = (
            f"${self.spend_usd / self.succeeded:.2f} per success"
            if self.succeeded
            else f"${self.spend_usd:.2f} and no success"
        )
        return f"{self.choice}: {self.succeeded}/{self.runs} succeeded, {per}"


@dataclass(frozen=True)
class Pick:
    work: str
    choice: Choice
    reason: str
    """Why it was taken: off (learning is off), untried (never started for the work),
    best (the best known), explore (tried again although another looks better)."""
    records: tuple[Record, ...]

    @property
    def why(self) -> str:
        """The decision log's sentence: the figures, then the choice."""
        known = "; ".join(r.text() for r in self.records if r.runs)
        figures = f"{known}; " if known else ""
        then = {
            "off": f"learning is off: {self.choice} as configured",
            "untried": f"{self.choice} never tried: trying them once",
            "best": f"{self.choice}, the most successes per dollar",
            "explore": f"trying {self.choice} once",
        }[self.reason]
        return f"{self.work}: {figures}{then}"


class Learner:
    """Chooses swarms for kinds of work; owned by the responder's worker (it keeps the
    last pick per work and the count of picks, which the metrics read as snapshots)."""

    def __init__(
        self,
        config: Config,
        store: Store,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311  (exploration, not a secret)
        self._latest: dict[str, Pick] = {}
        self._picks: Counter[tuple[str, str]] = Counter()
        self._turns: Counter[str] = Counter()
        self.published: tuple[tuple[Pick, ...], tuple[tuple[tuple[str, str], int], ...]] = (
            (),
            (),
        )
        """(the last pick per work, picks by (work, reason)): replaced whole after each
        choice, so the metrics read it from another thread without a lock."""
        self.hours: tuple[tuple[int, int, int], ...] = ()
        """L4's figures, (hour, runs, successes) of improvement swarms: replaced whole by
        `learn_hours` (at start and by J10 each evening), read by the metrics."""
        self.learn_hours()

    def learn_hours(self) -> None:
        """What the improvement swarms' hours say (L4), for the metrics."""
        hours = by_hour(self.store, self.config.schedule)
        self.hours = tuple((h, *hours[h]) for h in sorted(hours))

    def types(self, work: str, own: tuple[str, ...]) -> tuple[str, ...]:
        """The types that may do `work`: `learning.choices`, else its own."""
        return self.config.learning.choices.get(work) or own

    def options(self, types: tuple[str, ...]) -> list[Choice]:
        """Each type at every size it may take: every type at its configured size first,
        so the types are tried before the sizes."""
        configured = [Choice(n, self.config.swarm_types[n].size) for n in types]
        others = [Choice(n, k) for n in types for k in sizes(self.config, n)]
        return configured + [c for c in others if c not in configured]

    def choose(self, work: str, types: tuple[str, ...]) -> Pick:
        """The swarm to start for `work` among `types` (see `types`); the caller logs its
        `why` with the start. With learning off: the configured size, types in turn."""
        if not self.config.learning.enabled:
            name = types[self._turns[work] % len(types)]
            self._turns[work] += 1
            pick = Pick(work, Choice(name, self.config.swarm_types[name].size), "off", ())
        else:
            pick = self._sample(work, self.options(types))
        self._latest[work] = pick
        self._picks[(work, pick.reason)] += 1
        self.published = (tuple(self._latest.values()), tuple(self._picks.items()))
        return pick

    def start(
        self,
        runtime: Runtime,
        work: str,
        types: tuple[str, ...],
        priority: Priority,
        trigger: str,
        context: str,
        path: str,
    ) -> tuple[SwarmRow | None, str]:
        """Start a swarm for `work`, chosen among `types`: (the swarm or None if refused,
        the decision log's text). What no choice escapes (R4, the mode, the budget tier)
        is asked first, so the many starts refused at night or near the cap cost no
        choice; the admission rule then decides the chosen one as any other."""
        facts = runtime.facts()
        refusal = admit(facts, priority, "")  # what no type or size escapes
        if refusal is not None:
            detail = explain(facts, refusal, priority, None)
            runtime.refuse(path, refusal, detail, type=types[0], trigger=trigger)
            return None, f"{types[0]} refused ({refusal}): {detail}"
        pick = self.choose(work, types)
        return launch(runtime, pick.choice, pick.why, priority, trigger, context, path)

    def start_for_job(
        self,
        runtime: Runtime,
        job: str,
        types: tuple[str, ...],
        priority: Priority,
        trigger: str,
        context: str,
        work: str | None = None,
    ) -> str:
        """A swarm for a job, chosen for the job's work (`work`, if the job does more
        than one kind), as the decision log's sentence."""
        return self.start(runtime, work or job, types, priority, trigger, context, job)[1]

    def _sample(self, work: str, options: list[Choice]) -> Pick:
        records = self.records(work, options)
        # Never started (one that runs now is tried, though it has not ended yet): each
        # type once, at its configured size; its other sizes start from what it did.
        tried = self.store.work_tried(work, [c.type for c in options])
        untried = [c for c in options if c.type not in tried]
        if untried:
            return Pick(work, untried[0], "untried", records)
        best = max(records, key=lambda r: r.expected)
        drawn = max(records, key=lambda r: self.rng.betavariate(*r.beta) / r.cost_per_run)
        return Pick(work, drawn.choice, "best" if drawn is best else "explore", records)

    def records(self, work: str, options: list[Choice]) -> tuple[Record, ...]:
        """Each option's figures from the latest `learning.window` runs of each type for
        `work`, weighed by age and pooled across its sizes (issue 29: per type and size,
        and with a window of the latest runs alone, moving to the type that turned good
        took 15-70 simulated hours)."""
        now, half_life = self.clock(), self.config.learning.half_life
        per: dict[Choice, list[tuple[bool, float, float]]] = {c: [] for c in options}
        pooled: dict[str, list[float]] = {}  # type -> [weight, won, spend, agents]
        for type_, size, ok, spend, ended in self.store.work_results(
            work, [c.type for c in options], self.config.learning.window
        ):
            w = 0.5 ** (max(now - ended, 0.0) / half_life)
            per.setdefault(Choice(type_, size), []).append((ok, spend, w))
            t = pooled.setdefault(type_, [0.0, 0.0, 0.0, 0.0])
            t[0], t[1], t[2], t[3] = t[0] + w, t[1] + w * ok, t[2] + spend, t[3] + size
        out = []
        for c in options:
            runs = per[c]
            weight, won, spend, agents = pooled.get(c.type, [0.0, 0.0, 0.0, 0.0])
            out.append(
                Record(
                    c,
                    len(runs),
                    sum(ok for ok, _, _ in runs),
                    sum(s for _, s, _ in runs),
                    sum(w for _, _, w in runs),
                    sum(w * ok for ok, _, w in runs),
                    (won + 1.0) / (weight + 2.0),
                    spend / agents if agents else MIN_COST_USD,
                )
            )
        return tuple(out)


def launch(
    runtime: Runtime,
    choice: Choice,
    why: str,
    priority: Priority,
    trigger: str,
    context: str,
    path: str,
) -> tuple[SwarmRow | None, str]:
    """Start the chosen swarm if the admission rule allows it: (the swarm or None, the
    decision log's text, with `why` it was chosen)."""
    try:
        swarm = runtime.start_swarm(
            choice.type, priority, trigger, context, size=choice.size, path=path
        )
    except SpawnRefused as exc:
        return None, f"{choice.type} refused ({exc.reason}): {exc}"
    return swarm, f"started {choice.type} {swarm.id} (size {choice.size}; {why})"


def sizes(config: Config, swarm_type: str) -> tuple[int, ...]:
    """The sizes a type may take: `learning.sizes`, or its configured size and one more."""
    configured = config.swarm_types[swarm_type].size
    if not config.learning.enabled:
        return (configured,)
    return config.learning.sizes or (configured, configured + 1)


def largest_swarm_usd(config: Config) -> float:
    """One swarm's cap at the largest size any path may start (the learning's sizes,
    the escalation's bigger swarm): B's bound on overspend."""
    return max(
        t.budget_usd * max(*sizes(config, name), config.escalation.max_size)
        for name, t in config.swarm_types.items()
    )


@dataclass(frozen=True)
class Stat:
    type: str
    size: int
    runs: int
    succeeded: int
    spend_usd: float

    @property
    def success_rate(self) -> float:
        return self.succeeded / self.runs if self.runs else 0.0

    @property
    def cost_per_success(self) -> float | None:
        return self.spend_usd / self.succeeded if self.succeeded else None


def stats(store: Store, since: float = 0.0) -> list[Stat]:
    """L1, L3, L5: per swarm type and size, ended swarms, successes and spend (SQL sums)."""
    return [Stat(*row) for row in store.swarm_results(since)]


def by_hour(
    store: Store, schedule: ScheduleSettings, swarm_type: str = "improvement"
) -> dict[int, tuple[int, int]]:
    """L4: the type's swarms that succeeded or failed, by the local hour they started:
    hour -> (runs, successes)."""
    hours: dict[int, tuple[int, int]] = {}
    for at, ok in store.type_outcomes(swarm_type):
        hour = dt.datetime.fromtimestamp(at, schedule.timezone).hour
        runs, won = hours.get(hour, (0, 0))
        hours[hour] = (runs + 1, won + ok)
    return hours


def best_hour(
    store: Store, schedule: ScheduleSettings, swarm_type: str = "improvement"
) -> int | None:
    """L4: the local hour whose swarms of the type succeeded most often (2 runs at least;
    the earliest of equals)."""
    ranked = [
        (won / runs, -hour, hour)
        for hour, (runs, won) in by_hour(store, schedule, swarm_type).items()
        if runs >= 2
    ]
    return max(ranked)[2] if ranked else None


def improvement_hours(store: Store, config: Config) -> tuple[int, ...]:
    """J8's local hours: every 6 hours, one of them the learned best hour (L4); until
    one is known (or with learning off), from the day's start (07:00: 01, 07, 13, 19)."""
    hour = best_hour(store, config.schedule) if config.learning.enabled else None
    anchor = (config.schedule.day_start.hour if hour is None else hour) % PERIOD_HOURS
    return tuple(range(anchor, 24, PERIOD_HOURS))


def next_improvement(store: Store, config: Config, after: float) -> float:
    """When J8 runs next after `after`: the next whole local hour among its hours."""
    hours = improvement_hours(store, config)
    at = dt.datetime.fromtimestamp(after, config.schedule.timezone).replace(
        minute=0, second=0, microsecond=0
    )
    while True:
        at += dt.timedelta(hours=1)
        if at.hour in hours:
            return at.timestamp()
