"""The scheduled jobs J1, J2 and J5-J10 (J3 and J4 are the exporter's), on APScheduler.

Each job is an object of its own (`wake_cycle`, `swarms`, `budget`, `reviews`,
`upkeep`) that can also be run directly (tests, `run_now`, a policy's
`run_jobs`); the scheduler only decides when. J1 runs at the current mode's
heartbeat and follows the mode when it changes (`Timetable.follow`); J9 runs
at the schedule's night and day start in the project's time zone.

Jobs that act run on the responder's worker (its `on_owner`): they never
change swarms, agents or episodes from the scheduler's threads. What they
need from the network (Prometheus, the exporter) is read before, off the
worker, so it never waits on a slow peer. Reports (J6, J10) only read, and
run on the scheduler's thread. Every swarm a job wants goes through the
admission rule, with the job as its `path`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from responder.decide import learning, wake
from responder.intake import reconcile
from responder.intake.claims import Claims
from responder.state.errors import StoreUnavailable
from responder.state.store import Store
from warden.config import Config

log = logging.getLogger(__name__)
FLEET_JOBS = frozenset({"J1", "J1-progress", "J2", "J5", "J6", "J8", "J10"})
"""Jobs that spawn or report for the whole fleet: scheduled on the lease holder only
(responder.intake.claims). J7 (each host's context file and logs) and J9 (each
responder's mode) run on every responder."""


@dataclass(frozen=True)
class Job:
    run: Callable[[], None]
    on_owner: bool = True
    """Run on the worker (it acts); False: it only reads, or hands its acts over."""
    now: Callable[[], None] | None = None
    """What `run_now` runs instead (J1: decide now, whatever the last decision's wake)."""


class Timetable:
    """The APScheduler the jobs run on, and J1's heartbeat following the mode."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.aps = BackgroundScheduler(
            timezone=config.schedule.timezone,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        )

    def follow(self, old: str, new: str) -> None:
        """J1 follows the mode's heartbeat: 10 s in a crisis, 3 min at night. When the
        night ends, J2 refills the swarms now rather than at its next turn, up to 2
        minutes later (after a crisis it keeps its turn: the fix gets a moment alone)."""
        if not self.aps.running:
            return
        seconds = self.config.modes[new].heartbeat
        self.aps.reschedule_job("J1", trigger="interval", seconds=seconds)
        if old == "NIGHT" and new != "CRISIS":
            self.bring_forward("J2")

    def bring_forward(self, job: str) -> None:
        """Run `job` at once, its interval kept from then on."""
        if self.aps.running:
            self.aps.modify_job(job, next_run_time=dt.datetime.now(dt.UTC))


class Jobs:
    def __init__(
        self,
        config: Config,
        timetable: Timetable,
        table: Mapping[str, Job],
        claims: Claims,
        store: Store,
        on_owner: Callable[[Callable[[], None]], None],
    ) -> None:
        """`claims`: whether this responder leads the fleet's jobs; `store`: the
        improvement swarms' hours J8 follows."""
        self.config = config
        self.timetable = timetable
        self.scheduler = timetable.aps
        self.table = table
        self.claims = claims
        self.store = store
        self.on_owner = on_owner

    def start(self, mode: str) -> None:
        """Schedule every job (J1 at `mode`'s heartbeat) and start the scheduler."""
        sched = self.scheduler
        heartbeat = self.config.modes[mode].heartbeat
        sched.add_job(self._guarded("J1"), "interval", seconds=heartbeat, id="J1")
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

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)

    def _improvement_hours(self) -> CronTrigger:
        """J8 every 6 hours, at the learned best hour among them (L4)."""
        hours = learning.improvement_hours(self.store, self.config)
        return CronTrigger(
            hour=",".join(map(str, hours)), minute=0, timezone=self.config.schedule.timezone
        )

    def run_now(self, job: str) -> None:
        """Run a job now, on the worker where it acts (from a test, or SwarmsBelowMinimum);
        J1 decides now, whatever its last decision's wake."""
        self._run(job, force=True)

    def _run(self, job: str, force: bool = False) -> None:
        entry = self.table[job]
        run = entry.now if force and entry.now is not None else entry.run
        if entry.on_owner:
            self.on_owner(run)
        else:
            run()
        if job == "J10" and self.scheduler.running:
            # J8 follows what J10 learned of the best hour today.
            self.scheduler.reschedule_job("J8", trigger=self._improvement_hours())

    def _guarded(self, job: str) -> Callable[[], None]:
        def run() -> None:
            self.scheduled(job)

        run.__name__ = run.__qualname__ = job
        return run

    def scheduled(self, job: str) -> bool:
        """What the scheduler runs: the job, unless another responder of the fleet
        leads the fleet's jobs; False if it did not run. Its failure is logged,
        never raised into the scheduler."""
        if job in FLEET_JOBS and not self.claims.leading:
            return False
        try:
            self._run(job)
        except StoreUnavailable as exc:
            log.warning("job %s not run: %s", job, exc)
        except Exception:
            log.exception("job %s failed", job)
        return True
