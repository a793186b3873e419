"""The runtime's metrics, built fresh on every scrape from its published snapshot.

Counters (deaths, finished swarms, spend) are counted from the store, which
survives restarts, so they never reset; every series an alert takes
`increase()` of exists at 0 from the start, so the first event is seen. One
scrape reads the snapshot once (`RuntimeView`), then every family is a row of
`TABLE`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from responder.act.runtime import Runtime
from responder.act.snapshot import DURATION_BUCKETS, VERIFY_BUCKETS, History, Snapshot
from responder.model import DEATH_REASONS, AgentState, EndReason, Outcome, Priority
from responder.rules.admission import PATHS, Facts, Refusal
from responder.rules.failures import FailureClass
from warden.families import Histogram, Row, build_all, counter, cumulative, gauge, one

SWARM_STATES = ("spawning", "running", "stuck")
AGENT_STATES = ("spawning", "running", "stuck", "waiting")
RESULTS = ("succeeded", "failed", "killed")


@dataclass
class RuntimeView:
    """One scrape's reading of the snapshot: what several families count alike."""

    snap: Snapshot
    types: list[str]
    sizes: dict[str, int]
    agents: Counter[tuple[str, str]] = field(default_factory=Counter)
    silence: dict[str, float] = field(default_factory=dict)
    spawning: dict[str, float] = field(default_factory=dict)
    swarms: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    finished: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    durations: dict[tuple[str, str], tuple[list[int], int, float]] = field(default_factory=dict)

    @property
    def history(self) -> History:
        return self.snap.history

    @property
    def facts(self) -> Facts:
        return self.snap.facts

    @classmethod
    def of(cls, runtime: Runtime) -> RuntimeView:
        snap = runtime.snapshot
        types = sorted(runtime.config.swarm_types)
        view = cls(snap, types, {t: runtime.config.swarm_types[t].size for t in types})
        view._read_agents()
        view._read_finished()
        return view

    def _read_agents(self) -> None:
        snap, now = self.snap, self.snap.at
        swarm_type = {s.id: s.type for s in snap.running}
        states: dict[str, set[str]] = {}
        for a in snap.live:
            t = swarm_type.get(a.swarm_id, "")
            self.agents[(t, str(a.state))] += 1
            states.setdefault(a.swarm_id, set()).add(str(a.state))
            if a.state == AgentState.RUNNING and a.last_progress_at:
                self.silence[t] = max(self.silence.get(t, 0.0), now - a.last_progress_at)
            if a.state == AgentState.SPAWNING and a.started_at:
                self.spawning[t] = max(self.spawning.get(t, 0.0), now - a.started_at)
        for t, n in snap.waiting.items():
            self.agents[(t, "waiting")] = n
        for s in snap.running:
            seen = states.get(s.id, set())
            stuck, spawning = "stuck" in seen, bool(seen) and seen <= {"spawning"}
            state = "stuck" if stuck else "spawning" if spawning else "running"
            self.swarms[(s.type, s.priority, state)] += 1

    def _read_finished(self) -> None:
        for (t, size, result), (n, total, le) in self.history.finished.items():
            self.finished[(t, str(size), result)] += n
            old = self.durations.get((t, result), ([0] * len(DURATION_BUCKETS), 0, 0.0))
            within = [a + b for a, b in zip(old[0], le, strict=True)]
            self.durations[(t, result)] = (within, old[1] + n, old[2] + total)


def _per_type(view: RuntimeView, values: dict[str, float]) -> list[tuple[tuple[str], float]]:
    return [((t,), values.get(t, 0.0)) for t in view.types]


def _finished_keys(v: RuntimeView) -> list[tuple[str, str, str]]:
    """Every type at its configured size and every result, plus the sizes that ran."""
    keys = {(t, str(v.sizes[t]), r) for t in v.types for r in RESULTS}
    return sorted(keys | set(v.finished))


def _durations(v: RuntimeView) -> list[tuple[tuple[str, str], list[tuple[str, float]], float]]:
    out = []
    for t in v.types:
        for r in RESULTS:
            le, n, total = v.durations.get((t, r), ([0] * len(DURATION_BUCKETS), 0, 0.0))
            out.append(((t, r), list(cumulative(DURATION_BUCKETS, le, n)), total))
    return out


def _verifications(v: RuntimeView) -> list[tuple[tuple[str], list[tuple[str, float]], float]]:
    out = []
    for t in v.types:
        n, total, le = v.history.verified.get(t, (0, 0.0, [0] * len(VERIFY_BUCKETS)))
        out.append(((t,), list(cumulative(VERIFY_BUCKETS, le, n)), total))
    return out


def _budget(name: str, help_: str, figure: Callable[[Facts], float]) -> Row[RuntimeView]:
    """A figure of the current budget period, labelled with the period."""
    return gauge(
        f"warden_budget_{name}_usd",
        help_,
        ("period",),
        lambda v: [((v.facts.period.label,), figure(v.facts))],
    )


