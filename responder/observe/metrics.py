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

from responder.act.runtime import Runtime
from responder.act.snapshot import DURATION_BUCKETS
from responder.model import DEATH_REASONS, AgentState, EndReason, Priority
from responder.rules.admission import PATHS, Refusal
from responder.rules.failures import FailureClass

SWARM_STATES = ("spawning", "running", "stuck")
AGENT_STATES = ("spawning", "running", "stuck", "waiting")
RESULTS = ("succeeded", "failed", "killed")


class RuntimeMetrics(Collector):
    """Reads the runtime's published snapshot only: a scrape never waits on the
    owner (a kill in progress, a write) and never reads the store."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        rt = self.runtime
        snap = rt.snapshot
        types = sorted(rt.config.swarm_types)
        now = snap.at

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
        swarm_type = {s.id: s.type for s in snap.running}
        by_state: Counter[tuple[str, str]] = Counter()
        longest_silence: dict[str, float] = {}
        longest_spawn: dict[str, float] = {}
        swarm_states: dict[str, set[str]] = {}
        for a in snap.live:
            t = swarm_type.get(a.swarm_id, "")
            by_state[(t, str(a.state))] += 1
            swarm_states.setdefault(a.swarm_id, set()).add(str(a.state))
            if a.state == AgentState.RUNNING and a.last_progress_at:
                longest_silence[t] = max(longest_silence.get(t, 0.0), now - a.last_progress_at)
            if a.state == AgentState.SPAWNING and a.started_at:
                longest_spawn[t] = max(longest_spawn.get(t, 0.0), now - a.started_at)
        for t in types:
            for state in AGENT_STATES:
                n = snap.waiting.get(t, 0) if state == "waiting" else by_state[(t, state)]
                agents.add_metric([t, state], n)
            silence.add_metric([t], longest_silence.get(t, 0.0))
            spawning.add_metric([t], longest_spawn.get(t, 0.0))

        swarms = GaugeMetricFamily(
            "warden_swarms",
            "Running swarms by type, priority and state.",
            labels=["type", "priority", "state"],
        )
        counts: Counter[tuple[str, str, str]] = Counter()
        for s in snap.running:
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

        history = snap.history
        deaths = CounterMetricFamily(
            "warden_swarm_agent_deaths",
            "Agents that died: crashed, killed from outside, or error.",
            labels=["type", "reason"],
        )
        for t in types:
            for reason in DEATH_REASONS:
                deaths.add_metric([t, reason], history.deaths.get((t, reason), 0))

        ended = CounterMetricFamily(
            "warden_swarm_agents_ended_by_warden",
            "Agents Warden itself killed, by why (stuck, budget, mode, build, timeout, ...).",
            labels=["type", "why"],
        )
        stuck = CounterMetricFamily(
            "warden_swarm_agents_stuck",
            "Agents Warden found stuck and replaced: silent (W3) or never started (W4).",
            labels=["type", "why"],
        )
        for t in types:
            for why in EndReason:
                n = history.ended_by_warden.get((t, str(why)), 0)
                ended.add_metric([t, str(why)], n)
                if why.stuck:
                    stuck.add_metric([t, why.stuck], n)

        failures = CounterMetricFamily(
            "warden_swarm_agent_failures",
            "Agent runs that failed, by failure class (permanent ones are not retried).",
            labels=["type", "class"],
        )
        paused = GaugeMetricFamily(
            "warden_swarm_type_paused",
            "1 while the circuit breaker keeps the type paused (warden swarm resume lifts it).",
            labels=["type"],
        )
        refused = CounterMetricFamily(
            "warden_swarm_cost_reports_refused",
            "Agent runs that reported a cost that is not one (NaN, infinite, negative, "
            "not a number): charged their cap, as runs that reported none.",
            labels=["type"],
        )
        for t in types:
            for cls in FailureClass:
                failures.add_metric([t, str(cls)], history.failures.get((t, str(cls)), 0))
            paused.add_metric([t], 1.0 if t in snap.facts.paused else 0.0)
            refused.add_metric([t], history.refused_costs.get(t, 0))

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
        fin: Counter[tuple[str, str, str]] = Counter()
        dur: dict[tuple[str, str], tuple[list[int], int, float]] = {}
        for (t, size, result), (n, total, le) in history.finished.items():
            fin[(t, str(size), result)] += n
            old = dur.get((t, result), ([0] * len(DURATION_BUCKETS), 0, 0.0))
            dur[(t, result)] = (
                [a + b for a, b in zip(old[0], le, strict=True)],
                old[1] + n,
                old[2] + total,
            )
        keys = {(t, str(rt.config.swarm_types[t].size), r) for t in types for r in RESULTS}
        for key in sorted(keys | set(fin)):
            finished.add_metric(list(key), fin[key])
        for t in types:
            for r in RESULTS:
                le, n, total = dur.get((t, r), ([0] * len(DURATION_BUCKETS), 0, 0.0))
                buckets = [(f"{b:g}", v) for b, v in zip(DURATION_BUCKETS, le, strict=True)]
                buckets.append(("+Inf", n))
                durations.add_metric([t, r], buckets, total)

        facts = snap.facts
        period = facts.period
        yield from (agents, silence, spawning, swarms, deaths, ended, stuck, failures, paused)
        yield refused
        yield from (finished, durations)
        for name, text, value in (
            ("spend", "Spend in the current budget period, from the ledger.", facts.period_spend),
            ("cap", "The current budget period's cap.", period.cap_usd),
            (
                "remaining",
                "What the current period's cap still allows.",
                max(0.0, period.cap_usd - facts.period_spend),
            ),
        ):
            g = GaugeMetricFamily(f"warden_budget_{name}_usd", text, labels=["period"])
            g.add_metric([period.label], value)
            yield g
        ceiling_spend = GaugeMetricFamily(
            "warden_budget_ceiling_spend_usd",
            "Spend of every period in the current calendar day, week or month (B5).",
            labels=["ceiling"],
        )
        ceiling_cap = GaugeMetricFamily(
            "warden_budget_ceiling_usd",
            "The configured ceiling over a calendar day, week or month.",
            labels=["ceiling"],
        )
        for c in facts.ceilings:
            ceiling_spend.add_metric([c.name], c.spend_usd)
            ceiling_cap.add_metric([c.name], c.cap_usd)
        yield ceiling_spend
        yield ceiling_cap
        yield GaugeMetricFamily(
            "warden_budget_tier",
            "The budget tier in force: 0 none, 1 notify, 2 kill_non_critical, "
            "3 critical_only, 4 stop (the highest of the period's and the ceilings').",
            value=facts.tier,
        )
        ledger = CounterMetricFamily(
            "warden_ledger_spend_usd",
            "All spend by swarm type, from the ledger's per-run totals.",
            labels=["type"],
        )
        for t in types:
            ledger.add_metric([t], history.spend_by_type.get(t, 0.0))
        yield ledger
        refusals = CounterMetricFamily(
            "warden_admission_refusals",
            "Work the admission rule refused to start or stopped, by who asked and why.",
            labels=["path", "reason"],
        )
        for path in PATHS:
            for reason in Refusal:
                refusals.add_metric([path, str(reason)], snap.refusals.get((path, str(reason)), 0))
        yield refusals
