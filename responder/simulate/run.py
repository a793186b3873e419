"""`warden simulate`: the real decision core living a week under a virtual clock.

The responder's own `Service` (store, alert path, policies, modes,
admission, budget, jobs) runs on a temporary SQLite file with two things
replaced: the clock is virtual, and agents are virtual (`SimAgents`: each
run's duration, cost and outcome drawn from the scenario, its stream-json
lines written to its real log file, which the runtime follows as usual). A
scripted stream of faults reaches the responder as Alertmanager would send
it, through the inbox: firing, re-sent every few minutes, resolved. Alerts
that Prometheus would raise from Warden's own metrics (AgentDied,
SwarmsBelowMinimum, the budget tiers) are raised from the same figures.

After every step the invariants are checked (`Invariants`); the first one
broken ends the run with what happened. The clock jumps from one thing to
the next (a fault, a job, an agent's end), at most `step` at a time, so a
week takes seconds, not a week.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from responder.decide import learning
from responder.decide.wake import PROGRESS_EVERY_SECONDS, problems
from responder.observe import review
from responder.rules.budget import TIERS
from responder.service.worker import Service
from responder.simulate.agents import SimAgents, SimClock
from responder.simulate.commands import SimCommands
from responder.simulate.invariants import Invariants
from responder.simulate.project import SimProject
from responder.simulate.scenario import Fault, Scenario
from responder.simulate.tally import Pager, Tally
from warden.config import Config

RESEND_SECONDS = 240.0
"""Alertmanager re-sends what still fires (the critical route's repeat_interval
is 5 minutes; the episode expires after 12 without one)."""


# -- the run --------------------------------------------------------------------------
@dataclass(frozen=True)
class Ran:
    """One swarm of a run: when it started, for which work, what it was, how it ended."""

    at: float
    work: str
    type: str
    size: int
    state: str
    spend_usd: float
    outcome: str | None
    """What the checks said of its work (None: its type does not work apart)."""
    landed: bool


@dataclass
class Report:
    days: float
    wall_seconds: float
    steps: int
    checked: Counter[str]
    broken: list[str]
    started: Counter[tuple[str, str]]
    ended: Counter[str]
    spend_by_day: dict[str, float]
    crises: int
    refusals: Counter[str]
    kills: Counter[str]
    faults: Counter[str]
    swarms: list[Ran] = field(default_factory=list)
    """Every swarm of the run, oldest first (what the learning chose, and how it went)."""
    told: list[tuple[str, str, str]] = field(default_factory=list)
    """(reason, summary, description) of every call to a person."""
    refusal_rows: int = 0
    """Rows of refusals in the decision log."""
    tally: Tally = field(default_factory=Tally)
    paused: dict[str, str] = field(default_factory=dict)
    """Swarm types the circuit breaker paused by the end -> why (the failure class)."""
    spend_by_period: dict[str, float] = field(default_factory=dict)
    """Every period charged -> its spend (`day:...`, `night:...`, `crisis:ID`)."""
    written: list[Path] = field(default_factory=list)
    """The review and its charts, when one was asked for."""

    @property
    def outcomes(self) -> Counter[str]:
        """What the checks said of the work of the swarms that work apart."""
        return Counter(r.outcome for r in self.swarms if r.outcome is not None)

    def text(self) -> str:
        lines = [
            f"simulated {self.days:g} days in {self.wall_seconds:.1f} s ({self.steps} steps)",
            "invariants: "
            + ", ".join(f"{k} x{v}" for k, v in sorted(self.checked.items()))
            + (" - ALL HELD" if not self.broken else ""),
        ]
        lines += [f"BROKEN {b}" for b in self.broken]
        lines.append("faults: " + ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items())))
        lines.append(
            "swarms started: "
            + ", ".join(f"{t} {p} {n}" for (t, p), n in sorted(self.started.items()))
        )
        lines.append(
            "swarms ended: " + ", ".join(f"{k} {v}" for k, v in sorted(self.ended.items()))
        )
        lines.append(
            "work checked: "
            + (", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items())) or "none")
            + f"; landed {sum(r.landed for r in self.swarms)}"
        )
        lines.append(f"crises: {self.crises}")
        lines.append(
            "spend by day: "
            + ", ".join(f"{d} ${v:.2f}" for d, v in sorted(self.spend_by_day.items()))
        )
        lines.append(
            "refusals: "
            + (", ".join(f"{k} {v}" for k, v in sorted(self.refusals.items())) or "none")
        )
        lines.append(
            "agents Warden killed: "
            + (", ".join(f"{k} {v}" for k, v in sorted(self.kills.items())) or "none")
        )
        lines += [f"wrote {p}" for p in self.written]
        return "\n".join(lines)

    def summary(self) -> dict[str, Any]:
        """The run as one JSON object (`warden simulate --json`), for machines."""
        return {
            "days": self.days,
            "steps": self.steps,
            "wall_seconds": round(self.wall_seconds, 3),
            "invariants": {
                name: {
                    "checked": n,
                    "held": not any(b.startswith(f"{name}: ") for b in self.broken),
                }
                for name, n in sorted(self.checked.items())
            },
            "broken": list(self.broken),
            "faults": dict(sorted(self.faults.items())),
            "crises": self.crises,
            "crises_by_alert": dict(sorted(self.tally.crises_by_alert.items())),
            "people_told": {
                "total": len(self.told),
                "by_reason": dict(sorted(Counter(r for r, _, _ in self.told).items())),
                "calls": [{"reason": r, "summary": s, "description": d} for r, s, d in self.told],
            },
            "paused": dict(sorted(self.paused.items())),
            "refusal_rows": self.refusal_rows,
            "refusals": dict(sorted(self.refusals.items())),
            "work_killed_by_crisis": dict(sorted(self.tally.killed_in_crisis.items())),
            "agents_killed": dict(sorted(self.kills.items())),
            "swarms_started": {f"{t} {p}": n for (t, p), n in sorted(self.started.items())},
            "swarms_ended": dict(sorted(self.ended.items())),
            "work_checked": dict(sorted(self.outcomes.items())),
            "landed": sum(r.landed for r in self.swarms),
            "spend_usd": round(sum(self.spend_by_day.values()), 2),
            "spend_by_day": {d: round(v, 2) for d, v in sorted(self.spend_by_day.items())},
            "spend_by_period": {p: round(v, 2) for p, v in sorted(self.spend_by_period.items())},
            "written": [str(p) for p in self.written],
        }


def simulate(
    config: Config,
    scenario: Scenario,
    days: float,
    seed: int = 0,
    folder: Path | None = None,
    review_dir: Path | None = None,
) -> Report:
    """Run the scenario for `days` on a fresh state (in `folder`, or a temporary one);
    with `review_dir`, the review of its last week (or of the whole run, if shorter)
    is written there, with its charts, as J10 writes one on Sundays."""
    own = folder is None
    work = folder or Path(tempfile.mkdtemp(prefix="warden-simulate-", dir=_fast_tmp()))
    work.mkdir(parents=True, exist_ok=True)
    try:
        return _run(_sim_config(config, work), scenario, days, seed, review_dir)
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)


def _fast_tmp() -> str | None:
    """A memory-backed folder where there is one: SQLite's fsyncs cost nothing there."""
    shm = Path("/dev/shm")  # noqa: S108  (only to hold a throwaway database)
    return str(shm) if shm.is_dir() else None


