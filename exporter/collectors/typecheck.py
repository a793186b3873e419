"""Typecheck collector (H3): runs the type checker and counts its errors.

Errors are counted over the whole output, line by line, never over the tail
kept for display: a checker with thousands of errors prints far more than
`output_tail_bytes`. Where the checker prints its own total (mypy's and tsc's
"Found N errors", pyright's "N errors, M warnings"), that total is the figure;
a disagreement with the counted lines is logged, since it means
`error_pattern` does not fit the checker's output.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.changes import ProjectChanges
from exporter.collectors.check import CommandCheckCollector
from exporter.runner import CommandResult, CommandRunner
from warden.config import TypecheckSettings

log = logging.getLogger(__name__)


class ErrorCount:
    """Counts one run's errors as its lines go by."""

    def __init__(self, error: re.Pattern[str], total: re.Pattern[str]) -> None:
        self._error = error
        self._total = total
        self.counted = 0
        self.reported: int | None = None
        """The checker's own total, from the last line that states one."""

    def feed(self, line: str) -> None:
        self.counted += len(self._error.findall(line))
        m = self._total.search(line)
        if m:
            self.reported = int(next(g for g in m.groups() if g is not None))

    @property
    def errors(self) -> int:
        return self.counted if self.reported is None else self.reported


class TypecheckCollector(CommandCheckCollector):
    def __init__(
        self,
        settings: TypecheckSettings,
        project_dir: Path,
        runner: CommandRunner,
        changes: ProjectChanges | None = None,
    ) -> None:
        super().__init__("typecheck", settings.check, project_dir, runner, changes)
        self.patterns = settings
        self._count: ErrorCount | None = None

    def line_scanner(self) -> Callable[[str], None]:
        self._count = ErrorCount(self.patterns.error_pattern, self.patterns.total_pattern)
        return self._count.feed

    def read_output(self, result: CommandResult) -> list[Metric]:
        count = self._count
        assert count is not None
        if count.reported is not None and count.reported != count.counted:
            log.warning(
                "typecheck: the checker reports %d errors, error_pattern matched %d lines; "
                "using the checker's total (set error_pattern to fit its output)",
                count.reported,
                count.counted,
            )
        return [
            GaugeMetricFamily(
                "warden_typecheck_errors",
                "Type errors in the last typecheck run: the checker's own total where it "
                "prints one, else the lines of its whole output matching error_pattern.",
                value=count.errors,
            )
        ]
