"""The responder's own metrics: its worker, its alert path, the learning and the
recovery commands, built fresh on every scrape from what the worker published
(the runtime's are `responder.observe.metrics`). Every family is a row of
`TABLE`, read from the service's published state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import psutil
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from responder.act.recovery import ESCALATIONS
from responder.act.recovery import OUTCOMES as RECOVERY_OUTCOMES
from responder.service.worker import Service
from warden.alertspecs import ALERTS
from warden.families import (
    Histogram,
    Row,
    Samples,
    build_all,
    counter,
    cumulative,
    gauge,
    one,
)

CRISIS_BUCKETS = (30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 14400.0)
KNOWN_ALERTS = frozenset(a.name for a in ALERTS)
REJECTIONS = ("unauthorized", "bad_body", "too_large")


def _episodes(s: Service) -> list[tuple[tuple[str], float]]:
    """Label values are Warden's own alert names; any other name an authenticated
    sender used is counted as "other", keeping them bounded."""
    counts = Counter({n: 0 for n in (*KNOWN_ALERTS, "other")})
    for name, n in s.view["episode_counts"].items():
        counts[name if name in KNOWN_ALERTS else "other"] += n
    return [((name,), counts[name]) for name in sorted(counts)]


def _crises(s: Service) -> list[tuple[tuple[()], list[tuple[str, float]], float]]:
    durations = s.view["crisis_durations"]
    within = [sum(1 for d in durations if d <= b) for b in CRISIS_BUCKETS]
    return [((), list(cumulative(CRISIS_BUCKETS, within, len(durations))), sum(durations))]


def _acting(s: Service) -> list[tuple[tuple[()], list[tuple[str, float]], float]]:
    latency = s.counts.latency
    buckets = cumulative(latency.buckets, latency.counts, latency.count)
    return [((), list(buckets), latency.total)]


def _recoveries(s: Service) -> dict[str, tuple[Counter[str], Counter[str]]]:
    """A5: per recovery command, how its runs ended and who had to follow (a swarm,
    a person)."""
    out = {}
    for name in sorted(s.config.responder.recoveries):
        by_outcome = Counter({o: 0 for o in RECOVERY_OUTCOMES})
        to = Counter({e: 0 for e in ESCALATIONS})
        for (n, outcome, state), k in s.view["recovery_counts"].items():
            if n != name:
                continue
            by_outcome[outcome] += k if outcome in by_outcome else 0
            to["swarm"] += k if state in ("escalated", "told") else 0
            to["person"] += k if state in ("told", "told_no_swarm") else 0
        out[name] = (by_outcome, to)
    return out


def _choices(s: Service, figure: str) -> list[tuple[tuple[str, str, str], float]]:
    """L1, L3, L5: what the learning knew of each choice when it last chose for a kind
    of work (the latest `learning.window` runs)."""
    latest, _ = s.learner.published
    return [
        ((pick.work, r.choice.type, str(r.choice.size)), float(getattr(r, figure)))
        for pick in latest
        for r in pick.records
    ]


def _hours(s: Service) -> list[tuple[tuple[str, str], float]]:
    """L4: improvement swarms by the local hour they started (24 label values at most);
    the L4 rules find the best hour from them."""
    out: list[tuple[tuple[str, str], float]] = []
    for hour, runs, won in s.learner.hours:
        out += [((f"{hour:02d}", "succeeded"), won), ((f"{hour:02d}", "failed"), runs - won)]
    return out


TABLE: tuple[Row[Service], ...] = (
    gauge(
        "warden_responder_heartbeat_timestamp_seconds",
        "When the responder's worker last completed a cycle.",
        (),
        lambda s: one(s.heartbeat),
    ),
    counter(
        "warden_responder_steps",
        "Worker steps begun: about one a webhook when they come slower than steps,"
        " fewer in a storm (a step takes the bodies that came while it was paced).",
        (),
        lambda s: one(s.steps),
    ),
    counter(
        "warden_responder_steps_failed",
        "Worker steps that did not end, by why: the database unreachable, or an error.",
        ("reason",),
        lambda s: [((r,), s.failed_steps[r]) for r in ("database_unavailable", "error")],
    ),
    gauge(
        "warden_mode",
        "1 for the current operating mode, else 0.",
        ("mode",),
        lambda s: [((m,), 1.0 if s.situation.mode == m else 0.0) for m in s.config.modes],
    ),
    gauge(
        "warden_escalation_level",
        "1 normal, 2 a warning fires, 3 a critical alert fires.",
        (),
        lambda s: one(s.situation.escalation),
    ),
    Histogram(
        "warden_crisis_duration_seconds", "Time from a crisis starting to its end.", (), _crises
    ),
    gauge(
        "warden_responder_pipeline_silent",
        "1 while the Watchdog has not arrived for 90 s: alerts may not reach Warden.",
        (),
        lambda s: one(1.0 if s.watchdog.silent() else 0.0),
    ),
    gauge(
        "warden_responder_watchdog_timestamp_seconds",
        "When the Watchdog alert last arrived; 0 if never.",
        (),
        lambda s: one(s.watchdog.at),
    ),
    counter(
        "warden_responder_alerts_received",
        "Alerts handled from webhook bodies, by status.",
        ("status",),
        lambda s: [((st,), s.counts.received[st]) for st in ("firing", "resolved")],
    ),
    counter(
        "warden_responder_alerts_deduplicated",
        "Alerts that repeated a firing episode already handled.",
        (),
        lambda s: one(s.counts.duplicates),
    ),
    counter(
        "warden_responder_worker_cpu_seconds",
        "CPU time of the worker, the thread that owns the state: it is saturated when"
        " this grows at one second a second (accepting webhooks is the receiver's, a"
        " process apart).",
        (),
        lambda s: one(s.worker_cpu),
    ),
    counter(
        "warden_responder_receiver_cpu_seconds",
        "CPU time of the receiver, the process in front that accepts the webhooks and"
        " forwards the rest (process_cpu_seconds_total is this process's alone).",
        (),
        lambda s: _cpu_of(s.receiver),
    ),
    counter(
        "warden_responder_episode_takeovers",
        "Firing episodes this responder acted on after their claimer's lease lapsed.",
        (),
        lambda s: one(s.claims.taken_over),
    ),
    counter(
        "warden_responder_webhooks_rejected",
        "Webhook requests refused, by reason.",
        ("reason",),
        lambda s: [((r,), s.rejected.get(r, 0)) for r in REJECTIONS],
    ),
    counter(
        "warden_responder_webhook_copies",
        "Webhook bodies accepted and not stored, a copy of each still waiting: the"
        " copies Alertmanager sends every responder of a fleet are stored once.",
        (),
        lambda s: one(s.copies),
    ),
    counter(
        "warden_responder_actions",
        "Actions taken on alerts, by action and outcome.",
        ("action", "outcome"),
        lambda s: [
            (key, s.counts.actions[key])
            for key in sorted({("spawn", "done"), ("spawn", "refused"), *s.counts.actions})
        ],
    ),
    counter(
        "warden_responder_dead_letters",
        "Alerts whose handling raised, set aside with their error (warden status).",
        (),
        lambda s: one(s.view["dead_letter_count"]),
    ),
    counter(
        "warden_responder_alert_episodes",
        "Firing episodes (fingerprint + startsAt), by alert.",
        ("alertname",),
        _episodes,
    ),
    Histogram(
        "warden_responder_action_duration_seconds",
        "How long acting on one firing episode took.",
        (),
        _acting,
    ),
    counter(
        "warden_recoveries",
        "Recovery commands run for firing alerts, by how they ended.",
        ("recovery", "outcome"),
        lambda s: [
            ((name, o), outcomes[o])
            for name, (outcomes, _) in _recoveries(s).items()
            for o in RECOVERY_OUTCOMES
        ],
    ),
    counter(
        "warden_recovery_escalations",
        "Recoveries that did not set the alert right: the swarms followed, then a person.",
        ("recovery", "to"),
        lambda s: [
            ((name, e), to[e]) for name, (_, to) in _recoveries(s).items() for e in ESCALATIONS
        ],
    ),
    gauge(
        "warden_learning_choice_runs",
        "Runs of the choice that count (the latest learning.window), at the last choice.",
        ("work", "type", "size"),
        lambda s: _choices(s, "runs"),
    ),
    gauge(
        "warden_learning_choice_successes",
        "Of those runs, how many succeeded.",
        ("work", "type", "size"),
        lambda s: _choices(s, "succeeded"),
    ),
    gauge(
        "warden_learning_choice_spend_usd",
        "What those runs cost.",
        ("work", "type", "size"),
        lambda s: _choices(s, "spend_usd"),
    ),
    counter(
        "warden_learning_picks",
        "Swarm types and sizes chosen, by kind of work and why (off, untried, best, explore).",
        ("work", "reason"),
        lambda s: [(key, n) for key, n in sorted(s.learner.published[1])],
    ),
    gauge(
        "warden_learning_improvement_swarms",
        "Improvement swarms that succeeded or failed (all the store holds), by the local "
        "hour they started.",
        ("hour", "result"),
        _hours,
    ),
)


def _cpu_of(pid: int | None) -> Samples:
    """A process's CPU seconds from /proc; none before it starts or after it ended."""
    if pid is None:
        return []
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return []
    return one(times.user + times.system)


class ResponderMetrics(Collector):
    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        yield from build_all(TABLE, self.service)
