"""J1, the wake cycle (seed Q4): the quick health check at every heartbeat, its
decision with the figures it was made on, and while problems fire the watch of
their ladders (responder/jobs/ladders.py: more swarms, a bigger one, a person).

J1's own state (its next wake, what it woke for, the progress it watches) is
held here, on the worker; the state file reads it there. What J1 needs from
the network (PromQL figures; the exporter's build while the Watchdog is
silent) is read off the worker before the decision (`scheduled`).
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from responder.act.apart import RETRIED
from responder.act.notify import Notifier
from responder.act.recovery import Recoveries
from responder.act.runtime import Runtime
from responder.decide import wake
from responder.decide.learning import Learner
from responder.decide.situation import CurrentSituation
from responder.intake.inbox import AlertPath
from responder.intake.watchdog import Watchdog
from responder.intake.webhook import Alert
from responder.jobs.ladders import Ladders
from responder.jobs.memory import MemoryWatch
from responder.model import Priority
from responder.rules.policy import Policy
from warden.auth import Credentials, fetch
from warden.config import Config

log = logging.getLogger(__name__)
CRISIS_TOO_LONG_SECONDS = 1800.0
DIRECT_FINGERPRINT = "00000000000d1ec7"
"""The episode fingerprint of BuildFailing raised from the exporter directly."""
PROMQL = {
    "build_success": "max(warden_build_success)",
    "errors_per_minute": "sum(rate(warden_log_error_lines_total[5m])) * 60",
    "type_errors": "max(warden_typecheck_errors)",
}


class WakeCycle:
    def __init__(
        self,
        config: Config,
        runtime: Runtime,
        situation: CurrentSituation,
        learner: Learner,
        policies: Mapping[str, Policy],
        recoveries: Recoveries,
        notifier: Notifier,
        alerts: AlertPath,
        watchdog: Watchdog,
        on_owner: Callable[[Callable[[], None]], None],
        scrape: Credentials | None,
        prometheus: Credentials | None,
        compress_context: Callable[[], None],
    ) -> None:
        """`alerts`: where BuildFailing read from the exporter directly goes (X5);
        `on_owner`: runs the decision on the worker; `scrape`, `prometheus`: what the
        exporter and Prometheus are shown; `compress_context`: J7, which a maintenance
        window runs at once."""
        self.config = config
        self.runtime = runtime
        self.clock = runtime.clock
        self.situation = situation
        self.learner = learner
        self.policies = policies
        self.recoveries = recoveries
        self.notifier = notifier
        self.alerts = alerts
        self.watchdog = watchdog
        self.on_owner = on_owner
        self.scrape = scrape
        self.prometheus = prometheus
        self.compress_context = compress_context
        self.notified: set[str] = set()
        self.next_wake: tuple[str, float] | None = None
        """(the state file's event name, when) of J1's next decision."""
        self.woke_for: tuple[str, int] | None = None
        """(mode, escalation) of the last decision: a change is decided on at once."""
        self.full_check: float | None = None
        self.maintained: str | None = None
        """The maintenance window (its budget period) whose scheduled tasks ran."""
        self.ladders = Ladders(config, runtime, learner, policies, notifier)
        self.memory = MemoryWatch(runtime, notifier)
        self.watching: float | None = None
        """When J1 last looked at the firing problems' ladders (None: none fire)."""
        self.refused_work = 0
        """Swarms whose work the checks refused (counted when last looked)."""
        self.refused_since = self.clock()

    def scheduled(self, force: bool = False) -> None:
        """The scheduler's J1: the network first, off the worker; then the decision on
        it, on the worker (`force`: whatever the last decision's wake)."""
        prom = {key: self._promql(q) for key, q in PROMQL.items()}
        build = self.read_build() if self.watchdog.silent() else None
        self.on_owner(lambda: self.run(prom, build, force))

    def forced(self) -> None:
        self.scheduled(force=True)

    def next_event(self) -> tuple[str, float] | None:
        """The next thing J1 does: its next decision, or sooner, the next progress check
        while issues last (the state file's `nextScheduledEvent`)."""
        events = [] if self.next_wake is None else [self.next_wake]
        if self.watching is not None:
            events.append(("PROGRESS_CHECK", self.watching + wake.PROGRESS_EVERY_SECONDS))
        return min(events, key=lambda e: e[1]) if events else None

    def run(
        self,
        prom: dict[str, float | None] | None = None,
        build: dict[str, Any] | None = None,
        force: bool = False,
    ) -> None:
        """J1 (`responder.decide.wake`): the quick health check at every heartbeat; a decision
        with the figures it was made on, its actions and its wake, when the last one's
        wake has come, the situation changed, the Watchdog is silent, or `force`.

        `prom` (PromQL figures) and `build` (the exporter's build result, read
        while the Watchdog is silent) are read off the worker by the scheduler."""
        rt, sit, now = self.runtime, self.situation.get(), self.clock()
        rt.adopt()
        self.tell_unlanded(now)
        due = self.next_wake is None or now >= self.next_wake[1]
        if not (force or due or build is not None or self.woke_for != (sit.mode, sit.escalation)):
            return
        snapshot = self.health_snapshot(prom or {})
        decision = wake.decide(
            self.config,
            sit,
            snapshot,
            sit.mode == "MAINTENANCE" and self.maintained != sit.period.key,
            now,
        )
        reasons = list(decision.reasons)
        actions = self._act(decision, snapshot)
        if build is not None:
            reasons.append("the Watchdog is silent: the exporter is asked directly")
            actions.extend(self.direct_checks(build))
        at = now + decision.sleep
        self.woke_for, self.full_check = (sit.mode, sit.escalation), now
        self.next_wake = (decision.kind.event, at)
        rt.store.log_decision(
            "J1",
            {
                "decision": str(decision.kind),
                "reasons": reasons,
                "actions": actions,
                "snapshot": snapshot,
                "next_wake": at,
            },
            now,
        )

    def tell_unlanded(self, now: float) -> None:
        """Work the checks refused twice (a swarm, then its retry told why): a person
        is told once, with what failed. Looked at only when the count of refused work
        moved."""
        rt = self.runtime
        history = rt.snapshot.history.outcomes
        refused = sum(n for (_, outcome), n in history.items() if outcome in RETRIED)
        if refused == self.refused_work:
            return
        since, self.refused_work, self.refused_since = self.refused_since, refused, now
        for s in rt.store.ended_swarms(since):
            if s.retry_of is None or s.outcome not in RETRIED:
                continue
            told = self.notifier.told(
                "work_not_landed",
                f"A {s.type} swarm's work did not land, twice ({s.trigger}).",
                f"Swarm {s.retry_of}, then its retry {s.id}: {s.reason}. "
                f"Its branch {s.branch} keeps the work.",
            )
            rt.store.log_decision(
                "work_not_landed", {"swarm": s.id, "retry_of": s.retry_of, "action": told}, now
            )

    def _act(self, decision: wake.Wake, snapshot: dict[str, Any]) -> list[str]:
        """The decision's actions, each a sentence for the decision log."""
        rt, sit, now = self.runtime, self.situation.get(), self.clock()
        kind = decision.kind
        if kind is wake.Kind.CRISIS:
            return self._crisis(snapshot)
        if kind is wake.Kind.ISSUES:
            return self.ladders.look()
        if kind is wake.Kind.IMPROVEMENT:
            if any(
                s.trigger.startswith("job:J8:wake:")
                for s in rt.held.read(rt.store.swarms, "running")
            ):
                return ["an improvement swarm of J1's works already"]
            figures = "; ".join(decision.reasons)
            return [
                self.learner.start_for_job(
                    self.runtime,
                    "J1",
                    self.learner.types("J8", ("improvement",)),
                    Priority.MEDIUM,
                    f"job:J8:wake:{int(now)}",
                    f"The project can be improved ({figures}): make one small, safe improvement.",
                    "J8",
                )
            ]
        if kind is wake.Kind.MAINTENANCE:
            self.maintained = sit.period.key
            self.compress_context()
            actions = ["J7: history compacted, context written"]
            trigger = f"job:maintenance:{sit.period.key}"
            if "cleanup" in self.config.swarm_types and not rt.store.swarms_by_trigger(trigger):
                actions.append(
                    self.learner.start_for_job(
                        self.runtime,
                        "J1",
                        ("cleanup",),
                        Priority.LOW,
                        trigger,
                        "A maintenance window: free disk space, remove stale outputs and logs.",
                        "maintenance",
                    )
                )
            return actions
        return []

    def _crisis(self, snapshot: dict[str, Any]) -> list[str]:
        """Each critical problem's ladder (a recovery command works on its own); a
        person told once when the crisis lasts 30 minutes, unless told of each of its
        problems already (N1: once per problem episode)."""
        rt, sit, now = self.runtime, self.situation.get(), self.clock()
        actions = ["a recovery command works on it"] if self.recoveries.under_way() else []
        actions += self.ladders.look()
        crisis = rt.held.read(rt.store.last_crisis)
        if (
            sit.crisis_id is not None
            and crisis
            and crisis[1] is None
            and now - crisis[0] > CRISIS_TOO_LONG_SECONDS
            and rt.store.tell_once_about_crisis(sit.crisis_id, now)
        ):
            critical = sorted({a[0] for a in rt.held.firing() if a[1] == "critical"})
            # Once per crisis: Alertmanager's repeat_interval reminds the person.
            if rt.store.tell_once(critical, now):
                actions.append(
                    self.notifier.told(
                        "crisis_unresolved",
                        "A crisis has lasted 30 minutes.",
                        f"Firing: {snapshot['firing']}",
                    )
                )
        return actions

    def watch_progress(self) -> None:
        """J1's monitoring while problems fire (every 30 s): each one's ladder
        (responder/jobs/ladders.py) and MemoryHigh's steps (responder/jobs/memory.py),
        logged when they act."""
        now, sit = self.clock(), self.situation.get()
        problems = self.ladders.problems() if sit.escalation >= 2 else []
        if sit.escalation < 2 or not (problems or sit.memory_high):
            self.watching = None
            return
        self.watching = now
        actions = self.memory.look() + self.ladders.look(problems)
        if actions:
            self.runtime.store.log_decision("J1", {"decision": "ladder", "actions": actions}, now)

    def read_build(self) -> dict[str, Any]:
        """The exporter's build result (`{"unreachable": True}` if it does not answer):
        X5's fallback."""
        listen = self.config.exporter.listen
        url = f"http://{listen.host}:{listen.port}/api/v1/checks"
        try:
            body = json.loads(fetch(url, self.scrape, timeout=2))
            return dict(body.get("build") or {"unreachable": True})
        except (OSError, ValueError):
            return {"unreachable": True}

    def direct_checks(self, build: dict[str, Any]) -> list[str]:
        """X5 fallback: while alerts may not arrive, take the build's result read from
        the exporter itself and raise or resolve BuildFailing as Prometheus would."""
        if build.get("unreachable"):
            return ["exporter unreachable too"]
        last = build.get("last_run") or {}
        failure = build.get("last_failure") or {}
        if not last:
            return []
        # One episode per failure streak: named after the streak's first failure.
        starts = f"direct:{failure.get('started_at', 0):.0f}"
        labels = {
            "alertname": "BuildFailing",
            "severity": "critical",
            "component": "build",
            "source": "exporter",
        }
        status = "resolved" if last.get("ok") else "firing"
        self.alerts.handle(
            Alert(
                DIRECT_FINGERPRINT,
                status,
                labels,
                {
                    "summary": "The project's build is failing (seen directly).",
                    "description": "Raised by the responder from the exporter's checks "
                    "while the Watchdog is silent.",
                },
                starts,
            )
        )
        if "pipeline" not in self.notified:
            self.notified.add("pipeline")
            return [
                f"build {status} (direct)",
                self.notifier.told(
                    "pipeline_silent",
                    "Alerts stopped arriving: the Watchdog is silent.",
                    "Prometheus, Alertmanager or the route to the responder is broken.",
                ),
            ]
        return [f"build {status} (direct)"]

    def health_snapshot(self, prom: dict[str, float | None]) -> dict[str, Any]:
        """Own state, plus what Prometheus said when it answered (best effort)."""
        snap = self.runtime.snapshot
        facts = snap.facts
        cap = facts.period.cap_usd
        return {
            "mode": self.situation.get().mode,
            "escalation": self.situation.get().escalation,
            "swarms_running": len(snap.running),
            "agents_stuck": sum(1 for a in snap.live if a.state == "stuck"),
            "budget_spent_ratio": round(facts.period_spend / cap, 4) if cap else 1.0,
            "budget_tier": facts.tier_name,
            "firing": sorted({a[0] for a in self.runtime.held.firing()}),
            **prom,
        }

    def _promql(self, query: str) -> float | None:
        url = (
            self.config.responder.prometheus_url.rstrip("/")
            + "/api/v1/query?"
            + urllib.parse.urlencode({"query": query})
        )
        try:
            result = json.loads(fetch(url, self.prometheus, timeout=2))["data"]["result"]
        except (OSError, ValueError, KeyError):
            return None
        return float(result[0]["value"][1]) if result else None
