"""Host collector (H7, H8, T8, W2): memory, filesystems, processes and load."""

from __future__ import annotations

import os
from collections.abc import Sequence

import psutil
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors import Collector
from warden.config import HostSettings


class HostCollector(Collector):
    name = "host"

    def __init__(self, settings: HostSettings) -> None:
        self.settings = settings
        self.interval = settings.interval

    def collect(self) -> Sequence[Metric]:
        mem = psutil.virtual_memory()
        size = GaugeMetricFamily(
            "warden_host_filesystem_size_bytes",
            "Size of the filesystem holding the watched path.",
            labels=["path"],
        )
        free = GaugeMetricFamily(
            "warden_host_filesystem_free_bytes",
            "Space free for unprivileged users on the filesystem holding the watched path "
            "(like node_filesystem_avail_bytes).",
            labels=["path"],
        )
        for path in self.settings.paths:
            st = os.statvfs(path)
            size.add_metric([str(path)], st.f_blocks * st.f_frsize)
            free.add_metric([str(path)], st.f_bavail * st.f_frsize)
        load1, load5, load15 = os.getloadavg()
        return [
            GaugeMetricFamily(
                "warden_host_memory_total_bytes", "Host memory in all.", value=mem.total
            ),
            GaugeMetricFamily(
                "warden_host_memory_available_bytes",
                "Host memory available for new work without swapping (MemAvailable).",
                value=mem.available,
            ),
            size,
            free,
            GaugeMetricFamily(
                "warden_host_processes", "Processes on the host.", value=len(psutil.pids())
            ),
            GaugeMetricFamily(
                "warden_host_cpus", "Logical CPUs of the host.", value=psutil.cpu_count() or 1
            ),
            GaugeMetricFamily("warden_host_load1", "1-minute load average.", value=load1),
            GaugeMetricFamily("warden_host_load5", "5-minute load average.", value=load5),
            GaugeMetricFamily("warden_host_load15", "15-minute load average.", value=load15),
        ]
