"""Turns the config into the list of collectors to run."""

from __future__ import annotations

from pathlib import Path

from exporter.changes import ProjectChanges
from exporter.collectors import Collector
from exporter.collectors.agents import AgentsCollector
from exporter.collectors.build import BuildCollector
from exporter.collectors.coverage import CoverageCollector
from exporter.collectors.git import GitCollector
from exporter.collectors.host import HostCollector
from exporter.collectors.logs import LogsCollector
from exporter.collectors.probes import ProbesCollector
from exporter.collectors.tests import suite_collector
from exporter.collectors.typecheck import TypecheckCollector
from warden.config import Config
from warden.runner import CommandRunner


def build_collectors(config: Config, runner: CommandRunner) -> list[Collector]:
    d = config.project_dir
    changes = ProjectChanges(d, results_read(config))
    out: list[Collector] = []
    if config.host:
        out.append(HostCollector(config.host))
    if config.build:
        out.append(BuildCollector(config.build, d, runner, changes))
    if config.tests:
        out.append(suite_collector(config.tests, d, runner, changes))
    if config.typecheck:
        out.append(TypecheckCollector(config.typecheck, d, runner, changes))
    if config.coverage:
        window = config.alerts.number("CoverageDecreased", "window")
        out.append(CoverageCollector(config.coverage, window))
    if config.git:
        out.append(GitCollector(config.git, d))
    if config.logs:
        out.append(LogsCollector(config.logs, config.state_dir))
    if config.probes:
        out.append(ProbesCollector(config.probes, d, runner))
    if config.agents:
        out.append(AgentsCollector(config.agents))
    return out


def results_read(config: Config) -> list[Path]:
    """What Warden itself reads or writes in the project: never a check's input."""
    out = [config.state_dir]
    if config.tests and config.tests.junit_report:
        out.append(config.tests.junit_report)
    if config.coverage:
        out.append(config.coverage.path)
    if config.logs:
        out += [s.path for s in config.logs.sources]
    return out
