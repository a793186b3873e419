"""Typecheck collector (H3): runs the type checker and counts its errors."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.check import CommandCheckCollector
from exporter.runner import CommandResult, CommandRunner
from warden.config import TypecheckSettings


class TypecheckCollector(CommandCheckCollector):
    def __init__(self, settings: TypecheckSettings, project_dir: Path, runner: CommandRunner):
        super().__init__("typecheck", settings.check, project_dir, runner)
        self.pattern = settings.error_pattern

    def read_output(self, result: CommandResult) -> list[Metric]:
        # The count comes from the output's tail; output_tail_bytes bounds it,
        # so a flood of errors reads as "at least this many".
        errors = len(self.pattern.findall(result.output_tail))
        return [
            GaugeMetricFamily(
                "warden_typecheck_errors",
                "Type errors in the last typecheck run (lines matching error_pattern).",
                value=errors,
            )
        ]
