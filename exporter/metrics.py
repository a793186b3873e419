"""What a scrape of `/metrics` returns: cached collector results plus self-monitoring.

Like node_exporter, every collector gets `warden_collector_success` and
`warden_collector_duration_seconds`; unlike node_exporter the collectors do
not run during the scrape (builds and test suites are far too slow), so the
time of each collector's last run is exported as well.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterator

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector as PromCollector

from exporter.scheduler import CollectorState, Scheduler
from warden import __version__

_GAUGES: list[tuple[str, str, Callable[[CollectorState], float]]] = [
    (
        "success",
        "Whether the collector's last run succeeded (1) or failed (0).",
        lambda st: 1.0 if st.success else 0.0,
    ),
    ("duration_seconds", "How long the collector's last run took.", lambda st: st.duration_seconds),
    (
        "last_run_timestamp_seconds",
        "When the collector's last run ended (Unix time); the values it serves are from then.",
        lambda st: st.last_run_timestamp,
    ),
]
_COUNTERS: list[tuple[str, str, Callable[[CollectorState], float]]] = [
    ("runs", "Runs of the collector since the exporter started.", lambda st: st.runs_total),
    (
        "failures",
        "Failed runs of the collector since the exporter started.",
        lambda st: st.failures_total,
    ),
]


class ExporterMetrics(PromCollector):
    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def collect(self) -> Iterator[Metric]:
        yield InfoMetricFamily(
            "warden_build",
            "Warden's version and the Python it runs on; always 1.",
            value={"version": __version__, "python_version": platform.python_version()},
        )
        families: list[
            tuple[GaugeMetricFamily | CounterMetricFamily, Callable[[CollectorState], float]]
        ] = [
            (GaugeMetricFamily(f"warden_collector_{suffix}", text, labels=["collector"]), get)
            for suffix, text, get in _GAUGES
        ] + [
            (CounterMetricFamily(f"warden_collector_{suffix}", text, labels=["collector"]), get)
            for suffix, text, get in _COUNTERS
        ]
        if self.scheduler.roots:
            yield GaugeMetricFamily(
                "warden_file_events_up",
                "1 while the kernel's file events reach the exporter; 0: changes to the "
                "project are seen only at the collectors' scheduled runs.",
                value=1.0 if self.scheduler.file_events_up else 0.0,
            )
        for name, st in self.scheduler.states.items():
            if st.success is None:
                continue  # not run yet: no value is better than a made-up one
            for family, get in families:
                family.add_metric([name], get(st))
        for family, _ in families:
            yield family
        for st in self.scheduler.states.values():
            yield from st.families