def _sim_config(config: Config, work: Path) -> Config:
    """The config with its state, secrets, token and peers moved where nothing real is
    reached."""
    token = work / "token"
    token.write_text("simulated-webhook-token\n", encoding="utf-8")
    nowhere = "http://127.0.0.1:9"  # discard: refused at once
    responder = dataclasses.replace(
        config.responder, token_file=token, alertmanager_url=nowhere, prometheus_url=nowhere
    )
    exporter = dataclasses.replace(
        config.exporter, listen=dataclasses.replace(config.exporter.listen, port=9)
    )
    # The secrets too: a responder makes the missing ones, and those of the config's
    # folder are the real stack's (a fresh clone's simulation wrote .warden/secrets).
    return dataclasses.replace(
        config,
        state_dir=work / "state",
        secrets_dir=work / "secrets",
        responder=responder,
        exporter=exporter,
    )


class _Alerts:
    """The alerts of the run as Alertmanager sends them: firing (re-sent) and resolved."""

    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.firing: dict[str, tuple[dict[str, Any], float]] = {}
        """key -> (alert, last sent)."""

    def fire(self, name: str, severity: str, component: str, now: float) -> None:
        if name in self.firing:
            return
        starts = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        alert = {
            "status": "firing",
            "labels": {"alertname": name, "severity": severity, "component": component},
            "annotations": {"summary": f"{name} (simulated)", "description": "simulated"},
            "startsAt": starts,
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": hashlib.sha256(name.encode()).hexdigest()[:16],
        }
        self.firing[name] = (alert, now)
        self._send(alert, now)

    def resolve(self, name: str, now: float) -> None:
        sent = self.firing.pop(name, None)
        if sent is not None:
            self._send({**sent[0], "status": "resolved"}, now)

    def resend(self, now: float) -> None:
        for name, (alert, last) in list(self.firing.items()):
            if now - last >= RESEND_SECONDS:
                self.firing[name] = (alert, now)
                self._send(alert, now)

    def _send(self, alert: dict[str, Any], now: float) -> None:
        body = {"version": "4", "status": alert["status"], "alerts": [alert]}
        self.svc.runtime.store.add_inbox(
            json.dumps(body).encode(), now, self.svc.config.responder.id
        )


