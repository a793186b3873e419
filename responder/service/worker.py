"""The responder's worker: every part built in one place, and the one thread that
owns them (C1).

`Service` builds the parts in the order they depend on one another, handing
each only the owners it needs: the store, the current situation, the runtime,
the claims, the learning, the policies' swarms and recoveries, the alert path
(`responder.decide.pipeline`), the inbox, the reconciler and the jobs. Then
its worker thread runs steps: commands handed over, a batch of alerts, the
situation assessed, agents watched, the view and the state file published.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from responder.act.commands import CommandProcesses, Commands
from responder.act.launcher import Launcher
from responder.act.notify import Notifier
from responder.act.recovery import Recoveries
from responder.act.runtime import Runtime
from responder.decide.briefing import Briefing
from responder.decide.learning import Learner
from responder.decide.pipeline import alert_path
from responder.decide.situation import CurrentSituation
from responder.decide.spawner import PolicySwarms
from responder.decide.stages import AlertCounts
from responder.intake import reconcile
from responder.intake.claims import Claims
from responder.intake.inbox import Inbox
from responder.intake.reconcile import Reconciler
from responder.intake.watchdog import Watchdog
from responder.jobs.budget import BudgetWatchdog
from responder.jobs.reviews import DailySummary, ProgressReport
from responder.jobs.scheduler import Job, Jobs, Timetable
from responder.jobs.swarms import SelfImprovement, SwarmWatchdog
from responder.jobs.upkeep import ContextCompression, ModeSwitch
from responder.jobs.wake_cycle import WakeCycle
from responder.rules import breaker
from responder.rules.modes import Situation
from responder.rules.policy import policies_from
from responder.service import statefile
from responder.service.owner import Owner
from responder.state.errors import StoreUnavailable
from responder.state.held import Held
from responder.state.store import Store, open_store
from responder.verify.workshop import Workshop
from warden.auth import ALERTMANAGER, PROMETHEUS, SCRAPE, Secrets, read_secret
from warden.config import Config

log = logging.getLogger(__name__)
T = TypeVar("T")
STEP_ALERTS = 200
STEP_ALERT_SECONDS = 0.5
"""Alerts one step handles at most, and for how long: a backlog (a storm, or one
body of thousands of alerts) is worked through step by step, so agents are
watched meanwhile and the heartbeat shows progress, not a hang."""
RECENT_DECISIONS = 20
"""The decisions the state file and the status API show, newest first."""
IDLE_WAKE_SECONDS = 5.0
QUIET_SECONDS = 10.0
QUIET_POLL_SECONDS = 2.0
"""Live agents that all printed nothing for QUIET_SECONDS are looked at every
QUIET_POLL_SECONDS instead of every `responder.poll_interval`: a step costs about
0.9 ms of CPU when it comes every 200 ms (0.2 ms back to back: the caches are
cold), so one hanging agent cost the idle responder 0.45 % of a core; a quiet
agent's exit is seen within QUIET_POLL_SECONDS. An agent that prints, starts or
is being killed brings the poll_interval back at once."""
OUTAGE_RETRY_SECONDS = 1.0
"""How often a worker whose database is unreachable tries again."""
STEP_SHARE = 0.25
STEP_PAUSE_MAX_SECONDS = 0.02
"""A step woken sooner than its own cost allows waits: after a step of d seconds the
next begins no sooner than d / STEP_SHARE after it began (at most
STEP_PAUSE_MAX_SECONDS later), unless alerts are left over. In a webhook storm every
body woke a step of its own, and a step's fixed part (the situation, the agents, the
view, the state file) cost more than the body: the worker held the GIL half the time
for one body a step, and the webhook's own threads waited on it. Paced, a step takes
the bodies that came meanwhile: 300 re-sent bodies took 30-36 steps, not 288-300;
bench/webhook.py's re-sends were handled at 3,894 alerts/s for 0.24 ms of the
worker's CPU a body, against 2,734/s and 0.95 ms with the pacing taken out. An
alert waits at most STEP_PAUSE_MAX_SECONDS more (a step is 1-2 ms: a few ms)."""


def step_pause(took: float, since: float, backlog: bool) -> float:
    """How long the next step waits once woken, `since` seconds after the last began."""
    if backlog:
        return 0.0
    return max(0.0, min(took / STEP_SHARE, took + STEP_PAUSE_MAX_SECONDS) - since)


class Service:
    """The responder's parts and the worker thread that owns them.

    Every change (alerts handled, swarms started and killed, jobs' actions,
    maintenance windows) runs on the worker: other threads hand it a command
    (`on_owner`, `submit`) and HTTP readers take `view` and the runtime's
    snapshot, which the worker publishes after each step.
    """

    def __init__(
        self,
        config: Config,
        clock: Callable[[], float] = time.time,
        launcher: Launcher | None = None,
        rng: random.Random | None = None,
        step_alert_seconds: float | None = STEP_ALERT_SECONDS,
        state_file: bool = True,
        workshop: Callable[[Config], Workshop] = Workshop.on,
        notifier: Notifier | None = None,
        commands: Commands | None = None,
    ) -> None:
        """`rng`: the learning's exploration (seeded by the simulator, so a run repeats);
        `step_alert_seconds`: a step's time for alerts (None: STEP_ALERTS alone bound it,
        as in the simulator, whose runs must not depend on the machine's speed);
        `state_file`: keep the state file (the simulator's responder keeps none: no
        person reads it, and a simulated restart starts from the store; on its virtual
        clock a heartbeat passes almost every step, so it was rewritten at almost every
        step, 9 % of a simulated week); `workshop`: where swarms of types with
        `isolation: worktree` work apart and are verified (the simulator's works on a
        virtual repository); `notifier`: the way to a person (default: HumanNeeded
        alerts to `responder.alertmanager_url`; the simulator's keeps what it is told);
        `commands`: how recovery commands run (the simulator's run none)."""
        self.config = config
        self.clock = clock
        self.step_alert_seconds = step_alert_seconds
        self.token = read_secret(
            config.responder.token_file,
            "responder.token_file",
            "create it as alertmanager/secrets/README.md says",
        )
        secrets = Secrets(config.secrets_dir)
        secrets.ensure()
        self.scrape = secrets.credentials(SCRAPE)
        """What Prometheus (and a person) show to read /metrics and the status API."""
        self.prometheus = secrets.credentials(PROMETHEUS)
        self.alertmanager = secrets.credentials(ALERTMANAGER)
        store = open_store(config)
        self.owner = Owner()
        self.timetable = Timetable(config)
        held = Held(store)
        self.current = CurrentSituation(config, store, held, clock, self.timetable)
        self.runtime = Runtime(
            config,
            store,
            clock,
            situation=self.current.get,
            launcher=launcher,
            held=held,
            workshop=workshop,
        )
        log.info("agents are killed by %s", self.runtime.launcher.kill_method)
        self.state_file = config.state_dir / "state.json" if state_file else None
        self.watchdog = Watchdog()
        self._build_parts(store, rng, notifier, commands or CommandProcesses())
        self.rejected: dict[str, int] = {}
        self.copies = 0
        """Bodies accepted and not stored: a copy of each still waited (the receiver's)."""
        self.failed_steps: Counter[str] = Counter()
        """Steps that did not end, by why: the database unreachable, or an error."""
        self.steps = 0
        """Steps the worker began (`_work`): its pace, against the webhooks it got."""
        self.heartbeat = 0.0
        """When the worker last completed a step (0 until the first): it proves progress."""
        self.worker_cpu = 0.0
        """CPU seconds of the worker thread, as of its last step."""
        self.human: list[dict[str, Any]] = []
        self.receiver: int | None = None
        """The pid of the receiver in front of this process (`serve.py`), for its
        CPU in the metrics; None without one (the simulator, before it starts)."""
        self._stop = False
        self._state_written: tuple[dict[str, Any], float] = ({}, 0.0)
        self._backlog = False
        self.view: dict[str, Any] = {}
        self._publish()

    def _build_parts(
        self,
        store: Store,
        rng: random.Random | None,
        notifier: Notifier | None,
        commands: Commands,
    ) -> None:
        """The alert path and the jobs, each part handed only what it needs."""
        config, runtime, clock, r = self.config, self.runtime, self.clock, self.config.responder
        self.notifier = notifier or Notifier(r.alertmanager_url, self.alertmanager)
        self.claims = Claims(store, r.id, r.instance, r.claim_lease, clock)
        self.learner = Learner(config, store, rng, clock)
        self.policies = policies_from(r.policies)
        self.counts = AlertCounts()
        swarms = PolicySwarms(
            runtime, self.learner, self.claims, self.policies, self.counts.actions
        )
        self.recoveries = Recoveries(runtime, swarms.escalate, self.notifier, commands)
        refill = SwarmWatchdog(config, runtime, self.learner)
        listen = config.exporter.listen
        briefing = Briefing(
            config.state_dir,
            f"http://{listen.host}:{listen.port}",
            self.scrape,
            frozenset(config.stack.other_exporters),
        )
        self.alerts = alert_path(
            store,
            self.runtime.held,
            clock,
            self.claims,
            self.current,
            self.policies,
            {"J2": refill.run},
            briefing,
            self.recoveries,
            swarms,
            self.counts,
        )
        self.inbox = Inbox(store, self.runtime.held, self.claims, self.alerts, clock)
        self._build_jobs(store, refill)

    def _build_jobs(self, store: Store, refill: SwarmWatchdog) -> None:
        """The reconciler and the scheduled jobs; J1 feeds the alert path (X5)."""
        config, runtime, clock, r = self.config, self.runtime, self.clock, self.config.responder
        self.reconciler = Reconciler(
            lambda: reconcile.read(
                r.alertmanager_url, self.alertmanager, r.prometheus_url, self.prometheus
            ),
            self.owner.on_owner,
            store,
            clock,
        )
        compress = ContextCompression(config, runtime, self.current)
        self.wake_cycle = WakeCycle(
            config,
            runtime,
            self.current,
            self.learner,
            self.policies,
            self.recoveries,
            self.notifier,
            self.alerts,
            self.watchdog,
            self.owner.on_owner,
            self.scrape,
            self.prometheus,
            compress.run,
        )
        self.budget_watch = BudgetWatchdog(runtime, self.notifier)
        table = {
            "J1": Job(self.wake_cycle.scheduled, on_owner=False, now=self.wake_cycle.forced),
            "J1-progress": Job(self.wake_cycle.watch_progress),
            "J2": Job(refill.run),
            "J5": Job(self.budget_watch.run),
            "J6": Job(ProgressReport(config, runtime, self.current).run, on_owner=False),
            "J7": Job(compress.run),
            "J8": Job(SelfImprovement(runtime, self.current, self.learner).run),
            "J9": Job(ModeSwitch(runtime, self.current).run),
            "J10": Job(
                DailySummary(config, runtime, self.current, self.learner, self.owner.on_owner).run,
                on_owner=False,
            ),
            # Reconciling reads Alertmanager off the worker, then acts on it.
            "reconcile": Job(self.reconciler.run, on_owner=False),
        }
        self.jobs = Jobs(config, self.timetable, table, self.claims, store, self.owner.on_owner)

    @property
    def situation(self) -> Situation:
        return self.current.get()

    def reassess(self) -> None:
        """Mode and escalation from firing alerts and the clock (M1-M4, E, J9)."""
        self.current.reassess()

    def start(self) -> None:
        self.owner.start(self._work)
        self.jobs.start(self.situation.mode)

    def stop(self) -> None:
        self.jobs.stop()
        self._stop = True
        self.owner.wake()
        self.owner.join(timeout=60)
        self.runtime.close()

    def inbox_added(self) -> None:
        """The receiver stored a body: the worker reads the inbox again, now."""
        self.runtime.store.inbox_added()
        self.owner.wake()

    def on_owner(self, fn: Callable[[], T], timeout: float | None = 120.0) -> T:
        return self.owner.on_owner(fn, timeout)

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        return self.owner.submit(fn)

    def _work(self) -> None:
        outage_since: float | None = None
        while not self._stop:
            wait: float | None = None
            began = time.monotonic()
            self.steps += 1
            try:
                self.step()
            except StoreUnavailable as exc:
                # Told once, not at every step: steps wait for the server (no
                # heartbeat meanwhile, so a supervisor and ResponderDown see it).
                self.failed_steps["database_unavailable"] += 1
                if outage_since is None:
                    outage_since = time.monotonic()
                    log.error("%s; steps wait for it, tried every second", exc)
                wait = OUTAGE_RETRY_SECONDS
            except Exception:
                self.failed_steps["error"] += 1
                log.exception("responder worker step failed; continuing")
            else:
                if outage_since is not None:
                    log.warning(
                        "the database is reachable again after %.0f s of outage",
                        time.monotonic() - outage_since,
                    )
                    outage_since = None
            self.worker_cpu = time.thread_time()
            took = time.monotonic() - began
            self.owner.wait(self._idle_wait() if wait is None else wait)
            if pause := step_pause(took, time.monotonic() - began, self._backlog):
                time.sleep(pause)
        self.owner.run_commands()  # none is left waiting on a stopped worker

    def _idle_wait(self) -> float:
        """Poll agents at poll_interval while any live or waits (every
        QUIET_POLL_SECONDS while all live ones are quiet); otherwise sleep until woken
        (a webhook, a job, a command) or IDLE_WAKE_SECONDS, for the clock's sake."""
        if self._backlog:
            return 0.0
        snap = self.runtime.snapshot
        every = self.config.responder.poll_interval
        if snap.waiting or self.runtime.killing():
            return every
        if not snap.live:
            return IDLE_WAKE_SECONDS
        heard = max(a.last_progress_at or a.started_at or snap.at for a in snap.live)
        return every if snap.at - heard < QUIET_SECONDS else max(every, QUIET_POLL_SECONDS)

    def step(self) -> None:
        """One cycle: commands, a batch of alerts, the situation assessed, agents
        watched, the view and the state file published. It reads what the owner
        holds (responder/state/held.py), looked over first for what others wrote."""
        self.runtime.held.look()
        self.owner.run_commands()
        # A step cut short means more may wait: the next comes without a pause.
        self._backlog = self.inbox.process(STEP_ALERTS, self.step_alert_seconds)
        self.inbox.take_over()
        self.claims.lead()
        self.current.reassess()
        if self.runtime.poll().swarms_ended and self.current.get().mode == "CRISIS":
            # A crisis episode refused while another swarm of its alert ran (the
            # policy's max_running) is J1's to start: now, not at its next 10 s beat.
            self.timetable.bring_forward("J1")
        self.recoveries.poll()
        self._tell_about_pauses()
        self._tell_set_aside()
        self.heartbeat = self.clock()
        self._publish()
        self._write_state()

    def _tell_about_pauses(self) -> None:
        """A2, N1: a person hears once of each cause the circuit breaker paused types
        for (their failure class), through Alertmanager, with the agent's last words:
        every agent logged out pauses every type, and was six notices for one cause."""
        held, now = self.runtime.held, self.clock()
        pauses = held.pauses()
        told = {p.cls for p in pauses if p.told_at is not None}
        for p in pauses:
            if p.told_at is not None or not held.tell_once_about_pause(p.type, p.since, now):
                continue
            if p.cls in told:  # the same cause, told already while it lasts
                continue
            told.add(p.cls)
            summary, description = breaker.message(p)
            labels = {"swarm_type": p.type, "failure_class": p.cls}
            self.notifier.tell("swarm_type_paused", summary, description, labels)

    def _tell_set_aside(self) -> None:
        """B6: a cost report past `budget.report_limit` times the run's cap was not
        believed (the cap was charged): a person hears of each."""
        rt = self.runtime
        while rt.set_aside:
            agent = rt.set_aside.pop(0)
            self.notifier.tell(
                "cost_set_aside",
                f"Agent {agent} reported a cost Warden set aside",
                f"Agent {agent} reported more than budget.report_limit times its cap: it was "
                f"charged its cap. `warden swarm list --all --json` and its log show the rest.",
                {"agent": agent},
            )

    def resume(self, swarm_type: str) -> bool:
        """Lift the circuit breaker's pause of a type (on the owner); False if not paused."""
        return breaker.resume(self.runtime.store, self.runtime.held, swarm_type, self.clock())

    def _publish(self) -> None:
        """The view the status API and the metrics read, replaced whole at every step;
        only what a write changed is read again."""
        store, held = self.runtime.store, self.runtime.held
        # Not the decisions: read by who shows them (the status API, the state file), as
        # a simulated week's every step read them for no one.
        self.view = {
            "crisis_durations": held.read(store.crisis_durations),
            "episode_counts": held.read(store.episode_counts),
            "dead_letters": held.read(store.dead_letters, 5),
            "dead_letter_count": held.read(store.dead_letter_count),
            "last_crisis": held.read(store.last_crisis),
            "firing": held.firing(),
            "pending": held.read(store.agents, states=("waiting",)),
            "paused": [vars(p) for p in held.pauses()],
            "recovery_counts": held.read(store.recovery_counts),
            "spend_by_basis": held.read(store.spend_by_basis, self.situation.period.key),
        }

    def _write_state(self) -> None:
        """The state file, when its content changed or a heartbeat passed, never more."""
        if self.state_file is None:
            return
        store, held = self.runtime.store, self.runtime.held
        state = statefile.build(
            self.config,
            self.situation,
            self.runtime.snapshot,
            {**self.view, "decisions": held.read(store.decisions, RECENT_DECISIONS)},
            self.wake_cycle.full_check,
            self.wake_cycle.next_event(),
            self.heartbeat,
        )
        content = statefile.content_key(state)
        last, at = self._state_written
        every = self.config.modes[self.situation.mode].heartbeat
        if content == last and self.heartbeat - at < every:
            return
        statefile.write(self.state_file, state)
        self._state_written = (content, self.heartbeat)

    def watchdog_arrived(self) -> None:
        if self.watchdog.arrived():
            self.reconciler.soon()  # a gap in deliveries: what resolved meanwhile?

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
