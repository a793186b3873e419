"""The scheduled jobs J1, J2 and J5-J10 (J3 and J4 are the exporter's), on APScheduler.

Each job is a method that can also be called directly (tests, `run_now`);
the scheduler only decides when. J1 runs at the current mode's heartbeat and
is rescheduled when the mode changes; J9 runs at the schedule's night and day
start in the project's time zone.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.background import BackgroundScheduler

from responder import learning, reports
from responder.budget import TIERS, tier
from responder.model import Priority
from responder.notify import post_human_alert
from responder.runtime import SpawnRefused
from responder.webhook import Alert

if TYPE_CHECKING:
    from responder.app import Service

log = logging.getLogger(__name__)
RECOVERY = ("bugfix", "coverage", "monitor")
CRISIS_TOO_LONG_SECONDS = 1800.0
CRISIS_RETRY_SECONDS = 300.0
DIRECT_FINGERPRINT = "00000000000d1ec7"
"""The episode fingerprint of BuildFailing raised from the exporter directly."""
"""J1 starts another CRITICAL swarm in a crisis only if none ran for this long."""


class Jobs:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.config = service.config
        self.scheduler: Any = None
        self.last_progress = service.clock()
        self.notified: set[str] = set()

    @property
    def table(self) -> dict[str, Callable[[], None]]:
        return {
            "J1": self.wake_cycle,
            "J2": self.swarm_watchdog,
            "J5": self.budget_watchdog,
            "J6": self.progress_report,
            "J7": self.compress_context,
            "J8": self.self_improvement,
            "J9": self.mode_switch,
            "J10": self.daily_summary,
        }

    def start(self) -> None:
        sched = BackgroundScheduler(
            timezone=self.config.schedule.timezone,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        )
        mode = self.config.modes[self.service.situation.mode]
        sched.add_job(self._guarded("J1"), "interval", seconds=mode.heartbeat, id="J1")
        sched.add_job(self._guarded("J2"), "interval", minutes=2, id="J2")
        sched.add_job(self._guarded("J5"), "interval", minutes=5, id="J5")
        sched.add_job(self._guarded("J6"), "interval", minutes=30, id="J6")
        sched.add_job(self._guarded("J7"), "interval", minutes=30, id="J7")
        sched.add_job(self._guarded("J8"), "interval", hours=6, id="J8")
        for name, at in (
            ("J9-night", self.config.schedule.night_start),
            ("J9-day", self.config.schedule.day_start),
        ):
            sched.add_job(self._guarded("J9"), "cron", hour=at.hour, minute=at.minute, id=name)
        sched.add_job(self._guarded("J10"), "cron", hour=22, minute=0, id="J10")
        sched.start()
        self.scheduler = sched

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)

    def on_mode_change(self, mode: str) -> None:
        """J1 follows the mode's heartbeat: 10 s in a crisis, 3 min at night."""
        if self.scheduler is not None:
            seconds = self.config.modes[mode].heartbeat
            self.scheduler.reschedule_job("J1", trigger="interval", seconds=seconds)

    def run_now(self, job: str) -> None:
        self.table[job]()

    def _guarded(self, job: str) -> Callable[[], None]:
        def run() -> None:
            try:
                self.table[job]()
            except Exception:
                log.exception("job %s failed", job)

        run.__name__ = run.__qualname__ = job
        return run

    # -- the jobs ---------------------------------------------------------------
    def wake_cycle(self) -> None:
        """J1: a health snapshot, a decision with its reasons, the actions, all logged."""
        svc = self.service
        rt, sit = svc.runtime, svc.situation
        snapshot = self.health_snapshot()
        reasons: list[str] = []
        actions: list[str] = []
        if sit.mode == "CRISIS":
            reasons.append("a critical alert fires")
            recent = svc.clock() - CRISIS_RETRY_SECONDS
            if not any(
                s.priority == "CRITICAL" and (s.state == "running" or s.created_at > recent)
                for s in rt.store.swarms()
            ):
                actions.append(
                    self._spawn(
                        "bugfix",
                        Priority.CRITICAL,
                        "job:J1:crisis",
                        "A crisis is on and no CRITICAL swarm works on it.",
                    )
                )
            crisis = rt.store.last_crisis()
            if crisis and crisis[1] is None and svc.clock() - crisis[0] > CRISIS_TOO_LONG_SECONDS:
                actions.append(
                    self._tell(
                        "crisis_unresolved",
                        "A crisis has lasted 30 minutes.",
                        f"Firing: {snapshot['firing']}",
                    )
                )
        elif sit.escalation == 2:
            reasons.append("warnings fire; their alerts start HIGH swarms")
        else:
            reasons.append("all good")
        if svc.pipeline_silent():
            reasons.append("the Watchdog is silent: the exporter is asked directly")
            actions.extend(self.direct_checks())
        orphans = rt.reap_orphans()
        if orphans:
            actions.append(f"reaped {len(orphans)} orphan process(es)")
        killed = rt.enforce_budget()
        if killed:
            actions.append(f"budget killed {len(killed)} swarm(s)")
        rt.store.log_decision(
            "J1",
            {"decision": reasons[0], "reasons": reasons, "actions": actions, "snapshot": snapshot},
            svc.clock(),
        )

    def direct_checks(self) -> list[str]:
        """X5 fallback: while alerts may not arrive, read the build's result from the
        exporter itself and raise or resolve BuildFailing as Prometheus would."""
        listen = self.config.exporter.listen
        url = f"http://{listen.host}:{listen.port}/api/v1/checks"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                build = json.loads(resp.read()).get("build") or {}
        except (OSError, ValueError):
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
        self.service.handler.handle(
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
                self._tell(
                    "pipeline_silent",
                    "Alerts stopped arriving: the Watchdog is silent.",
                    "Prometheus, Alertmanager or the route to the responder is broken.",
                ),
            ]
        return [f"build {status} (direct)"]

    def health_snapshot(self) -> dict[str, Any]:
        """Own state, plus what Prometheus says when it answers (best effort)."""
        svc = self.service
        rt = svc.runtime
        budget = rt.budget_status()
        snap: dict[str, Any] = {
            "mode": svc.situation.mode,
            "escalation": svc.situation.escalation,
            "swarms_running": len(rt.store.swarms("running")),
            "agents_stuck": sum(1 for a in rt.live_agents() if a.state == "stuck"),
            "budget_spent_ratio": round(budget["spend_usd"] / budget["cap_usd"], 4)  # type: ignore[operator]
            if budget["cap_usd"]
            else 1.0,
            "firing": sorted({a[0] for a in rt.store.firing()}),
        }
        for key, query in (
            ("build_success", "max(warden_build_success)"),
            ("errors_per_minute", "sum(rate(warden_log_error_lines_total[5m])) * 60"),
        ):
            snap[key] = self._promql(query)
        return snap

    def _promql(self, query: str) -> float | None:
        url = (
            self.config.responder.prometheus_url.rstrip("/")
            + "/api/v1/query?"
            + urllib.parse.urlencode({"query": query})
        )
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310  (configured URL)
                result = json.loads(resp.read())["data"]["result"]
        except (OSError, ValueError, KeyError):
            return None
        return float(result[0]["value"][1]) if result else None

    def swarm_watchdog(self) -> None:
        """J2: keep the minimum number of swarms running (R2), as mode and budget allow."""
        rt = self.service.runtime
        minimum = int(self.config.alerts.values["SwarmsBelowMinimum"]["minimum"])  # type: ignore[call-overload]
        running = rt.store.swarms("running")
        missing = minimum - len(running)
        # The recovery types not running yet come first (a crisis may have
        # started its own bugfix swarm already).
        kinds = sorted(RECOVERY, key=lambda k: any(s.type == k for s in running))
        actions = []
        for i in range(max(0, missing)):
            kind = kinds[i % len(kinds)]
            actions.append(
                self._spawn(
                    kind,
                    Priority.HIGH,
                    f"job:J2:{int(self.service.clock())}:{i}",
                    "Fewer swarms run than the minimum; recovery swarm "
                    f"({kind}): find why they stopped and carry on.",
                )
            )
        if actions:
            rt.store.log_decision(
                "J2", {"minimum": minimum, "actions": actions}, self.service.clock()
            )

    def budget_watchdog(self) -> None:
        """J5: enforce the tiers; tell a person once per period when spending stops."""
        svc = self.service
        rt = svc.runtime
        killed = rt.enforce_budget()
        period = svc.situation.period
        level = TIERS[tier(rt.store.spend(period.key), period.cap_usd, self.config.budget.tiers)]
        if level == "stop" and period.key not in self.notified:
            self.notified.add(period.key)
            self._tell(
                "budget_exhausted",
                "The budget is spent: all swarms stopped.",
                f"Period {period.key} reached its cap of ${period.cap_usd:.2f}.",
            )
        rt.store.log_decision("J5", {"tier": level, "killed": killed}, svc.clock())

    def progress_report(self) -> None:
        """J6: a progress summary of the last 30 minutes."""
        svc = self.service
        now = svc.clock()
        text = reports.progress(svc.runtime, svc.situation, self.last_progress, now)
        name = time.strftime("progress-%Y%m%d-%H%M.md", time.gmtime(now))
        reports.write(self.config.state_dir / "reports", name, text)
        self.last_progress = now

    def compress_context(self) -> None:
        """J7: keep history compact, and write the short context new swarms are handed."""
        svc = self.service
        rt, now = svc.runtime, svc.clock()
        rt.store.prune(now - 7 * 86400)
        recent = [
            f"- {d['kind']}: "
            + ", ".join(
                f"{k}={v}" for k, v in sorted(d.items()) if k not in ("at", "kind", "snapshot")
            )
            for d in rt.store.decisions(15)
        ]
        stats = learning.stats(rt.store, now - 86400)
        lines = [
            "# What Warden knows now",
            "",
            f"Mode {svc.situation.mode}, escalation {svc.situation.escalation}; firing: "
            + (", ".join(sorted({a[0] for a in rt.store.firing()})) or "nothing")
            + ".",
            "",
            "Swarm results today: "
            + (", ".join(f"{s.type} {s.succeeded}/{s.runs}" for s in stats) or "none yet")
            + ".",
            "",
            "Recent decisions:",
            *recent,
        ]
        reports.write(self.config.state_dir, "context.md", "\n".join(lines) + "\n")

    def self_improvement(self) -> None:
        """J8: an improvement swarm when all is well and the budget allows."""
        svc = self.service
        rt = svc.runtime
        period = svc.situation.period
        spent = tier(rt.store.spend(period.key), period.cap_usd, self.config.budget.tiers)
        if svc.situation.escalation != 1 or spent > 0:
            rt.store.log_decision(
                "J8", {"skipped": "not healthy or budget above notify"}, svc.clock()
            )
            return
        self._spawn(
            "improvement",
            Priority.MEDIUM,
            f"job:J8:{int(svc.clock())}",
            "All is well: make one small, safe improvement.",
        )

    def mode_switch(self) -> None:
        """J9: at night start and day start, take the new mode at once."""
        self.service.reassess()
        self.service.runtime.store.log_decision(
            "J9", {"mode": self.service.situation.mode}, self.service.clock()
        )

    def daily_summary(self) -> None:
        """J10: the end-of-day report with the P and L figures."""
        svc = self.service
        now = svc.clock()
        reports.write_daily(
            svc.runtime,
            svc.situation,
            now,
            self.config.state_dir / "reports",
            time.strftime("daily-%Y%m%d", time.gmtime(now)),
        )

    # -- helpers ------------------------------------------------------------------
    def _spawn(self, kind: str, priority: Priority, trigger: str, context: str) -> str:
        svc = self.service
        refused = svc.gate(str(priority))
        if refused:
            return f"{kind} skipped: {refused}"
        stype = self.config.swarm_types[kind]
        size = learning.best_size(svc.runtime.store, kind, stype.size)
        try:
            swarm = svc.runtime.start_swarm(kind, priority, trigger, context, size=size)
        except SpawnRefused as exc:
            return f"{kind} refused: {exc}"
        return f"started {kind} {swarm.id} (size {size})"

    def _tell(self, reason: str, summary: str, description: str) -> str:
        # Alertmanager judges startsAt/endsAt by the wall clock, whatever clock
        # the service runs on.
        sent = post_human_alert(
            self.config.responder.alertmanager_url, reason, summary, description, time.time()
        )
        return f"told a person ({reason})" if sent else f"could not tell a person ({reason})"
