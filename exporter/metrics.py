"""What a scrape of `/metrics` returns: cached collector results plus self-monitoring.

Like node_exporter, every collector gets `warden_collector_success` and
`warden_collector_duration_seconds`; unlike node_exporter the collectors do
not run during the scrape (builds and test suites are far too slow), so the
time of each collector's last run is exported as well.
"""

from __future__ import annotations

import platform
from collections.abc import Iterator

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector as PromCollector

from exporter.scheduler import Scheduler
from warden import __version__


class ExporterMetrics(PromCollector):
    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def collect(self) -> Iterator[Metric]:
        yield InfoMetricFamily(
            "warden_build",
            "Warden's version and the Python it runs on; always 1.",
            value={"version": __version__, "python_version": platform.python_version()},
        )
        success = GaugeMetricFamily(
            "warden_collector_success",
            "Whether the collector's last run succeeded (1) or failed (0).",
            labels=["collector"],
        )
        duration = GaugeMetricFamily(
            "warden_collector_duration_seconds",
            "How long the collector's last run took.",
            labels=["collector"],
        )
        last_run = GaugeMetricFamily(
            "warden_collector_last_run_timestamp_seconds",
            "When the collector's last run ended (Unix time); the values it serves are from then.",
            labels=["collector"],
        )
        runs = CounterMetricFamily(
            "warden_collector_runs",
            "Runs of the collector since the exporter started.",
            labels=["collector"],
        )
        failures = CounterMetricFamily(
            "warden_collector_failures",
            "Failed runs of the collector since the exporter started.",
            labels=["collector"],
        )
        for name, st in self.scheduler.states.items():
            if st.success is None:
                continue  # not run yet: no value is better than a made-up one
            success.add_metric([name], 1.0 if st.success else 0.0)
            duration.add_metric([name], st.duration_seconds)
            last_run.add_metric([name], st.last_run_timestamp)
            runs.add_metric([name], st.runs_total)
            failures.add_metric([name], st.failures_total)
        yield from (success, duration, last_run, runs, failures)
        for st in self.scheduler.states.values():
            yield from st.families
