"""Agents collector (H6, W4): every coding-agent process on the host.

An agent is a process whose name or command line matches a configured
pattern and whose parent does not match the same pattern (Claude Code's own
helper processes are part of their agent, not agents of their own). An
orphan is an agent whose parent is gone: it was re-parented to PID 1. These
are the processes that eat memory and money after a supervisor dies.

CPU is a true counter: the CPU time of live agents plus the last CPU time
seen of agents that have exited, the way process-exporter keeps it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter.collectors import Collector
from exporter.proctable import ProcessTable
from warden.config import AgentsSettings

STATES = ("running", "sleeping", "stopped", "zombie")


class AgentsCollector(Collector):
    name = "agents"

    def __init__(self, settings: AgentsSettings) -> None:
        self.settings = settings
        self.interval = settings.interval
        self._own_pid = os.getpid()
        self.table = ProcessTable()
        self._cpu_seen: dict[str, dict[tuple[int, int], float]] = {
            p.name: {} for p in settings.patterns
        }
        self._cpu_gone: dict[str, float] = {p.name: 0.0 for p in settings.patterns}

    def collect(self) -> Sequence[Metric]:
        procs = {p.pid: p for p in self.table.scan(skip=self._own_pid)}
        count = GaugeMetricFamily(
            "warden_agents", "Agent processes on the host, by state.", labels=["agent", "state"]
        )
        orphans = GaugeMetricFamily(
            "warden_agents_orphans",
            "Agent processes whose parent is gone (re-parented to PID 1).",
            labels=["agent"],
        )
        memory = GaugeMetricFamily(
            "warden_agents_memory_bytes",
            "Resident memory of the agent processes, summed.",
            labels=["agent"],
        )
        cpu = CounterMetricFamily(
            "warden_agents_cpu_seconds",
            "CPU time of agent processes, those that exited included.",
            labels=["agent"],
        )
        for pattern in self.settings.patterns:
            match = pattern.match.search
            matched = {pid for pid, p in procs.items() if match(p.text)}
            by_state = dict.fromkeys(STATES, 0)
            n_orphans = 0
            rss = 0
            cpu_now: dict[tuple[int, int], float] = {}
            for pid in matched:
                proc = procs[pid]
                if proc.ppid in matched:
                    continue
                by_state[proc.state] += 1
                if proc.ppid in (0, 1):
                    n_orphans += 1
                rss += proc.rss_bytes
                cpu_now[(pid, proc.start)] = proc.cpu_seconds
            seen = self._cpu_seen[pattern.name]
            self._cpu_gone[pattern.name] += sum(v for k, v in seen.items() if k not in cpu_now)
            self._cpu_seen[pattern.name] = cpu_now
            for state, n in by_state.items():
                count.add_metric([pattern.name, state], n)
            orphans.add_metric([pattern.name], n_orphans)
            memory.add_metric([pattern.name], rss)
            # Rounded to the kernel's tick (10 ms): float sums in another order
            # must not make the counter step back by 1e-16.
            total = self._cpu_gone[pattern.name] + math.fsum(cpu_now.values())
            cpu.add_metric([pattern.name], round(total, 3))
        return [count, orphans, memory, cpu]
