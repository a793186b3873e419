"""The runtime's metrics, built fresh on every scrape from the store and the live agents.

Counters (deaths, finished swarms, spend) are counted from the store, which
survives restarts, so they never reset; every series an alert takes
`increase()` of exists at 0 from the start, so the first event is seen.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from responder.model import DEATH_REASONS, AgentState, Priority, SwarmState
from responder.runtime import Runtime

DURATION_BUCKETS = (30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)
SWARM_STATES = ("spawning", "running", "stuck")
AGENT_STATES = ("spawning", "running", "stuck", "waiting")
RESULTS = ("succeeded", "failed", "killed")


class RuntimeMetrics(Collector):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        rt = self.runtime
        types = sorted(rt.config.swarm_types)
        now = rt.clock()
        live = rt.live_agents()
        store = rt.store

        agents = GaugeMetricFamily(
            "warden_swarm_agents",
            "Agents of Warden's own swarms, by state.",
            labels=["type", "state"],
        )
        silence = GaugeMetricFamily(
            "warden_swarm_longest_silence_seconds",
            "Longest time since the last progress among running agents of the type; 0 if none.",
            labels=["type"],
        )
        spawning = GaugeMetricFamily(
            "warden_swarm_longest_spawning_seconds",
            "Longest time an agent of the type has been spawning without output; 0 if none.",
            labels=["type"],
        )
        running_swarms = store.swarms(SwarmState.RUNNING)
        swarm_type = {s.id: s.type for s in running_swarms}
        waiting = Counter(
            swarm_type.get(a.swarm_id, "") for a in store.agents(states=(AgentState.WAITING,))
        )
        by_state: Counter[tuple[str, str]] = Counter()
        longest_silence: dict[str, float] = {}
        longest_spawn: dict[str, float] = {}
        swarm_states: dict[str, set[str]] = {}
        for a in live:
            t = swarm_type.get(a.swarm_id, "")
            by_state[(t, str(a.state))] += 1
            swarm_states.setdefault(a.swarm_id, set()).add(str(a.state))
            if a.state == AgentState.RUNNING and a.last_progress_at:
                longest_silence[t] = max(longest_silence.get(t, 0.0), now - a.last_progress_at)
            if a.state == AgentState.SPAWNING and a.started_at:
                longest_spawn[t] = max(longest_spawn.get(t, 0.0), now - a.started_at)
        for t in types:
            for state in AGENT_STATES:
                n = waiting[t] if state == "waiting" else by_state[(t, state)]
                agents.add_metric([t, state], n)
            silence.add_metric([t], longest_silence.get(t, 0.0))
            spawning.add_metric([t], longest_spawn.get(t, 0.0))

        swarms = GaugeMetricFamily(
            "warden_swarms",
            "Running swarms by type, priority and state.",
            labels=["type", "priority", "state"],
        )
        counts: Counter[tuple[str, str, str]] = Counter()
        for s in running_swarms:
            states = swarm_states.get(s.id, set())
            state = (
                "stuck"
                if "stuck" in states
                else "spawning"
                if states and states <= {"spawning"}
                else "running"
            )
            counts[(s.type, s.priority, state)] += 1
        for t in types:
            for p in Priority:
                for state in SWARM_STATES:
                    swarms.add_metric([t, str(p), state], counts[(t, str(p), state)])

        deaths = CounterMetricFamily(
            "warden_swarm_agent_deaths",
            "Agents that died: crashed, killed from outside, or error.",
            labels=["type", "reason"],
        )
        death_counts = store.death_counts()
        for t in types:
            for reason in DEATH_REASONS:
                deaths.add_metric([t, reason], death_counts.get((t, reason), 0))

        finished = CounterMetricFamily(
            "warden_swarms_finished",
            "Swarms that ended, by type, size and result.",
            labels=["type", "size", "result"],
        )
        durations = HistogramMetricFamily(
            "warden_swarm_duration_seconds",
            "How long swarms ran, start to end.",
            labels=["type", "result"],
        )
        ended = store.ended_swarms()
        fin: Counter[tuple[str, str, str]] = Counter()
        dur: dict[tuple[str, str], list[float]] = {}
        for s in ended:
            fin[(s.type, str(s.size), s.state)] += 1
            dur.setdefault((s.type, s.state), []).append((s.ended_at or now) - s.created_at)
        keys = {(t, str(rt.config.swarm_types[t].size), r) for t in types for r in RESULTS}
        for key in sorted(keys | set(fin)):
            finished.add_metric(list(key), fin[key])
        for t in types:
            for r in RESULTS:
                values = dur.get((t, r), [])
                buckets = [(f"{b:g}", sum(1 for v in values if v <= b)) for b in DURATION_BUCKETS]
                buckets.append(("+Inf", len(values)))
                durations.add_metric([t, r], buckets, sum(values))

        period = rt.period()
        spend_now = store.spend(period.key)
        yield from (agents, silence, spawning, swarms, deaths, finished, durations)
        for name, text, value in (
            ("spend", "Spend in the current budget period, from the ledger.", spend_now),
            ("cap", "The current budget period's cap.", period.cap_usd),
            (
                "remaining",
                "What the current period's cap still allows.",
                max(0.0, period.cap_usd - spend_now),
            ),
        ):
            g = GaugeMetricFamily(f"warden_budget_{name}_usd", text, labels=["period"])
            g.add_metric([period.label], value)
            yield g
        total = CounterMetricFamily(
            "warden_ledger_spend_usd",
            "All spend by swarm type, from the ledger's per-run totals.",
            labels=["type"],
        )
        by_type = store.spend_by_type()
        for t in types:
            total.add_metric([t], by_type.get(t, 0.0))
        yield total
