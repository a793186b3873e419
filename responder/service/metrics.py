"""The responder's own metrics: its worker, its alert path, the learning and the
recovery commands, built fresh on every scrape from what the worker published
(the runtime's are `responder.observe.metrics`)."""

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

from responder.act.recovery import ESCALATIONS
from responder.act.recovery import OUTCOMES as RECOVERY_OUTCOMES
from responder.decide.learning import Pick
from responder.service.worker import Service
from warden.alertspecs import ALERTS
from warden.config import Recovery

CRISIS_BUCKETS = (30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 14400.0)


class ResponderMetrics(Collector):
    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        s = self.service
        yield GaugeMetricFamily(
            "warden_responder_heartbeat_timestamp_seconds",
            "When the responder's worker last completed a cycle.",
            value=s.heartbeat,
        )
        mode = GaugeMetricFamily(
            "warden_mode", "1 for the current operating mode, else 0.", labels=["mode"]
        )
        for m in s.config.modes:
            mode.add_metric([m], 1.0 if s.situation.mode == m else 0.0)
        yield mode
        yield GaugeMetricFamily(
            "warden_escalation_level",
            "1 normal, 2 a warning fires, 3 a critical alert fires.",
            value=s.situation.escalation,
        )
        durations = s.view["crisis_durations"]
        crisis = HistogramMetricFamily(
            "warden_crisis_duration_seconds", "Time from a crisis starting to its end."
        )
        crisis.add_metric(
            [],
            [(f"{b:g}", sum(1 for d in durations if d <= b)) for b in CRISIS_BUCKETS]
            + [("+Inf", len(durations))],
            sum(durations),
        )
        yield crisis
        yield GaugeMetricFamily(
            "warden_responder_pipeline_silent",
            "1 while the Watchdog has not arrived for 90 s: alerts may not reach Warden.",
            value=1.0 if s.watchdog.silent() else 0.0,
        )
        yield GaugeMetricFamily(
            "warden_responder_watchdog_timestamp_seconds",
            "When the Watchdog alert last arrived; 0 if never.",
            value=s.watchdog.at,
        )
        received = CounterMetricFamily(
            "warden_responder_alerts_received",
            "Alerts handled from webhook bodies, by status.",
            labels=["status"],
        )
        for st in ("firing", "resolved"):
            received.add_metric([st], s.counts.received[st])
        yield received
        yield CounterMetricFamily(
            "warden_responder_alerts_deduplicated",
            "Alerts that repeated a firing episode already handled.",
            value=s.counts.duplicates,
        )
        yield CounterMetricFamily(
            "warden_responder_episode_takeovers",
            "Firing episodes this responder acted on after their claimer's lease lapsed.",
            value=s.claims.taken_over,
        )
        rejected = CounterMetricFamily(
            "warden_responder_webhooks_rejected",
            "Webhook requests refused, by reason.",
            labels=["reason"],
        )
        for reason in ("unauthorized", "bad_body", "too_large"):
            rejected.add_metric([reason], s.rejected.get(reason, 0))
        yield rejected
        actions = CounterMetricFamily(
            "warden_responder_actions",
            "Actions taken on alerts, by action and outcome.",
            labels=["action", "outcome"],
        )
        for key in sorted({("spawn", "done"), ("spawn", "refused"), *s.counts.actions}):
            actions.add_metric(list(key), s.counts.actions[key])
        yield actions
        yield CounterMetricFamily(
            "warden_responder_dead_letters",
            "Alerts whose handling raised, set aside with their error (warden status).",
            value=s.view["dead_letter_count"],
        )
        episodes = CounterMetricFamily(
            "warden_responder_alert_episodes",
            "Firing episodes (fingerprint + startsAt), by alert.",
            labels=["alertname"],
        )
        # Label values are Warden's own alert names; any other name an
        # authenticated sender used is counted as "other", keeping them bounded.
        known = {a.name for a in ALERTS}
        counts = Counter({n if n in known else "other": 0 for n in (*known, "other")})
        for name, n in s.view["episode_counts"].items():
            counts[name if name in known else "other"] += n
        for name in sorted(counts):
            episodes.add_metric([name], counts[name])
        yield episodes
        latency = s.counts.latency
        acting = HistogramMetricFamily(
            "warden_responder_action_duration_seconds",
            "How long acting on one firing episode took.",
        )
        acting.add_metric(
            [],
            [(f"{b:g}", n) for b, n in zip(latency.buckets, latency.counts, strict=True)]
            + [("+Inf", latency.count)],
            latency.total,
        )
        yield acting
        yield from _recovery_metrics(s.config.responder.recoveries, s.view["recovery_counts"])
        yield from _learning_metrics(*s.learner.published)
        yield from _hour_metrics(s.learner.hours)


