"""The jobs that write what a person reads: J6 (progress every 30 minutes, the
hourly review every second run) and J10 (the daily summary, on Sundays the
weekly review). They only read, on the scheduler's thread."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from responder.act.runtime import Runtime
from responder.decide.learning import Learner
from responder.decide.situation import CurrentSituation
from responder.observe import reports, review
from warden.config import Config

SUNDAY = 6
"""J10 writes the weekly review (I3) on the week's last day (datetime's weekday)."""


class ProgressReport:
    def __init__(self, config: Config, runtime: Runtime, situation: CurrentSituation) -> None:
        self.config, self.runtime, self.situation = config, runtime, situation
        self.clock = runtime.clock
        self.last_progress = runtime.clock()
        self.progress_runs = 0

    def run(self) -> None:
        """J6: a progress summary of the last 30 minutes; every second run, the hourly
        roll-up of the two (I1), the review of the hour."""
        now = self.clock()
        text = reports.progress(
            self.config, self.runtime.store, self.situation.get(), self.last_progress, now
        )
        folder = self.config.state_dir / "reports"
        reports.write(folder, time.strftime("progress-%Y%m%d-%H%M.md", time.gmtime(now)), text)
        self.last_progress = now
        self.progress_runs += 1
        if self.progress_runs % 2 == 0:
            review.write(
                self.config,
                self.runtime.store,
                self.situation.get(),
                now - review.HOUR,
                now,
                folder,
                time.strftime("hourly-%Y%m%d-%H%M", time.gmtime(now)),
                prometheus=False,
            )


class DailySummary:
    def __init__(
        self,
        config: Config,
        runtime: Runtime,
        situation: CurrentSituation,
        learner: Learner,
        on_owner: Callable[[Callable[[], None]], None],
    ) -> None:
        """`on_owner`: the learning's hours are learned on the worker."""
        self.config, self.runtime, self.situation = config, runtime, situation
        self.learner, self.on_owner, self.clock = learner, on_owner, runtime.clock

    def run(self) -> None:
        """J10: the daily summary (I2), on Sundays the weekly review too (I3), each with
        its charts; J8 then follows what was learned of the best hour today."""
        now = self.clock()
        self.on_owner(self.learner.learn_hours)
        periods = [("daily", review.DAY)]
        if dt.datetime.fromtimestamp(now, self.config.schedule.timezone).weekday() == SUNDAY:
            periods.append(("weekly", review.WEEK))
        for name, length in periods:
            review.write(
                self.config,
                self.runtime.store,
                self.situation.get(),
                now - length,
                now,
                self.config.state_dir / "reports",
                time.strftime(f"{name}-%Y%m%d", time.gmtime(now)),
            )
