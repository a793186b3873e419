"""The scheduled jobs J1, J2 and J5-J10 (J3 and J4 are the exporter's), on APScheduler.

Each job is a method that can also be called directly (tests, `run_now`);
the scheduler only decides when. J1 runs at the current mode's heartbeat and
is rescheduled when the mode changes; J9 runs at the schedule's night and day
start in the project's time zone.

Jobs that act run on the responder's worker (`Service.on_owner`): they never
change swarms, agents or episodes from the scheduler's threads. What they
need from the network (Prometheus, the exporter) is read before, off the
worker, so it never waits on a slow peer. Reports (J6, J10) only read, and
run on the scheduler's thread. Every swarm a job wants goes through the
admission rule, with the job as its `path`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from responder.decide import learning, wake
from responder.intake import reconcile
from responder.intake.webhook import Alert
from responder.model import Priority, SwarmState
from responder.observe import reports, review
from responder.state.errors import StoreUnavailable
from warden.auth import fetch

if TYPE_CHECKING:
    from responder.service.app import Service

log = logging.getLogger(__name__)
RECOVERY = ("bugfix", "coverage", "monitor")
"""R2: when every swarm died, why they died, carry on, and prevent it again."""
FLEET_JOBS = frozenset({"J1", "J1-progress", "J2", "J5", "J6", "J8", "J10"})
"""Jobs that spawn or report for the whole fleet: scheduled on the lease holder only
(responder.intake.claims). J7 (each host's context file and logs) and J9 (each
responder's mode) run on every responder."""
WORK = ("coverage", "improvement", "review")
"""J2 refills with work swarms when swarms simply finished."""
CRISIS_TOO_LONG_SECONDS = 1800.0
CRISIS_RETRY_SECONDS = 300.0
"""J1 starts another CRITICAL swarm in a crisis only if none ran for this long."""
DIRECT_FINGERPRINT = "00000000000d1ec7"
"""The episode fingerprint of BuildFailing raised from the exporter directly."""
SUNDAY = 6
"""J10 writes the weekly review (I3) on the week's last day (datetime's weekday)."""
HISTORY_DAYS = 7
"""J7 keeps ended swarms' contexts and logs this long; their rows and spend stay."""
PROMQL = {
    "build_success": "max(warden_build_success)",
    "errors_per_minute": "sum(rate(warden_log_error_lines_total[5m])) * 60",
    "type_errors": "max(warden_typecheck_errors)",
}


class Jobs:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.config = service.config
        self.scheduler: Any = None
        self.last_progress = service.clock()
        self.progress_runs = 0
        self.last_watchdog = service.clock()
        self.notified: set[str] = set()
        # J1's own state, on the worker (the state file reads it there too).
        self.next_wake: tuple[str, float] | None = None
        """(the state file's event name, when) of J1's next decision."""
        self.woke_for: tuple[str, int] | None = None
        """(mode, escalation) of the last decision: a change is decided on at once."""
        self.full_check: float | None = None
        self.maintained: str | None = None
        """The maintenance window (its budget period) whose scheduled tasks ran."""
        self.progress: wake.Progress | None = None

    @property
    def table(self) -> dict[str, Callable[[], None]]:
        return {
            "J1": self.wake_cycle,
            "J1-progress": self.watch_progress,
            "J2": self.swarm_watchdog,
            "J5": self.budget_watchdog,
            "J6": self.progress_report,
            "J7": self.compress_context,
            "J8": self.self_improvement,
            "J9": self.mode_switch,
            "J10": self.daily_summary,
            "reconcile": self.service.reconciler.run,
        }

    def start(self) -> None:
        sched = BackgroundScheduler(
            timezone=self.config.schedule.timezone,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        )
        mode = self.config.modes[self.service.situation.mode]
        sched.add_job(self._guarded("J1"), "interval", seconds=mode.heartbeat, id="J1")
        sched.add_job(
            self._guarded("J1-progress"),
            "interval",
            seconds=wake.PROGRESS_EVERY_SECONDS,
            id="J1-progress",
        )
        sched.add_job(self._guarded("J2"), "interval", minutes=2, id="J2")
        sched.add_job(self._guarded("J5"), "interval", minutes=5, id="J5")
        sched.add_job(self._guarded("J6"), "interval", minutes=30, id="J6")
        sched.add_job(self._guarded("J7"), "interval", minutes=30, id="J7")
        sched.add_job(self._guarded("J8"), self._improvement_hours(), id="J8")
        for name, at in (
            ("J9-night", self.config.schedule.night_start),
            ("J9-day", self.config.schedule.day_start),
        ):
            sched.add_job(self._guarded("J9"), "cron", hour=at.hour, minute=at.minute, id=name)
        sched.add_job(self._guarded("J10"), "cron", hour=22, minute=0, id="J10")
        # Open episodes against Alertmanager: at once, then as `Reconciler.due` says.
        sched.add_job(
            self._guarded("reconcile"),
            "interval",
            seconds=reconcile.RETRY_SECONDS,
            id="reconcile",
            next_run_time=dt.datetime.now(dt.UTC),
        )
        sched.start()
        self.scheduler = sched

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)

    def _improvement_hours(self) -> CronTrigger:
        """J8 every 6 hours, at the learned best hour among them (L4)."""
        hours = learning.improvement_hours(self.service.runtime.store, self.config)
        return CronTrigger(
            hour=",".join(map(str, hours)), minute=0, timezone=self.config.schedule.timezone
        )

    def on_mode_change(self, old: str, new: str) -> None:
        """J1 follows the mode's heartbeat: 10 s in a crisis, 3 min at night. When the
        night ends, J2 refills the swarms now rather than at its next turn, up to 2
        minutes later (after a crisis it keeps its turn: the fix gets a moment alone)."""
        if self.scheduler is None:
            return
        seconds = self.config.modes[new].heartbeat
        self.scheduler.reschedule_job("J1", trigger="interval", seconds=seconds)
        if old == "NIGHT" and new != "CRISIS":
            self.scheduler.modify_job("J2", next_run_time=dt.datetime.now(dt.UTC))

    def next_event(self) -> tuple[str, float] | None:
        """The next thing J1 does: its next decision, or sooner, the next progress check
        while issues last (the state file's `nextScheduledEvent`)."""
        events = [] if self.next_wake is None else [self.next_wake]
        if self.progress is not None:
            events.append(("PROGRESS_CHECK", self.progress.checked + wake.PROGRESS_EVERY_SECONDS))
        return min(events, key=lambda e: e[1]) if events else None

    def run_now(self, job: str) -> None:
        """Run a job now, on the worker where it acts (from a test, or SwarmsBelowMinimum);
        J1 decides now, whatever its last decision's wake."""
        self._run(job, force=True)

    def _run(self, job: str, force: bool = False) -> None:
        if job == "J1":
            # The network first, off the worker; then the decision on it.
            prom = {key: self._promql(q) for key, q in PROMQL.items()}
            build = self.read_build() if self.service.pipeline_silent() else None
            self.service.on_owner(lambda: self.wake_cycle(prom, build, force))
        elif job in ("J6", "J10", "reconcile"):
            self.table[job]()  # reports only read; reconciling reads, then acts on the owner
        else:
            self.service.on_owner(self.table[job])

    def _guarded(self, job: str) -> Callable[[], None]:
        def run() -> None:
            self.scheduled(job)

        run.__name__ = run.__qualname__ = job
        return run

    def scheduled(self, job: str) -> bool:
        """What the scheduler runs: the job, unless another responder of the fleet
        leads the fleet's jobs; False if it did not run. Its failure is logged,
        never raised into the scheduler."""
        if job in FLEET_JOBS and not self.service.handler.claims.leading:
            return False
        try:
            self._run(job)
        except StoreUnavailable as exc:
            log.warning("job %s not run: %s", job, exc)
        except Exception:
            log.exception("job %s failed", job)
        return True

    # -- the jobs ---------------------------------------------------------------
    def wake_cycle(
        self,
        prom: dict[str, float | None] | None = None,
        build: dict[str, Any] | None = None,
        force: bool = False,
    ) -> None:
        """J1 (`responder.decide.wake`): the quick health check at every heartbeat; a decision
        with the figures it was made on, its actions and its wake, when the last one's
        wake has come, the situation changed, the Watchdog is silent, or `force`.

        `prom` (PromQL figures) and `build` (the exporter's build result, read
        while the Watchdog is silent) are read off the worker by the scheduler."""
        svc = self.service
        rt, sit, now = svc.runtime, svc.situation, svc.clock()
        rt.adopt()
        due = self.next_wake is None or now >= self.next_wake[1]
        if not (force or due or build is not None or self.woke_for != (sit.mode, sit.escalation)):
            return
        snapshot = self.health_snapshot(prom or {})
        decision = wake.decide(
            self.config,
            sit,
            snapshot,
            sit.mode == "MAINTENANCE" and self.maintained != sit.period.key,
            now,
        )
        reasons = list(decision.reasons)
        actions = self._act(decision, snapshot)
        if build is not None:
            reasons.append("the Watchdog is silent: the exporter is asked directly")
            actions.extend(self.direct_checks(build))
        at = now + decision.sleep
        self.woke_for, self.full_check = (sit.mode, sit.escalation), now
        self.next_wake = (decision.kind.event, at)
        rt.store.log_decision(
            "J1",
            {
                "decision": str(decision.kind),
                "reasons": reasons,
                "actions": actions,
                "snapshot": snapshot,
                "next_wake": at,
            },
            now,
        )

    def _act(self, decision: wake.Wake, snapshot: dict[str, Any]) -> list[str]:
        """The decision's actions, each a sentence for the decision log."""
        svc = self.service
        rt, sit, now = svc.runtime, svc.situation, svc.clock()
        kind = decision.kind
        if kind is wake.Kind.CRISIS:
            return self._crisis(snapshot)
        if kind is wake.Kind.ISSUES:
            return [self._issue_swarm(name) for name in self._workable(running_ok=False)]
        if kind is wake.Kind.IMPROVEMENT:
            if any(s.trigger.startswith("job:J8:wake:") for s in rt.store.swarms("running")):
                return ["an improvement swarm of J1's works already"]
            figures = "; ".join(decision.reasons)
            return [
                self._spawn(
                    "J1",
                    svc.handler.learner.types("J8", ("improvement",)),
                    Priority.MEDIUM,
                    f"job:J8:wake:{int(now)}",
                    f"The project can be improved ({figures}): make one small, safe improvement.",
                    "J8",
                )
            ]
        if kind is wake.Kind.MAINTENANCE:
            self.maintained = sit.period.key
            self.compress_context()
            actions = ["J7: history compacted, context written"]
            trigger = f"job:maintenance:{sit.period.key}"
            if "cleanup" in self.config.swarm_types and not rt.store.swarms_by_trigger(trigger):
                actions.append(
                    self._spawn(
                        "J1",
                        ("cleanup",),
                        Priority.LOW,
                        trigger,
                        "A maintenance window: free disk space, remove stale outputs and logs.",
                        "maintenance",
                    )
                )
            return actions
        return []

    def _crisis(self, snapshot: dict[str, Any]) -> list[str]:
        """A CRITICAL swarm when none ran for 5 minutes (unless a recovery command works
        on it); a person told once when the crisis lasts 30 minutes."""
        svc = self.service
        rt, sit = svc.runtime, svc.situation
        actions: list[str] = []
        recent = svc.clock() - CRISIS_RETRY_SECONDS
        if svc.handler.recoveries.under_way():
            actions.append("a recovery command works on it")
        elif not any(s.priority == "CRITICAL" for s in rt.store.swarms(since=recent)) and not any(
            s.priority == "CRITICAL" for s in rt.store.swarms("running")
        ):
            actions.append(
                self._spawn(
                    "J1",
                    ("bugfix",),
                    Priority.CRITICAL,
                    "job:J1:crisis",
                    "A crisis is on and no CRITICAL swarm works on it.",
                )
            )
        crisis = rt.store.last_crisis()
        if (
            sit.crisis_id is not None
            and crisis
            and crisis[1] is None
            and svc.clock() - crisis[0] > CRISIS_TOO_LONG_SECONDS
            and rt.store.tell_once_about_crisis(sit.crisis_id, svc.clock())
        ):
            # Once per crisis: Alertmanager's repeat_interval reminds the person.
            actions.append(
                self._tell(
                    "crisis_unresolved",
                    "A crisis has lasted 30 minutes.",
                    f"Firing: {snapshot['firing']}",
                )
            )
        return actions

    def _workable(self, running_ok: bool) -> list[str]:
        """Firing problems J1 may start swarms for, critical ones first: their policy
        spawns, is not bound to one host and runs no recovery command first; unless
        `running_ok`, only those none of whose swarms runs now."""
        svc = self.service
        firing = svc.runtime.store.firing()
        names = wake.problems(firing)
        order = sorted(
            names, key=lambda n: (not any(a[0] == n and a[1] == "critical" for a in firing), n)
        )
        running = [s.trigger for s in svc.runtime.store.swarms("running")]
        policies = svc.handler.policies
        return [
            n
            for n in order
            if n in policies
            and policies[n].spawn
            and not policies[n].host_bound
            and not policies[n].recover
            and (running_ok or not any(t.startswith(f"alert:{n}:") for t in running))
        ]

    def _issue_swarm(self, name: str, bigger: bool = False) -> str:
        """A swarm for a firing problem: its policy's first type, chosen by the learning
        for the alert's work, or (`bigger`) the biggest that ran for it plus one agent."""
        svc = self.service
        rt, now = svc.runtime, svc.clock()
        spawn = svc.handler.policies[name].spawn[0]
        trigger = f"alert:{name}:{'escalated' if bigger else 'wake'}:{int(now)}:0"
        if not bigger:
            return self._spawn(
                "J1",
                svc.handler.learner.types(name, (spawn.type,)),
                spawn.priority,
                trigger,
                f"{name} still fires and no swarm works on it: fix its cause.",
                name,
            )
        ran = [
            s.size
            for s in rt.store.swarms(since=now - 2 * wake.NO_PROGRESS_SECONDS)
            if s.trigger.startswith(f"alert:{name}:")
        ]
        choice = learning.Choice(
            spawn.type, max([self.config.swarm_types[spawn.type].size, *ran]) + 1
        )
        return learning.launch(
            rt,
            choice,
            f"no progress on {name} for 5 minutes",
            spawn.priority,
            trigger,
            f"{name} has fired for 5 minutes without progress: a bigger swarm, fix its cause.",
            "J1",
        )[1]

    def watch_progress(self) -> None:
        """J1's monitoring while issues last: every 30 s; 5 minutes without progress
        escalate, first to a bigger swarm, then to a person (once)."""
        svc = self.service
        rt, now = svc.runtime, svc.clock()
        firing = wake.problems(rt.store.firing()) if svc.situation.escalation >= 2 else frozenset()
        if not firing:
            self.progress = None
            return
        if self.progress is None:
            self.progress = wake.Progress(now, firing, now)
        watch = self.progress
        # Swarms on the problems (theirs, or J1's crisis swarms): other work's successes
        # are no progress on them.
        on_them = firing | {"J1"}
        successes = sum(
            s.state == SwarmState.SUCCEEDED and learning.work_of(s.trigger) in on_them
            for s in rt.store.ended_swarms(since=watch.began)
        )
        if not watch.look(now, firing, successes):
            return
        names = sorted(firing)
        if watch.steps == 1:
            workable = self._workable(running_ok=True)
            actions = [self._issue_swarm(workable[0], bigger=True)] if workable else []
        elif watch.steps == 2:
            actions = [
                self._tell(
                    "no_progress",
                    "Issues have lasted 10 minutes without progress.",
                    f"Firing: {', '.join(names)}; a bigger swarm did not help.",
                )
            ]
        else:
            return
        rt.store.log_decision(
            "J1",
            {
                "decision": "no progress for 5 minutes",
                "firing": names,
                "actions": actions,
                "escalation": watch.steps,
            },
            now,
        )

    def read_build(self) -> dict[str, Any]:
        """The exporter's build result (`{"unreachable": True}` if it does not answer):
        X5's fallback."""
        listen = self.config.exporter.listen
        url = f"http://{listen.host}:{listen.port}/api/v1/checks"
        try:
            body = json.loads(fetch(url, self.service.scrape, timeout=2))
            return dict(body.get("build") or {"unreachable": True})
        except (OSError, ValueError):
            return {"unreachable": True}

    def direct_checks(self, build: dict[str, Any]) -> list[str]:
        """X5 fallback: while alerts may not arrive, take the build's result read from
        the exporter itself and raise or resolve BuildFailing as Prometheus would."""
        if build.get("unreachable"):
            return ["exporter unreachable too"]
        last = build.get("last_run") or {}
        failure = build.get("last_failure") or {}
        if not last:
            return []
        # One episode per failure streak: named after the streak's first failure.
        starts = f"direct:{failure.get('started_at', 0):.0f}"
        labels = {
            "alertname": "BuildFailing",
            "severity": "critical",
            "component": "build",
            "source": "exporter",
        }
        status = "resolved" if last.get("ok") else "firing"
        self.service.handler.handle(
            Alert(
                DIRECT_FINGERPRINT,
                status,
                labels,
                {
                    "summary": "The project's build is failing (seen directly).",
                    "description": "Raised by the responder from the exporter's checks "
                    "while the Watchdog is silent.",
                },
                starts,
            )
        )
        if "pipeline" not in self.notified:
            self.notified.add("pipeline")
            return [
                f"build {status} (direct)",
                self._tell(
                    "pipeline_silent",
                    "Alerts stopped arriving: the Watchdog is silent.",
                    "Prometheus, Alertmanager or the route to the responder is broken.",
                ),
            ]
        return [f"build {status} (direct)"]

    def health_snapshot(self, prom: dict[str, float | None]) -> dict[str, Any]:
        """Own state, plus what Prometheus said when it answered (best effort)."""
        svc = self.service
        snap = svc.runtime.snapshot
        facts = snap.facts
        cap = facts.period.cap_usd
        return {
            "mode": svc.situation.mode,
            "escalation": svc.situation.escalation,
            "swarms_running": len(snap.running),
            "agents_stuck": sum(1 for a in snap.live if a.state == "stuck"),
            "budget_spent_ratio": round(facts.period_spend / cap, 4) if cap else 1.0,
            "budget_tier": facts.tier_name,
            "firing": sorted({a[0] for a in svc.runtime.store.firing()}),
            **prom,
        }

    def _promql(self, query: str) -> float | None:
        url = (
            self.config.responder.prometheus_url.rstrip("/")
            + "/api/v1/query?"
            + urllib.parse.urlencode({"query": query})
        )
        try:
            result = json.loads(fetch(url, self.service.prometheus, timeout=2))["data"]["result"]
        except (OSError, ValueError, KeyError):
            return None
        return float(result[0]["value"][1]) if result else None

    def swarm_watchdog(self) -> None:
        """J2: keep the minimum number of swarms running (R2, X2).

        When every swarm that ended since the last look died (failed), the
        recovery trio starts: bugfix (why they died), coverage (carry on),
        monitor (prevent it). When swarms simply finished, work swarms refill
        the minimum, the learning loop choosing type and size. Never more than
        the minimum per run; every start asks the admission rule."""
        svc = self.service
        rt, now = svc.runtime, svc.clock()
        minimum = int(self.config.alerts.values["SwarmsBelowMinimum"]["minimum"])  # type: ignore[call-overload]
        running = rt.store.swarms("running")
        missing = minimum - len(running)
        ended = rt.store.ended_swarms(since=self.last_watchdog)
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
            choices = [svc.handler.learner.types("J2", own)]
            work = "J2"
            context = "Fewer swarms run than the minimum: carry on with the project's work."
        actions = []
        for i in range(missing):
            types = choices[i % len(choices)]
            trigger = f"job:{work}:{int(now)}:{i}"
            text = context.replace("{kind}", types[0])
            actions.append(self._spawn("J2", types, priority, trigger, text, work))
        rt.store.log_decision(
            "J2", {"minimum": minimum, "decision": decision, "actions": actions}, now
        )

    def budget_watchdog(self) -> None:
        """J5: the runtime stops what the tier no longer allows as soon as spend is
        recorded; J5 tells a person once per period when spending stops."""
        svc = self.service
        facts = svc.runtime.snapshot.facts
        period = facts.period
        if facts.tier_name == "stop" and period.key not in self.notified:
            self.notified.add(period.key)
            self._tell(
                "budget_exhausted",
                "The budget is spent: all swarms stopped.",
                f"Period {period.key} reached its cap of ${period.cap_usd:.2f}"
                + "".join(
                    f"; {c.name} ${c.spend_usd:.2f} of ${c.cap_usd:.2f}" for c in facts.ceilings
                )
                + ".",
            )
        svc.runtime.store.log_decision("J5", {"tier": facts.tier_name}, svc.clock())

    def progress_report(self) -> None:
        """J6: a progress summary of the last 30 minutes; every second run, the hourly
        roll-up of the two (I1), the review of the hour."""
        svc = self.service
        now = svc.clock()
        text = reports.progress(
            self.config, svc.runtime.store, svc.situation, self.last_progress, now
        )
        folder = self.config.state_dir / "reports"
        reports.write(folder, time.strftime("progress-%Y%m%d-%H%M.md", time.gmtime(now)), text)
        self.last_progress = now
        self.progress_runs += 1
        if self.progress_runs % 2 == 0:
            review.write(
                self.config,
                svc.runtime.store,
                svc.situation,
                now - review.HOUR,
                now,
                folder,
                time.strftime("hourly-%Y%m%d-%H%M", time.gmtime(now)),
                prometheus=False,
            )

    def compress_context(self) -> None:
        """J7: keep history compact, and write the short context new swarms are handed."""
        svc = self.service
        rt, now = svc.runtime, svc.clock()
        rt.prune(now - HISTORY_DAYS * 86400)
        recent = [
            f"- {d['kind']}: "
            + ", ".join(
                f"{k}={v}" for k, v in sorted(d.items()) if k not in ("at", "kind", "snapshot")
            )
            for d in rt.store.decisions(15)
        ]
        stats = learning.stats(rt.store, now - 86400)
        lines = [
            "# What Warden knows now",
            "",
            f"Mode {svc.situation.mode}, escalation {svc.situation.escalation}; firing: "
            + (", ".join(sorted({a[0] for a in rt.store.firing()})) or "nothing")
            + ".",
            "",
            "Swarm results today: "
            + (", ".join(f"{s.type} {s.succeeded}/{s.runs}" for s in stats) or "none yet")
            + ".",
            "",
            "Recent decisions:",
            *recent,
        ]
        reports.write(self.config.state_dir, "context.md", "\n".join(lines) + "\n")

    def self_improvement(self) -> None:
        """J8: an improvement swarm when all is well and the budget is below every tier."""
        svc = self.service
        rt = svc.runtime
        if svc.situation.escalation != 1 or rt.snapshot.facts.tier > 0:
            rt.store.log_decision(
                "J8", {"skipped": "not healthy or budget above notify"}, svc.clock()
            )
            return
        self._spawn(
            "J8",
            svc.handler.learner.types("J8", ("improvement",)),
            Priority.MEDIUM,
            f"job:J8:{int(svc.clock())}",
            "All is well: make one small, safe improvement.",
        )

    def mode_switch(self) -> None:
        """J9: at night start and day start, take the new mode at once."""
        self.service.reassess()
        self.service.runtime.store.log_decision(
            "J9", {"mode": self.service.situation.mode}, self.service.clock()
        )

    def daily_summary(self) -> None:
        """J10: the daily summary (I2), on Sundays the weekly review too (I3), each with
        its charts; J8 then follows what was learned of the best hour today."""
        svc = self.service
        now = svc.clock()
        svc.on_owner(svc.handler.learner.learn_hours)
        if self.scheduler is not None:
            self.scheduler.reschedule_job("J8", trigger=self._improvement_hours())
        folder = self.config.state_dir / "reports"
        store = svc.runtime.store
        review.write(
            self.config,
            store,
            svc.situation,
            now - review.DAY,
            now,
            folder,
            time.strftime("daily-%Y%m%d", time.gmtime(now)),
        )
        if dt.datetime.fromtimestamp(now, self.config.schedule.timezone).weekday() == SUNDAY:
            review.write(
                self.config,
                store,
                svc.situation,
                now - review.WEEK,
                now,
                folder,
                time.strftime("weekly-%Y%m%d", time.gmtime(now)),
            )

    # -- helpers ------------------------------------------------------------------
    def _spawn(
        self,
        job: str,
        types: tuple[str, ...],
        priority: Priority,
        trigger: str,
        context: str,
        work: str | None = None,
    ) -> str:
        """A swarm for the job, its type (among `types`) and size chosen by the learning
        for the job's work (`work`, if the job does more than one kind)."""
        svc = self.service
        return svc.handler.learner.start(
            svc.runtime, work or job, types, priority, trigger, context, job
        )[1]

    def _tell(self, reason: str, summary: str, description: str) -> str:
        sent = self.service.tell(reason, summary, description)
        return f"told a person ({reason})" if sent else f"could not tell a person ({reason})"