def _occurrences(scenario: Scenario, start: float, end: float) -> Iterator[tuple[float, Fault]]:
    zone = scenario.start.tzinfo or dt.UTC
    day0 = dt.datetime.fromtimestamp(start, zone).replace(hour=0, minute=0, second=0, microsecond=0)
    day = 0
    while True:
        midnight = (day0 + dt.timedelta(days=day)).timestamp()
        if midnight > end:
            return
        for f in scenario.faults:
            at = midnight + f.daily
            if start <= at < end and (not f.days or day + 1 in f.days):
                yield at, f
        day += 1


JOBS = {"J2": 120.0, "J5": 300.0, "J7": 1800.0}
"""The jobs' real intervals (a scenario's `cadence` may lengthen them); J1 follows the
mode's heartbeat (deciding at its decisions' wakes), its ladders' watch runs every
30 s while problems fire, and J8 follows the learned hours (`learning.improvement_hours`)."""


WATCH = "J1-progress"
LOOKS = ("J1", WATCH)
"""Jobs run at the first step after they are due, rather than making steps of their
own: J1's looks between its decisions (a step is made for each decision's wake, see
`responder.decide.wake`; a look only takes over the agents of dead runtimes, which one
simulated responder never leaves) unless the scenario sets J1's cadence, and the
ladders' watch (its steps wait minutes: a swarm's end, then a 2-minute grace)."""


def _run(
    config: Config, scenario: Scenario, days: float, seed: int, review_dir: Path | None
) -> Report:
    wall0 = time.monotonic()
    run = _Run(config, scenario, days, seed)
    while run.clock.now < run.end and not run.broken:
        run.step()
    svc, clock = run.svc, run.clock
    report = _report(svc, config, days, time.monotonic() - wall0, run)
    if review_dir is not None:
        # Virtual time: the stem names the simulated week; no Prometheus to draw from.
        report.written = review.write(
            config,
            svc.runtime.store,
            svc.situation,
            max(run.start, clock.now - review.WEEK),
            clock.now,
            review_dir,
            f"simulated-{dt.datetime.fromtimestamp(clock.now, dt.UTC):%Y%m%d}-seed{seed}",
            prometheus=False,
        )
    for s in svc.runtime.store.swarms("running"):
        svc.runtime.kill_swarm(s.id, "simulation over")
    svc.runtime.close()
    return report