def _learning_metrics(
    latest: tuple[Pick, ...], picks: tuple[tuple[tuple[str, str], int], ...]
) -> Iterator[Metric]:
    """L1, L3, L5: what the learning knew of each choice when it last chose for a kind of
    work (the latest `learning.window` runs), and why it chose what it did."""
    labels = ["work", "type", "size"]
    runs = GaugeMetricFamily(
        "warden_learning_choice_runs",
        "Runs of the choice that count (the latest learning.window), at the last choice.",
        labels=labels,
    )
    succeeded = GaugeMetricFamily(
        "warden_learning_choice_successes",
        "Of those runs, how many succeeded.",
        labels=labels,
    )
    spend = GaugeMetricFamily(
        "warden_learning_choice_spend_usd", "What those runs cost.", labels=labels
    )
    for pick in latest:
        for r in pick.records:
            key = [pick.work, r.choice.type, str(r.choice.size)]
            runs.add_metric(key, r.runs)
            succeeded.add_metric(key, r.succeeded)
            spend.add_metric(key, r.spend_usd)
    chosen = CounterMetricFamily(
        "warden_learning_picks",
        "Swarm types and sizes chosen, by kind of work and why (off, untried, best, explore).",
        labels=["work", "reason"],
    )
    for (work, reason), n in sorted(picks):
        chosen.add_metric([work, reason], n)
    yield from (runs, succeeded, spend, chosen)


def _hour_metrics(hours: tuple[tuple[int, int, int], ...]) -> Iterator[Metric]:
    """L4: improvement swarms by the local hour they started (24 label values at most);
    the L4 rules find the best hour from them."""
    swarms = GaugeMetricFamily(
        "warden_learning_improvement_swarms",
        "Improvement swarms that succeeded or failed (all the store holds), by the local "
        "hour they started.",
        labels=["hour", "result"],
    )
    for hour, runs, won in hours:
        swarms.add_metric([f"{hour:02d}", "succeeded"], won)
        swarms.add_metric([f"{hour:02d}", "failed"], runs - won)
    yield swarms


def _recovery_metrics(
    recoveries: dict[str, Recovery], counts: dict[tuple[str, str, str], int]
) -> Iterator[Metric]:
    """A5: how recovery commands ended, and how often a swarm or a person had to follow."""
    runs = CounterMetricFamily(
        "warden_recoveries",
        "Recovery commands run for firing alerts, by how they ended.",
        labels=["recovery", "outcome"],
    )
    escalations = CounterMetricFamily(
        "warden_recovery_escalations",
        "Recoveries that did not set the alert right: the swarms followed, then a person.",
        labels=["recovery", "to"],
    )
    for name in sorted(recoveries):
        by_outcome = Counter({o: 0 for o in RECOVERY_OUTCOMES})
        to = Counter({e: 0 for e in ESCALATIONS})
        for (n, outcome, state), k in counts.items():
            if n != name:
                continue
            by_outcome[outcome] += k if outcome in by_outcome else 0
            to["swarm"] += k if state in ("escalated", "told") else 0
            to["person"] += k if state in ("told", "told_no_swarm") else 0
        for outcome in RECOVERY_OUTCOMES:
            runs.add_metric([name, outcome], by_outcome[outcome])
        for e in ESCALATIONS:
            escalations.add_metric([name, e], to[e])
    yield runs
    yield escalations