TABLE: tuple[Row[RuntimeView], ...] = (
    gauge(
        "warden_swarm_agents",
        "Agents of Warden's own swarms, by state.",
        ("type", "state"),
        lambda v: [((t, s), v.agents[(t, s)]) for t in v.types for s in AGENT_STATES],
    ),
    gauge(
        "warden_swarm_longest_silence_seconds",
        "Longest time since the last progress among running agents of the type; 0 if none.",
        ("type",),
        lambda v: _per_type(v, v.silence),
    ),
    gauge(
        "warden_swarm_longest_spawning_seconds",
        "Longest time an agent of the type has been spawning without output; 0 if none.",
        ("type",),
        lambda v: _per_type(v, v.spawning),
    ),
    gauge(
        "warden_swarms",
        "Running swarms by type, priority and state.",
        ("type", "priority", "state"),
        lambda v: [
            ((t, str(p), s), v.swarms[(t, str(p), s)])
            for t in v.types
            for p in Priority
            for s in SWARM_STATES
        ],
    ),
    counter(
        "warden_swarm_agent_deaths",
        "Agents that died: crashed, killed from outside, or error.",
        ("type", "reason"),
        lambda v: [
            ((t, r), v.history.deaths.get((t, r), 0)) for t in v.types for r in DEATH_REASONS
        ],
    ),
    counter(
        "warden_swarm_agents_ended_by_warden",
        "Agents Warden itself killed, by why (stuck, budget, mode, build, timeout, ...).",
        ("type", "why"),
        lambda v: [
            ((t, str(w)), v.history.ended_by_warden.get((t, str(w)), 0))
            for t in v.types
            for w in EndReason
        ],
    ),
    counter(
        "warden_swarm_agents_stuck",
        "Agents Warden found stuck and replaced: silent (W3) or never started (W4).",
        ("type", "why"),
        lambda v: [
            ((t, w.stuck), v.history.ended_by_warden.get((t, str(w)), 0))
            for t in v.types
            for w in EndReason
            if w.stuck
        ],
    ),
    counter(
        "warden_swarm_agent_failures",
        "Agent runs that failed, by failure class (permanent ones are not retried).",
        ("type", "class"),
        lambda v: [
            ((t, str(c)), v.history.failures.get((t, str(c)), 0))
            for t in v.types
            for c in FailureClass
        ],
    ),
    gauge(
        "warden_swarm_type_paused",
        "1 while the circuit breaker keeps the type paused (warden swarm resume lifts it).",
        ("type",),
        lambda v: [((t,), 1.0 if t in v.facts.paused else 0.0) for t in v.types],
    ),
    counter(
        "warden_swarm_cost_reports_refused",
        "Agent runs that reported a cost that is not one (NaN, infinite, negative, "
        "not a number): charged their cap, as runs that reported none.",
        ("type",),
        lambda v: [((t,), v.history.refused_costs.get(t, 0)) for t in v.types],
    ),
    counter(
        "warden_swarms_finished",
        "Swarms that ended, by type, size and result.",
        ("type", "size", "result"),
        lambda v: [(key, v.finished[key]) for key in _finished_keys(v)],
    ),
    Histogram(
        "warden_swarm_duration_seconds",
        "How long swarms ran, start to end.",
        ("type", "result"),
        _durations,
    ),
    counter(
        "warden_swarm_outcomes",
        "Swarms whose work the project's checks judged, by what they said "
        "(verified, no_change, regressed, unverified, conflict).",
        ("type", "outcome"),
        lambda v: [
            ((t, str(o)), v.history.outcomes.get((t, str(o)), 0)) for t in v.types for o in Outcome
        ],
    ),
    Histogram(
        "warden_swarm_verification_seconds",
        "How long judging a swarm's work took: its commit, the checks (and the base's, "
        "once per commit), and its landing.",
        ("type",),
        _verifications,
    ),
    _budget(
        "spend", "Spend in the current budget period, from the ledger.", lambda f: f.period_spend
    ),
    _budget("cap", "The current budget period's cap.", lambda f: f.period.cap_usd),
    _budget(
        "remaining",
        "What the current period's cap still allows.",
        lambda f: max(0.0, f.period.cap_usd - f.period_spend),
    ),
    gauge(
        "warden_budget_ceiling_spend_usd",
        "Spend of every period in the current calendar day, week or month (B5).",
        ("ceiling",),
        lambda v: [((c.name,), c.spend_usd) for c in v.facts.ceilings],
    ),
    gauge(
        "warden_budget_ceiling_usd",
        "The configured ceiling over a calendar day, week or month.",
        ("ceiling",),
        lambda v: [((c.name,), c.cap_usd) for c in v.facts.ceilings],
    ),
    gauge(
        "warden_budget_tier",
        "The budget tier in force: 0 none, 1 notify, 2 kill_non_critical, "
        "3 critical_only, 4 stop (the highest of the period's and the ceilings').",
        (),
        lambda v: one(v.facts.tier),
    ),
    counter(
        "warden_ledger_spend_usd",
        "All spend by swarm type, from the ledger's per-run totals.",
        ("type",),
        lambda v: _per_type(v, v.history.spend_by_type),
    ),
    counter(
        "warden_admission_refusals",
        "Work the admission rule refused to start or stopped, by who asked and why.",
        ("path", "reason"),
        lambda v: [
            ((p, str(r)), v.snap.refusals.get((p, str(r)), 0)) for p in PATHS for r in Refusal
        ],
    ),
)


class RuntimeMetrics(Collector):
    """Reads the runtime's published snapshot only: a scrape never waits on the
    owner (a kill in progress, a write) and never reads the store."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        yield from build_all(TABLE, RuntimeView.of(self.runtime))
