"""The shared shape of build, tests and typecheck: a project command on a schedule.

Each check exports the same families under its own prefix
(`warden_build_success`, `warden_tests_success`, ...), so an alert reads
`warden_build_success == 0` and a dashboard needs no label juggling. The last
output, and the last failing output, are kept for `/api/v1/checks`: a bugfix
swarm is handed the error text from there.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter.changes import ProjectChanges
from exporter.collectors import Collector
from warden.config import CommandCheck
from warden.runner import CommandResult, CommandRunner

log = logging.getLogger(__name__)
RESULTS = ("success", "failure", "timeout")


class CommandCheckCollector(Collector):
    """Runs `settings.command`; subclasses add what they read from the output."""

    def __init__(
        self,
        name: str,
        settings: CommandCheck,
        project_dir: Path,
        runner: CommandRunner,
        changes: ProjectChanges | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.project_dir = project_dir
        self.runner = runner
        self.interval = settings.interval
        self._changes = changes if settings.run_on_change else None
        self.watch = (project_dir,) if self._changes else ()
        # With file events a change runs it at once; an unchanged tree needs no
        # run every `interval`, only a recheck now and then.
        self.watched_interval = settings.unchanged_interval if self._changes else None
        self._lock = threading.Lock()
        self._pending: set[Path] = set()
        """Input changes not yet seen by a run: the cause of the next one."""
        self._cause: set[Path] = set()
        self._written: set[Path] = set()
        """Of what the last run's end released, what it may have written itself."""
        self.last: CommandResult | None = None
        self.last_failure: CommandResult | None = None
        self.last_stale = False
        self.consecutive_failures = 0
        self.runs = dict.fromkeys(RESULTS, 0)
        self.stale_runs = 0

    def changed(self, paths: Collection[Path]) -> bool:
        return self._note(paths, released=False)

    def released(self, paths: Collection[Path]) -> bool:
        return self._note(paths, released=True)

    def _note(self, paths: Collection[Path], released: bool) -> bool:
        if self._changes is None:
            return False
        inputs = self._changes.inputs(paths, self.settings.ignore, released)
        with self._lock:
            self._pending |= inputs
        return bool(inputs)

    def settled(self) -> Collection[Path]:
        if self._changes is None:
            return ()
        released, written = self._changes.run_settled(self.name)
        with self._lock:
            self._written = written
        return released

    def pending(self) -> bool:
        """After a run: whether an input changed while it ran (it is stale, and the next
        starts at once). A file that alone started this run, that this run wrote again
        and that only ever changed while checks ran is the check's own output: learned,
        no change (exporter.changes)."""
        with self._lock:
            during, cause, written = set(self._pending), self._cause, self._written
        if not during:
            return False
        assert self._changes is not None  # only a reported change is pending
        if during == cause and during <= written and self._changes.written_only_by_checks(during):
            self._changes.learn_outputs(self.name, during)
            with self._lock:
                self._pending -= during
            return False
        log.info(
            "%s: inputs changed during the run (%s); running again now",
            self.name,
            self._changes.named(during),
        )
        with self._lock:
            self.last_stale = True
            self.stale_runs += 1
        return True

    def collect(self) -> Sequence[Metric]:
        with self._lock:
            self._cause, self._pending = self._pending, set()
            self.last_stale = False
            cause = self._cause
        if self._changes is not None:
            self._changes.run_started(self.name)
            if cause:
                log.info("%s: running for %s", self.name, self._changes.named(cause))
        result = self.runner.run(
            self.settings.command,
            self.project_dir,
            self.settings.timeout,
            self.settings.output_tail_bytes,
            self.settings.env,
            self.line_scanner(),
        )
        extra = self.read_output(result)
        with self._lock:
            self.last = result
            outcome = "timeout" if result.timed_out else "success" if result.ok else "failure"
            self.runs[outcome] += 1
            if result.ok:
                self.consecutive_failures = 0
            else:
                self.consecutive_failures += 1
                self.last_failure = result
        return [*self.check_families(result), *extra]

    def line_scanner(self) -> Callable[[str], None] | None:
        """What reads every line of a run's output (a subclass counting errors)."""
        return None

    def read_output(self, result: CommandResult) -> list[Metric]:
        """Families a subclass derives from the run (test counts, type errors)."""
        return []

    def check_families(self, r: CommandResult) -> list[Metric]:
        p = f"warden_{self.name}"
        what = f"the configured {self.name} command"
        cached = "Cached: measured in the background, see the _last_run_timestamp_seconds metric."
        runs = CounterMetricFamily(f"{p}_runs", f"Runs of {what} by result.", labels=["result"])
        for outcome, n in self.runs.items():
            runs.add_metric([outcome], n)
        stale = CounterMetricFamily(
            f"{p}_stale_runs",
            f"Runs of {what} whose inputs changed while they ran; another run follows at once.",
            value=self.stale_runs,
        )
        return [
            GaugeMetricFamily(
                f"{p}_success",
                f"1 if {what} last exited 0, else 0. {cached}",
                value=1.0 if r.ok else 0.0,
            ),
            GaugeMetricFamily(
                f"{p}_exit_code",
                f"Exit code of {what}'s last run; -1 when it timed out.",
                value=-1 if r.exit_code is None else r.exit_code,
            ),
            GaugeMetricFamily(
                f"{p}_duration_seconds",
                f"How long {what}'s last run took.",
                value=r.duration_seconds,
            ),
            GaugeMetricFamily(
                f"{p}_last_run_timestamp_seconds",
                f"When {what} last started (Unix time).",
                value=r.started_at,
            ),
            GaugeMetricFamily(
                f"{p}_consecutive_failures",
                f"Failed runs of {what} in a row; 0 after a success.",
                value=self.consecutive_failures,
            ),
            runs,
            stale,
        ]

    def report(self) -> dict[str, Any]:
        """The JSON served at /api/v1/checks for this check."""
        with self._lock:
            return {
                "command": list(self.settings.command),
                "consecutive_failures": self.consecutive_failures,
                "last_run": _result_json(self.last),
                "last_run_stale": self.last_stale,
                "last_failure": _result_json(self.last_failure),
            }


def _result_json(r: CommandResult | None) -> dict[str, Any] | None:
    if r is None:
        return None
    out = asdict(r)
    out["ok"] = r.ok
    return out
