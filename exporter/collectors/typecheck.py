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
from collections.abc import Callable
from pathlib import Path

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.changes import ProjectChanges
from exporter.collectors.check import CommandCheckCollector
from warden.config import TypecheckSettings
from warden.reports import ErrorCount
from warden.runner import CommandResult, CommandRunner

log = logging.getLogger(__name__)


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
