"""From stored webhook bodies to actions, once per firing episode.

The HTTP handler only stores an accepted body (`inbox`) and answers; this
worker reads the inbox, handles each alert on its own and marks the body
done. Exactly once, across crashes:
- an episode (fingerprint + startsAt) is remembered in SQLite the first time
  it fires; a re-send of it is a duplicate;
- each swarm an action starts carries the episode in its `trigger`, written
  with the swarm in one transaction; an action redone after a crash skips
  the swarms that already exist;
- a body is marked done only after all its alerts are handled, so a crash
  midway handles the body again, and the two rules above make that harmless.
A resolved alert never runs the firing action. An alert whose handling raises
is set aside as a dead letter with its error (counted, shown by `warden
status`) and the next one is handled: one poison alert never blocks the line.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from prometheus_client import Histogram, disable_created_metrics

from responder.act.recovery import Recoveries, Tell
from responder.act.runtime import Runtime
from responder.decide.learning import Learner
from responder.intake.claims import Claims
from responder.intake.webhook import Alert, BadBody, parse_body
from responder.model import Priority
from responder.rules.admission import Refusal
from responder.rules.policy import DEFAULT_POLICIES, Policy, Spawn
from responder.state.errors import StoreUnavailable
from warden.auth import Credentials, fetch
from warden.config import PolicySettings

log = logging.getLogger(__name__)
CHECKS_FOR = {"BuildFailing": "build", "TestsFailing": "tests"}


def policies_from(overrides: dict[str, PolicySettings]) -> dict[str, Policy]:
    out = dict(DEFAULT_POLICIES)
    for name, p in overrides.items():
        default = out.get(name, Policy())
        out[name] = Policy(
            spawn=tuple(Spawn(t, Priority(pr)) for t, pr in p.spawn),
            max_running=p.max_running,
            recover=p.recover,
            host_bound=default.host_bound if p.host_bound is None else p.host_bound,
        )
    return out


class AlertHandler:
    def __init__(
        self,
        runtime: Runtime,
        policies: dict[str, Policy],
        exporter_url: str,
        exporter_credentials: Credentials | None = None,
        run_job: Callable[[str], None] = lambda job: None,
        reassess: Callable[[], None] = lambda: None,
        tell: Tell = lambda alert, summary, description: False,
        rng: random.Random | None = None,
    ) -> None:
        self.run_job = run_job
        # Called once a new episode is recorded and before acting on it, so a
        # crisis it opens is already the mode (and budget period) its swarms run in.
        self.reassess = reassess
        self.runtime = runtime
        self.store = runtime.store
        self.policies = policies
        settings = runtime.config.responder
        self.claims = Claims(
            self.store, settings.id, settings.instance, settings.claim_lease, runtime.clock
        )
        self.recoveries = Recoveries(runtime, self._escalate, tell)
        self.learner = Learner(runtime.config, self.store, rng)
        self.exporter_url = exporter_url
        """This host's exporter's base URL: its /api/v1 has the failing output and files."""
        self.exporter_credentials = exporter_credentials
        self.fleet_exporters = frozenset(runtime.config.stack.other_exporters)
        self._body: tuple[int, list[Alert], int] | None = None
        """The body a step cut short: its id, its alerts, the next to handle."""
        self.received: Counter[str] = Counter()
        self.duplicates = 0
        self.actions: Counter[tuple[str, str]] = Counter()
        self.dead_letters = 0
        # No `_created` series: they would double the families for no use.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.action_latency = Histogram(
            "warden_responder_action_duration_seconds",
            "How long acting on one firing episode took.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=None,
        )

    def process_inbox(self, max_alerts: int, seconds: float | None = None) -> bool:
        """Handle stored bodies alert by alert, oldest first, until `max_alerts` were
        handled or `seconds` passed on the monotonic clock (None: no time bound); one
        alert at least, so every call moves on. True when more may wait.

        Bounded by alerts, not bodies: one body of thousands of alerts must not hold
        the step, and with it the heartbeat, for a minute. A body cut short goes on
        where it stopped at the next call; a crash handles it again from its start,
        which the episode and trigger records make harmless."""
        until = None if seconds is None else time.monotonic() + seconds
        handled, done = 0, list[int]()

        def spent() -> bool:
            late = until is not None and time.monotonic() > until
            return handled >= max_alerts or (handled > 0 and late)

        try:
            while True:
                if self._body is None:
                    if spent():
                        return True
                    self._body = self._next_body(done)
                    if self._body is None:
                        return False
                inbox_id, alerts, first = self._body
                for i in range(first, len(alerts)):
                    if spent():
                        self._body = (inbox_id, alerts, i)
                        return True
                    self._handle_stored(inbox_id, alerts[i])
                    handled += 1
                done.append(inbox_id)
                self._body = None
                handled += not alerts  # an empty body is work too: a flood of them ends
        except BaseException:
            self._body = None  # handled again from its start: harmless
            raise
        finally:
            if done:
                self.store.inbox_done(done)

    def _next_body(self, done: list[int]) -> tuple[int, list[Alert], int] | None:
        """The oldest pending body after those `done` this call (not yet marked so)."""
        page = self.store.pending_inbox(self.claims.me, 1, after=done[-1] if done else 0)
        if not page:
            return None
        inbox_id, raw = page[0]
        try:
            return inbox_id, parse_body(raw), 0
        except BadBody as exc:  # refused before storing; only a changed parser lands here
            self._set_aside(inbox_id, exc, raw.decode("utf-8", "replace")[:2000])
            return inbox_id, [], 0

    def _handle_stored(self, inbox_id: int, alert: Alert) -> None:
        try:
            self.handle(alert)
        except StoreUnavailable:
            raise  # the body stays in the inbox for the step after the outage
        except Exception as exc:
            self._set_aside(inbox_id, exc, json.dumps(alert.labels, sort_keys=True))

    def take_over(self) -> int:
        """Act on the episodes whose claimer died (its lease lapsed) or that reached
        only responders who may not act on them; how many were taken."""
        taken = 0
        for claimer, alert in self.claims.dropped():
            try:
                taken += self.handle(alert, taken_from=claimer or "nobody")
            except StoreUnavailable:
                raise
            except Exception:
                log.exception("taking over %s %s failed", alert.name, alert.episode)
        return taken

    def _set_aside(self, inbox_id: int, exc: Exception, what: str) -> None:
        log.exception("alert set aside (inbox %s): %s", inbox_id, what)
        self.dead_letters += 1
        self.store.dead_letter(inbox_id, self.runtime.clock(), f"{type(exc).__name__}: {exc}", what)

    def handle(self, alert: Alert, taken_from: str | None = None) -> bool:
        """Record the alert; act on a firing episode if we win its claim (True).
        `taken_from`: a takeover, of the claimer named (its lease lapsed)."""
        if taken_from is None:
            self.received[alert.status] += 1
        now = self.runtime.clock()
        # One name per episode, whichever replica of a Prometheus pair set startsAt.
        starts = self.store.same_episode(alert.fingerprint, alert.starts_at)
        if starts != alert.starts_at:
            alert = dataclasses.replace(alert, starts_at=starts)
        fp = alert.fingerprint
        if alert.status == "resolved":
            if not self.store.close_episode(fp, starts, now):
                self.duplicates += 1
            return False
        policy = self.policies.get(alert.name, Policy())
        if taken_from is None:
            self.claims.record(alert, self.claims.bound_to(alert, policy.host_bound))
        if not self.claims.take(fp, starts):
            self.duplicates += taken_from is None
            return False
        if taken_from is not None:
            self.claims.taken_over += 1
            log.info("took over %s %s from %s", alert.name, alert.episode, taken_from)
        self.reassess()
        try:
            with self.action_latency.time():
                outcome = self._act(alert, policy, taken_from)
        except StoreUnavailable:
            raise  # not acted on: its claim lapses and it is taken over
        except Exception as exc:
            # Acted on, badly: its re-sends are duplicates, not the same error again.
            self.store.episode_acted(fp, starts, f"error: {type(exc).__name__}: {exc}")
            raise
        finally:
            self.claims.release(fp, starts)
        decision = {"alert": alert.name, "fingerprint": fp, "startsAt": starts, "outcome": outcome}
        if not self.store.episode_acted(fp, starts, outcome, decision, self.runtime.clock()):
            log.warning("%s %s was acted on elsewhere too", alert.name, alert.episode)
        return True

    def _act(self, alert: Alert, policy: Policy, taken_from: str | None) -> str:
        done: list[str] = [] if taken_from is None else [f"taken over from {taken_from}"]
        for job in policy.run_jobs:
            self.run_job(job)
            done.append(f"ran {job}")
        context = self._context(alert) if policy.spawn or policy.recover else ""
        if policy.recover is not None:
            fp, starts = alert.episode
            done.append(self.recoveries.start(policy.recover, alert.name, fp, starts, context))
        else:
            done += self._spawn(alert.name, alert.fingerprint, alert.starts_at, context)[0]
        return "; ".join(done) or "recorded"

    def _spawn(
        self, name: str, fingerprint: str, starts_at: str, context: str
    ) -> tuple[list[str], list[str]]:
        """Start the policy's swarms for a firing episode: (what happened, ids started).
        Each swarm's trigger names the episode, so redoing it starts nothing twice."""
        policy = self.policies.get(name, Policy())
        rt = self.runtime
        done: list[str] = []
        started: list[str] = []
        base = f"alert:{name}:{fingerprint}:{starts_at}"
        # The store, not the published snapshot: swarms this step started count too.
        running = [
            s for s in self.store.swarms("running") if s.trigger.startswith(f"alert:{name}:")
        ]
        for i, spawn in enumerate(policy.spawn):
            self.claims.renew()
            trigger = f"{base}:{i}"
            if self.store.swarms_by_trigger(trigger):
                done.append(f"{spawn.type} already started")
                continue
            if len(running) >= policy.max_running:
                detail = f"{name} has {len(running)} swarm(s) running (max_running)"
                rt.refuse("alert", Refusal.CONCURRENCY, detail, type=spawn.type, trigger=trigger)
                done.append(f"{spawn.type} refused: {detail}")
                continue
            # `learning.choices` may name other types for a policy of one swarm.
            own = (spawn.type,)
            types = self.learner.types(name, own) if len(policy.spawn) == 1 else own
            swarm, text = self.learner.start(
                rt, name, types, spawn.priority, trigger, context, "alert"
            )
            done.append(text)
            if swarm is None:
                self.actions[("spawn", "refused")] += 1
                continue
            running.append(swarm)
            started.append(swarm.id)
            self.actions[("spawn", "done")] += 1
        return done, started

    def _escalate(self, name: str, fingerprint: str, starts_at: str, context: str) -> list[str]:
        """A recovery did not set it right: the policy's swarms, as for the alert itself."""
        done, started = self._spawn(name, fingerprint, starts_at, context)
        self.store.log_decision(
            "alert",
            {
                "alert": name,
                "fingerprint": fingerprint,
                "startsAt": starts_at,
                "outcome": "escalated: " + ("; ".join(done) or "nothing to start"),
            },
            self.runtime.clock(),
        )
        return started

    def _context(self, alert: Alert) -> str:
        """What the agents are told: the alert, then what the exporter knows of it
        (the failing tests by name before the output; the files that lost coverage)."""
        lines = [
            f"# {alert.name}",
            "",
            alert.annotations.get("summary", ""),
            alert.annotations.get("description", ""),
            "",
            "Labels:",
        ]
        lines += [f"- {k}: {v}" for k, v in sorted(alert.labels.items())]
        check = CHECKS_FOR.get(alert.name)
        if check:
            report = self._exporter(alert, "checks").get(check) or {}
            failing = report.get("failing_cases") or []
            if failing:
                lines += ["", f"Failing tests ({len(failing)}):"]
                lines += [f"- {c['name']}: {c['message']}" for c in failing]
            output = (report.get("last_failure") or {}).get("output_tail", "")
            if output:
                lines += ["", f"Last failing {check} output:", "```", str(output), "```"]
        if alert.name == "CoverageDecreased":
            lines += coverage_drop(self._exporter(alert, "coverage"))
        history = self.runtime.config.state_dir / "context.md"  # J7's summary
        if history.exists():
            lines += ["", history.read_text(encoding="utf-8")]
        return "\n".join(lines) + "\n"

    def _exporter(self, alert: Alert, what: str) -> dict[str, Any]:
        """What the exporter that raised the alert knows: in a fleet the project's
        checks may run on another host. Only the fleet's exporters
        (`stack.other_exporters`) are asked, never a host an alert merely names:
        the request carries the scrape password."""
        instance = alert.labels.get("instance", "")
        base = f"http://{instance}" if instance in self.fleet_exporters else self.exporter_url
        try:
            url = f"{base}/api/v1/{what}"
            body = json.loads(fetch(url, self.exporter_credentials, timeout=2))
        except (OSError, ValueError):
            return {}
        return body if isinstance(body, dict) else {}


def coverage_drop(drop: dict[str, Any]) -> list[str]:
    """The files whose line coverage fell, from the window's best report to the latest."""
    best, latest, files = drop.get("best"), drop.get("latest"), drop.get("files") or []
    if not best or not latest:
        return []

    def pct(r: float | None) -> str:
        return "new" if r is None else f"{100 * r:.1f} %"

    lines = [
        "",
        f"Line coverage fell from {pct(best['ratio'])} to {pct(latest['ratio'])}. "
        "Files that lost coverage (most lines first):",
        "",
        "| file | before | after | uncovered lines before | after |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {f['file']} | {pct(f['before'])} | {pct(f['after'])} "
        f"| {f['lines_uncovered_before']} | {f['lines_uncovered_after']} |"
        for f in files
    ]
    return lines if files else lines[:2]