class _Run:
    """One simulation: the virtual clock, the agents, the responder (a new one after
    each crash), the scenario's events and what is due, advanced a step at a time."""

    def __init__(self, config: Config, scenario: Scenario, days: float, seed: int) -> None:
        self.config, self.scenario = config, scenario
        rng = random.Random(seed)  # noqa: S311  (a simulation, not a secret)
        self.start = scenario.start.timestamp()
        self.end = self.start + days * 86400
        self.clock = SimClock(self.start)
        self.agents = SimAgents(self.clock, scenario, rng)
        self.project = SimProject(scenario, rng, self.clock)
        self.pager = Pager()
        self.commands = SimCommands(scenario, rng, self.clock)
        self.tally = Tally()
        self.explore = random.Random(f"learning-{seed}")  # noqa: S311
        self.svc = self._responder()
        self.alerts = _Alerts(self.svc)
        self.inv = Invariants(config, self.project)
        self.events = sorted(_occurrences(scenario, self.start, self.end), key=lambda e: e[0])
        self.ending: list[tuple[float, str]] = []  # (when, what) of faults that last
        self.every = {**JOBS, **scenario.cadence}
        # A scenario's J1 cadence is the pace of J1's decisions too (runs of weeks).
        self.looks = LOOKS if "J1" not in self.every else (WATCH,)
        self.due = {job: self.start + self.every[job] for job in JOBS}
        self.due["J1"] = self.start
        self.due["J8"] = learning.next_improvement(self.svc.runtime.store, config, self.start)
        self.faults: Counter[str] = Counter()
        self.below_since: float | None = None
        self.deaths_seen = 0
        self.steps = 0
        self.broken: list[str] = []

    def _responder(self) -> Service:
        return Service(
            self.config,
            self.clock,
            launcher=self.agents,
            rng=self.explore,
            step_alert_seconds=None,
            state_file=False,
            workshop=self.project.workshop,
            notifier=self.pager,
            commands=self.commands,
        )

    def step(self) -> None:
        """To the next moment anything happens; what happens then; the invariants."""
        svc, due, looks = self.svc, self.due, self.looks
        nxt = min(
            [self.clock.now + self.scenario.step, *(t for j, t in due.items() if j not in looks)]
            + [self.end]
            + [w[1] for w in [svc.wake_cycle.next_wake] if w is not None and "J1" in looks]
            + [t for t, _ in self.events[:1]]
            + [t for t, _ in self.ending]
            + [t for t in [self.agents.next_end(), self.commands.next_end()] if t is not None]
        )
        self.clock.now = now = max(self.clock.now + 1.0, nxt)
        self.agents.advance()
        self.commands.advance()
        self._happen(now)
        self._end_faults(now)
        self.alerts.resend(now)
        self.svc.watchdog_arrived()
        kept = self.tally.kept(self.svc)
        self._run_jobs(now)
        self.svc.step()
        self.tally.after_step(self.svc, kept)
        # J1's ladder watch runs while problems fire, and once after to end the watch;
        # at the first step after it is due (steps of 30 s all week long would double
        # the steps, for a watch whose unit is minutes).
        if problems(self.svc.view["firing"]) or self.svc.wake_cycle.watching is not None:
            due.setdefault(WATCH, now + PROGRESS_EVERY_SECONDS)
        else:
            due.pop(WATCH, None)
        self._own_alerts(now)
        self.steps += 1
        # On the owner, in its view of the store, as the worker reads: a query repeated
        # while its tables are unwritten (the duplicate triggers) is answered once.
        self.broken = self.svc.on_owner(lambda: self.inv.check(self.svc))

    def _happen(self, now: float) -> None:
        """The scenario's faults that are due."""
        while self.events and self.events[0][0] <= now:
            _, f = self.events.pop(0)
            self.faults[f.alert or f.kind] += 1
            if f.kind == "alert":
                self.alerts.fire(f.alert, f.severity, f.component, now)
                self.ending.append((now + f.lasts, f"resolve:{f.alert}"))
            elif f.kind == "kill_agents":
                self.agents.kill_all()
            elif f.kind == "cost_storm":
                self.agents.cost_factor = f.factor
                self.ending.append((now + f.lasts, "calm"))
            elif f.kind == "restart":
                # A crash: nothing is closed or written; a new responder starts on the state.
                self.inv.refusals_counted_before += sum(self.svc.runtime.refusals.values())
                self.svc.runtime.drop()
                self.svc = self.alerts.svc = self._responder()

    def _end_faults(self, now: float) -> None:
        for when, what in [e for e in self.ending if e[0] <= now]:
            self.ending.remove((when, what))
            if what == "calm":
                self.agents.cost_factor = 1.0
            else:
                self.alerts.resolve(what.split(":", 1)[1], now)

    def _run_jobs(self, now: float) -> None:
        """The jobs that are due; J1 also at its last decision's wake."""
        svc, due, every = self.svc, self.due, self.every
        woke = svc.wake_cycle.next_wake if "J1" in self.looks else None
        for job in [
            j for j, t in due.items() if t <= now or (j == "J1" and woke and woke[1] <= now)
        ]:
            if job == "J1":
                # On the owner, as the scheduler runs it (no PromQL, no exporter here).
                svc.on_owner(lambda: svc.wake_cycle.run({}, None))
                # Its looks on the heartbeat's grid from the start, as J2, J5 and J7 are
                # on theirs, so their steps coincide.
                beat = every.get("J1", self.config.modes[svc.situation.mode].heartbeat)
                due[job] = self.start + (int((now - self.start) // beat) + 1) * beat
            else:
                svc.jobs.run_now(job)
                due[job] = (
                    learning.next_improvement(svc.runtime.store, self.config, now)
                    if job == "J8"
                    else now + every.get(job, PROGRESS_EVERY_SECONDS)
                )

    def _own_alerts(self, now: float) -> None:
        """What Prometheus would raise from Warden's own figures (read on the next step,
        as the real ones arrive after a scrape and an evaluation)."""
        snap, alerts = self.svc.runtime.snapshot, self.alerts
        deaths = sum(snap.history.deaths.values())
        if deaths > self.deaths_seen:
            alerts.fire("AgentDied", "critical", "agents", now)
            self.ending.append((now + 60, "resolve:AgentDied"))
        self.deaths_seen = deaths
        running = len(snap.running)
        self.below_since = (self.below_since or now) if running < 3 else None
        if self.below_since is not None and now - self.below_since >= 60:
            alerts.fire("SwarmsBelowMinimum", "warning", "swarms", now)
        elif self.below_since is None:
            alerts.resolve("SwarmsBelowMinimum", now)
        tier = snap.facts.tier_name
        for level, name in (
            ("notify", "BudgetNearlyExhausted"),
            ("kill_non_critical", "BudgetNonCriticalStopped"),
            ("critical_only", "BudgetCriticalOnly"),
            ("stop", "BudgetExhausted"),
        ):
            if TIERS.index(tier) >= TIERS.index(level):
                alerts.fire(name, "critical", "budget", now)
            else:
                alerts.resolve(name, now)


def _report(svc: Service, config: Config, days: float, wall: float, run: _Run) -> Report:
    store = svc.runtime.store
    started: Counter[tuple[str, str]] = Counter()
    ended: Counter[str] = Counter()
    for s in store.swarms():
        started[(s.type, s.priority)] += 1
        if s.state != "running":
            ended[s.state] += 1
    zone = config.schedule.timezone
    spend: dict[str, float] = {}
    first = min((s.created_at for s in store.swarms()), default=svc.clock())
    day = dt.datetime.fromtimestamp(first, zone).replace(hour=0, minute=0, second=0, microsecond=0)
    while day.timestamp() <= svc.clock():
        nxt = day + dt.timedelta(days=1)
        spend[day.date().isoformat()] = store.spend_between(day.timestamp(), nxt.timestamp())
        day = nxt
    kills: Counter[str] = Counter()
    for (_type, why), n in svc.runtime.snapshot.history.ended_by_warden.items():
        kills[why] += n
    spent = store.spend_by_swarm()
    ran = [
        Ran(
            s.created_at,
            s.work,
            s.type,
            s.size,
            s.state,
            spent.get(s.id, 0),
            s.outcome,
            s.landed is not None,
        )
        for s in sorted(store.swarms(), key=lambda s: s.created_at)
    ]
    return Report(
        days,
        wall,
        run.steps,
        run.inv.checked,
        run.broken,
        started,
        ended,
        spend,
        len(store.crisis_durations()),
        Counter(store.refusal_counts()),
        kills,
        run.faults,
        ran,
        # The run's folder is a new temporary one each time: named alike in the report,
        # so that the same seed gives the same report.
        [(r, s, d.replace(str(config.state_dir), "<state>")) for r, s, d in run.pager.calls],
        len(store.refusals_after(0)),
        run.tally,
        {p.type: p.cls for p in store.pauses()},
        store.spend_of_periods_since(0.0),
    )
