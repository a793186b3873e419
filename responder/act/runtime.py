"""The swarm runtime: start agents, watch them, retry them, kill them, pay for them.

Each agent is a process started from its swarm type's argument list (never a
shell), leading a session of its own, with stdout and stderr in a log file
under `state_dir/agents/`. The log is how the runtime sees progress: it
follows the file, so a restarted runtime re-reads it and loses nothing. Every
state change is written to the store before anything depends on it.

One owner: a runtime belongs to one thread (the responder's worker, or the
terminal of `warden swarm run`). It never waits: a kill sends SIGTERM and
each `poll` advances it (SIGKILL after the grace, the record once the
processes are gone), so kills of many swarms pay the grace once and the
owner keeps watching the others meanwhile. Readers on other threads (a
scrape, the status API) read `snapshot`, which the owner publishes after
every step; they never touch the runtime itself.

Several runtimes may share one store (the responder and a `warden swarm run`
in a terminal): each swarm and agent row names its owner, each runtime
watches, retries and times out only its own, and takes over those whose
owner died. An agent process is an orphan only if no runtime knows it as live.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import pwd
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from responder.act import cleanup
from responder.act.adapters import Adapter, make_adapter
from responder.act.cgroups import Cgroups
from responder.act.context import fence, prompt
from responder.act.launcher import (
    ENV_AGENT,
    ENV_RUNTIME,
    Launcher,
    Placement,
    Process,
    Processes,
    Stopping,
    Target,
    inherited_environment,
)
from responder.act.owners import closed, new_owner, on_host, owner_alive, released
from responder.act.snapshot import HISTORY_RECOUNT_SECONDS, History, Snapshot
from responder.model import LIVE_AGENT_STATES, AgentState, EndReason, Priority, SwarmState
from responder.rules import breaker
from responder.rules.admission import (
    PATHS,
    Facts,
    Refusal,
    admit,
    explain,
    gather_facts,
)
from responder.rules.failures import EXIT_CANNOT_START, Failure, FailureClass
from responder.rules.modes import Situation, assess
from responder.state.store import AgentRow, LedgerEntry, Store, SwarmRow, open_store
from warden.atomicfile import write_atomic
from warden.config import Config, SwarmType
from warden.logfollow import FileFollower
from warden.private import passage

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 300.0


class SpawnRefused(Exception):
    """A swarm was not started: `reason` is from the admission rule's closed set."""

    def __init__(self, reason: Refusal, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass
class _Live:
    row: AgentRow
    swarm: SwarmRow
    type: SwarmType
    follower: FileFollower
    adapter: Adapter
    proc: Process | None = None
    """Set for agents this process started; None for agents adopted after a restart."""
    kill: Stopping | None = None
    why: EndReason | None = None
    """Set when Warden began killing it: recorded as killed, with this reason."""
    replace: bool = False
    """A stuck agent is killed and replaced (a retry), not ended with its swarm."""


@dataclass
class PollReport:
    """What one poll changed, for the caller to log or act on."""

    ended: list[tuple[str, str]] = field(default_factory=list)
    """(agent id, outcome)."""
    swarms_ended: list[tuple[str, str]] = field(default_factory=list)
    """(swarm id, state)."""


class Runtime:
    def __init__(
        self,
        config: Config,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
        situation: Callable[[], Situation] | None = None,
        launcher: Launcher | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.agents_dir = config.state_dir / "agents"
        self.store = store or open_store(config)
        self._situation = situation or (lambda: assess(config, self.store, self.clock()))
        # Agents carry this in their environment and their cgroups' path: it
        # tells the agents of this state from those of another Warden.
        # Responders of several hosts share a server: each host's are its own.
        identity = self.store.identity
        if self.store.shared:
            identity += f"#{config.responder.id}"
        self.instance = hashlib.sha256(identity.encode()).hexdigest()[:16]
        self.launcher = launcher or Processes(Cgroups.open(self.instance))
        self.host = config.responder.id if self.store.shared else ""
        """Where this runtime's agents run: it adopts, kills and reaps only these."""
        self.owner = new_owner(self.host)
        self._live: dict[str, _Live] = {}
        self._foreign: list[Stopping] = []
        """Kills of agents another live runtime owns (`warden swarm kill`)."""
        self.refusals: Counter[tuple[str, str]] = Counter()
        self._history = History.count(self.store)
        self._history_at = time.monotonic()
        self._published_history = self._history.copy()
        self._history_changed = False
        self.snapshot: Snapshot
        self.adopt(publish=True)

    # -- admission and budget -------------------------------------------------
    def facts(self) -> Facts:
        """Everything the admission rule looks at, now."""
        return gather_facts(self.config, self.store, self._situation(), self.clock())

    def refuse(self, path: str, reason: Refusal, detail: str, **context: str) -> SpawnRefused:
        """Count and log a refusal (every path, one metric); the caller raises or reports it."""
        assert path in PATHS, path
        self.refusals[(path, str(reason))] += 1
        self.store.log_decision(
            "refused",
            {"path": path, "reason": str(reason), "detail": detail, **context},
            self.clock(),
        )
        return SpawnRefused(reason, detail)

    def priority_refusal(
        self, priority: Priority, path: str, **context: str
    ) -> SpawnRefused | None:
        """The refusal no swarm of `priority` escapes, whatever its type or size (R4, the
        mode's priorities, the budget tier), counted and logged; None if one may start.
        Asked before the learning chooses, so a refused start costs no choice."""
        facts = self.facts()
        refusal = admit(facts, priority, "")
        if refusal is None:
            return None
        return self.refuse(path, refusal, explain(facts, refusal, priority, None), **context)

    # -- starting -------------------------------------------------------------
    def start_swarm(
        self,
        type_name: str,
        priority: Priority,
        trigger: str,
        context: str,
        size: int | None = None,
        path: str = "cli",
    ) -> SwarmRow:
        """Start a swarm if the admission rule allows it, or raise SpawnRefused
        (counted under `path` and logged as a decision)."""
        stype = self.config.swarm_types.get(type_name)
        ctx = {"type": type_name, "priority": str(priority), "trigger": trigger}
        if stype is None:
            known = ", ".join(sorted(self.config.swarm_types))
            raise self.refuse(
                path, Refusal.UNKNOWN_TYPE, f"unknown swarm type {type_name!r} (known: {known})"
            )
        n = size or stype.size
        cost = n * stype.budget_usd
        # Checked and written under the fleet-wide guard: responders racing at
        # the cap are admitted one at a time, each counting the one before.
        with self.store.spawn_guard():
            facts = self.facts()
            refusal = admit(facts, priority, type_name, cost)
            if refusal is None:
                swarm = self._new_swarm(stype, type_name, priority, n, trigger, context, facts)
                # Rows before processes: an agent's process exists only while its row
                # says it is live, so no runtime can take it for an orphan.
                agents = [self._new_agent(swarm, slot, 0) for slot in range(n)]
                self.store.add_swarm(swarm, agents)
        if refusal is not None:
            raise self.refuse(path, refusal, explain(facts, refusal, priority, cost), **ctx)
        self.store.log_decision("spawn", {"swarm": swarm.id, "size": n, **ctx}, swarm.created_at)
        for a in agents:
            self._spawn(a, swarm, stype)
        # Not published yet: the step's poll publishes once what it admits still
        # runs, so no reader sees work that the same step stops.
        return swarm

    def _new_swarm(
        self,
        stype: SwarmType,
        type_name: str,
        priority: Priority,
        n: int,
        trigger: str,
        context: str,
        facts: Facts,
    ) -> SwarmRow:
        """A new swarm's row, its context file written and handed to the agents' user."""
        swarm_id = f"s{uuid.uuid4().hex[:10]}"
        folder = self.agents_dir / swarm_id
        passage(self.agents_dir)  # made private (umask 077) if it was not there
        passage(folder)
        context_file = folder / "context.md"
        write_atomic(context_file, fence(context).encode())
        _hand_over(context_file, stype)
        return SwarmRow(
            swarm_id,
            type_name,
            str(priority),
            n,
            trigger,
            context,
            str(context_file),
            stype.budget_usd,
            facts.period.key,
            SwarmState.RUNNING,
            "",
            self.clock(),
            None,
            self.owner,
        )

    def _new_agent(
        self, swarm: SwarmRow, slot: int, attempt: int, retry_at: float | None = None
    ) -> AgentRow:
        agent_id = f"{swarm.id}-{slot}-{attempt}"
        log_path = self.agents_dir / swarm.id / f"{agent_id}.log"
        state = AgentState.WAITING if retry_at is not None else AgentState.SPAWNING
        return AgentRow(
            agent_id,
            swarm.id,
            slot,
            attempt,
            state,
            None,
            None,
            str(log_path),
            0,
            None,
            None,
            None,
            None,
            retry_at,
            None,
            None,
            None,
            None,
            self.owner,
        )

    def _spawn(self, row: AgentRow, swarm: SwarmRow, stype: SwarmType) -> None:
        values = {
            "{prompt}": prompt(stype.prompt, swarm.context_file),
            "{context_file}": swarm.context_file,
            "{budget_usd}": f"{stype.budget_usd:g}",
            "{swarm_id}": swarm.id,
            "{agent_id}": row.id,
            "{model}": stype.model,
            "{permission_mode}": stype.permission_mode,
            "{allowed_tools}": ",".join(stype.allowed_tools),
        }
        argv = [values.get(arg, arg) for arg in stype.command]
        env = {
            **inherited_environment(),
            **self._home(stype),
            **stype.env,
            ENV_RUNTIME: self.instance,
            ENV_AGENT: row.id,
            "WARDEN_SWARM_ID": swarm.id,
            "WARDEN_SWARM_TYPE": swarm.type,
            "WARDEN_CONTEXT_FILE": swarm.context_file,
        }
        log_path = Path(row.log_path)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        now = self.clock()
        if row.state != AgentState.SPAWNING:  # a retry: live before its process exists
            row.state = AgentState.SPAWNING
            self.store.update_agent(row.id, state=row.state, retry_at=None)
        live = _Live(
            row,
            swarm,
            stype,
            FileFollower(log_path, start_at_end=False),
            make_adapter(stype.adapter),
        )
        try:
            live.proc = self.launcher.start(argv, stype.cwd, env, log_path, _placement(stype))
        except OSError as exc:
            row.started_at = now
            missing = isinstance(exc, FileNotFoundError)
            live.adapter.error_class = FailureClass.NOT_FOUND if missing else FailureClass.USAGE
            live.adapter.error_text = f"cannot start {argv[0]!r}: {exc.strerror or exc}"
            self._end(live, exit_code=EXIT_CANNOT_START, report=PollReport())
            return
        start_time = self.launcher.start_time(live.proc.pid)
        row.pid, row.start_time, row.started_at = live.proc.pid, start_time, now
        self.store.update_agent(row.id, pid=row.pid, start_time=start_time, started_at=now)
        self._live[row.id] = live

    def _home(self, stype: SwarmType) -> dict[str, str]:
        """An agent running as another user gets a HOME it may write (Claude Code
        keeps its settings and sessions there): that user's own, or one Warden
        makes for it under the state folder."""
        user = _placement(stype).user
        if user is None:
            return {}
        entry = pwd.getpwnam(user)
        home = Path(entry.pw_dir)
        if not (home.is_dir() and home.stat().st_uid == entry.pw_uid):
            passage(self.config.state_dir / "homes")
            home = self.config.state_dir / "homes" / user
            home.mkdir(exist_ok=True)
            os.chown(home, entry.pw_uid, entry.pw_gid)
        return {"HOME": str(home), "USER": user, "LOGNAME": user}

    # -- watching -------------------------------------------------------------
    def poll(self) -> PollReport:
        """One step of the owner: watch agents, advance kills, retry, settle swarms,
        stop what the admission rule no longer allows, publish a snapshot."""
        report = PollReport()
        now = self.clock()
        for live in list(self._live.values()):
            if live.kill is not None:
                self._advance_kill(live, report)
            else:
                self._watch(live, now, report)
        self._foreign = [t for t in self._foreign if not t.step()]
        self._start_due_retries(now, report)
        self._check_swarms(now, report)
        self._publish(self._enforce(report))
        return report

    def _watch(self, live: _Live, now: float, report: PollReport) -> None:
        row = live.row
        progressed = False
        for line in live.follower.poll():
            progressed = live.adapter.feed(line) or progressed
        exit_code, gone = self._exit_status(live)
        if progressed:
            # Progress is kept in memory; only state changes are written, so
            # 200 chatty agents do not cost 200 transactions a poll.
            row.last_progress_at = now
            if row.state != AgentState.RUNNING:
                row.state = AgentState.RUNNING
                row.first_output_at = row.first_output_at or now
                self.store.update_agent(
                    row.id,
                    state=row.state,
                    last_progress_at=now,
                    first_output_at=row.first_output_at,
                )
        if gone:
            for line in live.follower.poll():  # what it printed last
                live.adapter.feed(line)
            self._end(live, exit_code, report)
            return
        stype = live.type
        if row.state == AgentState.SPAWNING and now - (row.started_at or now) > stype.spawn_timeout:
            self._mark_stuck(live, EndReason.STUCK_SPAWNING)
        elif (
            row.state == AgentState.RUNNING
            and now - (row.last_progress_at or now) > stype.stuck_after
        ):
            self._mark_stuck(live, EndReason.STUCK_SILENT)

    def _mark_stuck(self, live: _Live, why: EndReason) -> None:
        """W3/W4: a stuck agent is killed and replaced (a retry, with its backoff)."""
        live.row.state = AgentState.STUCK
        self.store.update_agent(live.row.id, state=AgentState.STUCK)
        self.store.log_decision(
            "agent_stuck", {"agent": live.row.id, "why": why.stuck}, self.clock()
        )
        self._begin_kill([live], why, replace=True)

    def _exit_status(self, live: _Live) -> tuple[int | None, bool]:
        """(exit code or None if unknown, whether the agent is gone)."""
        if live.proc is not None:
            code = live.proc.poll()
            return code, code is not None
        return None, not self.launcher.alive(live.row.pid, live.row.start_time)

    def _end(self, live: _Live, exit_code: int | None, report: PollReport) -> None:
        """Record how an agent ended, pay for it, and retry it or settle its swarm."""
        row, result, now = live.row, live.adapter.result, self.clock()
        stored = self.store.agent(row.id)
        if stored is not None and not AgentState(stored.state).live:
            self._forget(live)
            return  # settled already (a retry of this step after a crash)
        error = bool(result and result.is_error)
        swarm = self.store.swarm(row.swarm_id)
        swarm_over = swarm is not None and swarm.state != SwarmState.RUNNING
        why = live.why
        death: str | None = None
        if why is None and swarm_over and exit_code != 0:
            why = EndReason.SWARM_KILLED  # its swarm was ended by another Warden command
        failure: Failure | None = None
        if why is not None:
            state = AgentState.KILLED
            if why in (EndReason.STUCK_SILENT, EndReason.STUCK_SPAWNING):
                failure = Failure(FailureClass.STUCK, f"{why.stuck}: killed and replaced")
        elif not error and (exit_code == 0 or (exit_code is None and result is not None)):
            state = AgentState.SUCCEEDED
        else:
            state = AgentState.FAILED
            failure = live.adapter.failure(exit_code)
            if error:
                death = "error"
            elif exit_code is not None and exit_code in (-9, -15):
                death = "killed"
            else:
                death = "crashed"
        # A run that never became the agent (its program missing, its arguments
        # refused) spent nothing; any other run that did not report is charged its cap.
        never_ran = failure is not None and failure.cls in (
            FailureClass.NOT_FOUND,
            FailureClass.USAGE,
        )
        started = row.started_at is not None and row.pid is not None and not never_ran
        cap = live.type.budget_usd
        reported = result.cost_usd if result and result.cost_usd is not None else None
        amount = reported if reported is not None else (cap if started else 0.0)
        refused = live.adapter.refused_cost
        if refused is not None:
            log.warning(
                "agent %s (%s) reported %s as its cost, which is not a cost: "
                "charged $%.2f as a run that reported none",
                row.id,
                live.swarm.type,
                refused,
                amount,
            )
            self.store.log_decision(
                "cost_refused",
                {
                    "agent": row.id,
                    "type": live.swarm.type,
                    "reported": refused,
                    "charged_usd": amount,
                },
                now,
            )
        if amount > cap:
            # A run is charged at most its cap: what the guard reserved for it.
            self.store.log_decision(
                "charge_clamped",
                {"agent": row.id, "reported_usd": amount, "cap_usd": cap},
                now,
            )
            amount = cap
        ledger = LedgerEntry(
            row.id,
            row.swarm_id,
            live.swarm.type,
            live.swarm.period,
            amount,
            int(reported is None and started),
            now,
            reported if reported is not None and reported > cap else None,
        )
        self.store.end_agent(
            row.id,
            ledger,
            state=state,
            ended_at=now,
            exit_code=exit_code,
            death_reason=death,
            end_reason=None if why is None else str(why),
            cost_usd=amount,
            result_error=None if result is None else int(error),
            failure_class=None if failure is None else str(failure.cls),
            failure_text=None if failure is None else failure.text,
            cost_refused=refused,
        )
        row.state = state
        # Forgotten only once its end is written: a store that failed (a database
        # outage) leaves it watched, and the next poll ends it with what it printed.
        self._forget(live)
        report.ended.append((row.id, state))
        h = self._history
        h.spend_by_type[live.swarm.type] = h.spend_by_type.get(live.swarm.type, 0.0) + amount
        if death is not None:
            h.deaths[(live.swarm.type, death)] += 1
        if why is not None:
            h.ended_by_warden[(live.swarm.type, str(why))] += 1
        if failure is not None:
            h.failures[(live.swarm.type, str(failure.cls))] += 1
        if refused is not None:
            h.refused_costs[live.swarm.type] += 1
        self._history_changed = True
        if state == AgentState.FAILED and failure is not None and failure.cls.permanent:
            breaker.trip(self.store, live.type, failure, now)
        if swarm_over or failure is None or (state == AgentState.KILLED and not live.replace):
            return
        self._retry_or_fail(live, failure, now, report)

    def _forget(self, live: _Live) -> None:
        self._live.pop(live.row.id, None)
        live.follower.close()
        self.launcher.forget(live.row.swarm_id, live.row.id)

    def _retry_or_fail(self, live: _Live, failure: Failure, now: float, report: PollReport) -> None:
        """Transient failures are retried with backoff (at least what the API asked
        to wait); a permanent one, or the last retry, fails the swarm, saying why."""
        row, stype, swarm = live.row, live.type, live.swarm
        if failure.cls.permanent or row.attempt >= stype.retries:
            times = "" if row.attempt == 0 else f" {row.attempt + 1} times"
            note = " (not retried: it would fail the same way)" if failure.cls.permanent else ""
            self._end_swarm(
                swarm.id,
                SwarmState.FAILED,
                EndReason.SWARM_FAILED,
                f"agent slot {row.slot} failed{times}: {failure}{note}",
                report,
                failure=str(failure.cls),
            )
            return
        delay = min(MAX_BACKOFF_SECONDS, stype.retry_backoff * 2**row.attempt)
        delay = max(delay, min(MAX_BACKOFF_SECONDS, failure.retry_after or 0.0))
        self.store.add_agent(self._new_agent(swarm, row.slot, row.attempt + 1, now + delay))

    def _start_due_retries(self, now: float, report: PollReport) -> None:
        for row in self.store.agents(states=(AgentState.WAITING,), owner=self.owner):
            if row.retry_at is None or row.retry_at > now:
                continue
            swarm = self.store.swarm(row.swarm_id)
            if swarm is None or swarm.state != SwarmState.RUNNING:
                self.store.update_agent(row.id, state=AgentState.KILLED, ended_at=now)
                continue
            stype = self.config.swarm_types[swarm.type]
            priority = Priority(swarm.priority)
            with self.store.spawn_guard():
                # The swarm runs already: it is not counted again against the mode's cap.
                facts = self.facts()
                facts = dataclasses.replace(facts, running=facts.running - 1)
                refusal = admit(facts, priority, swarm.type, stype.budget_usd)
                if refusal is None:  # live (and so committed) before the guard is let go
                    row.state = AgentState.SPAWNING
                    self.store.update_agent(row.id, state=row.state, retry_at=None)
            if refusal is not None:
                detail = explain(facts, refusal, priority, stype.budget_usd)
                self.refuse("retry", refusal, detail, type=swarm.type, swarm=swarm.id)
                self.store.update_agent(
                    row.id,
                    state=AgentState.KILLED,
                    ended_at=now,
                    end_reason=str(refusal.end_reason),
                )
                self._end_swarm(
                    swarm.id,
                    SwarmState.FAILED,
                    refusal.end_reason,
                    f"retry refused: {detail}",
                    report,
                )
                continue
            self._spawn(row, swarm, stype)

    def _check_swarms(self, now: float, report: PollReport) -> None:
        running = self.store.swarms(SwarmState.RUNNING, owner=self.owner)
        for swarm in running:
            stype = self.config.swarm_types.get(swarm.type)
            if stype is not None and now - swarm.created_at > stype.timeout:
                self._end_swarm(
                    swarm.id,
                    SwarmState.FAILED,
                    EndReason.TIMEOUT,
                    f"timeout after {stype.timeout:g}s",
                    report,
                    failure=str(FailureClass.TIMEOUT),
                )
                continue
            latest: dict[int, AgentRow] = {}
            for a in self.store.agents(swarm.id):
                latest[a.slot] = a
            if len(latest) == swarm.size and all(
                a.state == AgentState.SUCCEEDED for a in latest.values()
            ):
                self._end_swarm(
                    swarm.id, SwarmState.SUCCEEDED, None, "all agents succeeded", report
                )
        # Agents whose swarm another Warden command ended (`warden swarm kill`).
        ids = {s.id for s in running}
        over = [lv for lv in self._live.values() if lv.kill is None and lv.swarm.id not in ids]
        self._begin_kill(over, EndReason.SWARM_KILLED)

    def _enforce(self, report: PollReport) -> Facts | None:
        """Stop own swarms the admission rule no longer lets run (R4, mode, budget
        tiers), then, past the mode's cap on concurrent swarms (a mode with a lower
        cap began), the least urgent and youngest first. Returns the facts it judged
        by when it stopped nothing (they still hold, the snapshot takes them)."""
        running = self.store.swarms(SwarmState.RUNNING, owner=self.owner)
        if not running:
            return None
        facts = self.facts()
        kept = []
        for swarm in running:
            priority = Priority(swarm.priority)
            refusal = admit(facts, priority, swarm.type)
            if refusal is None:
                kept.append(swarm)
                continue
            detail = explain(facts, refusal, priority, None)
            self.refuse("keep", refusal, detail, type=swarm.type, swarm=swarm.id)
            self._end_swarm(swarm.id, SwarmState.KILLED, refusal.end_reason, detail, report)
        excess = facts.running - (len(running) - len(kept)) - facts.mode_settings.max_swarms
        by_urgency = sorted(kept, key=lambda s: (Priority(s.priority).rank, s.created_at))
        for swarm in by_urgency[len(by_urgency) - max(0, excess) :]:
            detail = explain(facts, Refusal.MODE_CAPACITY, Priority(swarm.priority), None)
            self.refuse("keep", Refusal.MODE_CAPACITY, detail, type=swarm.type, swarm=swarm.id)
            self._end_swarm(swarm.id, SwarmState.KILLED, EndReason.MODE, detail, report)
        return facts if len(kept) == len(running) and excess <= 0 else None

    def _end_swarm(
        self,
        swarm_id: str,
        state: SwarmState,
        why: EndReason | None,
        reason: str,
        report: PollReport,
        failure: str | None = None,
    ) -> None:
        # The swarm's end is written first: a runtime in another process that
        # sees one of its agents die then knows it was killed, not a death.
        now = self.clock()
        if self.store.end_swarm(swarm_id, state, reason, now, failure):
            self.store.log_decision(
                "swarm_end", {"swarm": swarm_id, "state": str(state), "reason": reason}, now
            )
            report.swarms_ended.append((swarm_id, state))
            swarm = self.store.swarm(swarm_id)
            assert swarm is not None
            self._history.add_swarm(swarm, str(state), now - swarm.created_at)
            self._history_changed = True
        if why is not None:
            self._begin_kill([lv for lv in self._live.values() if lv.row.swarm_id == swarm_id], why)
            for row in self.store.agents(swarm_id, states=(AgentState.WAITING,)):
                self.store.update_agent(
                    row.id, state=AgentState.KILLED, ended_at=now, end_reason=str(why)
                )

    # -- killing --------------------------------------------------------------
    def _begin_kill(self, lives: list[_Live], why: EndReason, replace: bool = False) -> None:
        """SIGTERM now; `poll` sends SIGKILL after the grace and records the end."""
        for live in lives:
            if live.kill is not None:
                continue
            live.why, live.replace = why, replace
            target = Target(live.row.pid, live.row.swarm_id, live.row.id)
            live.kill = self.launcher.terminate([target], live.type.kill_grace)

    def _advance_kill(self, live: _Live, report: PollReport) -> None:
        assert live.kill is not None
        if not live.kill.step():
            if live.kill.overdue:
                log.warning("agent %s survives SIGKILL (pid %s)", live.row.id, live.row.pid)
            return
        code = live.proc.poll() if live.proc is not None else None
        for line in live.follower.poll():
            live.adapter.feed(line)
        self._end(live, code, report)

    def killing(self) -> int:
        """Kills in progress (their processes not yet all gone)."""
        return sum(lv.kill is not None for lv in self._live.values()) + len(self._foreign)

    def wait_kills(self, timeout: float = 60.0) -> None:
        """Poll until every kill in progress is done: for a caller that may wait."""
        deadline = time.monotonic() + timeout
        while self.killing() and time.monotonic() < deadline:
            time.sleep(0.02)
            self.poll()

    def kill_swarm(
        self,
        swarm_id: str,
        reason: str = "killed on request",
        why: EndReason = EndReason.SWARM_KILLED,
        wait: bool = False,
    ) -> bool:
        """Kill every agent of the swarm (certainly) and end it; False if not running.

        With `wait`, return once its processes are gone (the terminal may wait;
        the responder's owner does not)."""
        swarm = self.store.swarm(swarm_id)
        if swarm is None or swarm.state != SwarmState.RUNNING:
            return False
        self._end_swarm(swarm_id, SwarmState.KILLED, why, reason, PollReport())
        if (
            swarm.owner != self.owner
            and on_host(swarm.owner, self.host)
            and owner_alive(swarm.owner, self.host)
        ):
            # Its owner records the end; the kill is made certain from here too
            # (on its host only: another host's responder kills its own agents).
            grace = self.config.swarm_types[swarm.type].kill_grace
            targets = [
                Target(a.pid, a.swarm_id, a.id)
                for a in self.store.agents(swarm_id, states=LIVE_AGENT_STATES)
            ]
            self._foreign.append(self.launcher.terminate(targets, grace))
        if wait:
            self.wait_kills()
        self._publish()
        return True

    # -- restarts -------------------------------------------------------------
    def adopt(self, publish: bool = False) -> None:
        """Take over the swarms of runtimes that died (or closed), adopt their live
        agents, settle those that died meanwhile, and reap orphans; the snapshot is
        published again if that changed anything (or with `publish`)."""
        report = PollReport()
        orphaned = [
            s.id
            for s in self.store.swarms(SwarmState.RUNNING)
            if s.owner != self.owner and not owner_alive(s.owner, self.host)
        ]
        if orphaned:
            self.store.take_over(orphaned, self.owner)
        taken = len(self._live)
        for row in self.store.agents(states=LIVE_AGENT_STATES):
            if row.id in self._live or (
                row.owner != self.owner and owner_alive(row.owner, self.host)
            ):
                continue
            swarm = self.store.swarm(row.swarm_id)
            assert swarm is not None
            stype = self.config.swarm_types.get(swarm.type) or next(
                iter(self.config.swarm_types.values())
            )
            live = _Live(
                row,
                swarm,
                stype,
                FileFollower(Path(row.log_path), start_at_end=False),
                make_adapter(stype.adapter),
            )
            for line in live.follower.poll():
                live.adapter.feed(line)
            if self.launcher.alive(row.pid, row.start_time):
                # Its last output is when its log last grew. The file's
                # mtime is on the kernel's real-time clock; its age is
                # carried over to this runtime's clock (which may be set).
                with contextlib.suppress(OSError):
                    mtime = Path(row.log_path).stat().st_mtime
                    age = max(0.0, time.clock_gettime(time.CLOCK_REALTIME) - mtime)
                    row.last_progress_at = self.clock() - age
                self._live[row.id] = live
            else:
                self._end(live, None, report)
        reaped = self.reap_orphans()
        # Nothing taken over, ended or reaped: what readers see is still true (J1 looks
        # at every heartbeat, 10 s in a crisis).
        if publish or orphaned or report.ended or reaped or len(self._live) != taken:
            self._publish()

    def reap_orphans(self) -> list[int]:
        """SIGKILL processes carrying this state's mark whose agent no runtime knows as
        live (their agent ended, yet something it started lives on).

        The processes are listed before the live agents are read: an agent's row
        is live before its process starts, so a process started meanwhile is
        always known. Nothing is waited for: waiting would reap this process's
        own children behind the runtime's back."""
        marked = self.launcher.marked(self.instance)
        known = self.store.live_agent_ids() | set(self._live)
        pids = [pid for pid, agent in marked if agent not in known]
        if pids:
            self.launcher.kill(pids)
            self.store.log_decision("reap_orphans", {"pids": pids}, self.clock())
        self.launcher.sweep(known)
        return pids

    def prune(self, before: float) -> int:
        """J7: history older than `before` is compacted (see Store.prune) and the
        folders of swarms that ended before it (contexts, logs) are removed."""
        return cleanup.remove_old(self.config, self.store, before).swarms

    def live_agents(self) -> list[AgentRow]:
        return [dataclasses.replace(lv.row) for lv in self._live.values()]

    # -- snapshots --------------------------------------------------------------
    def _publish(self, facts: Facts | None = None) -> None:
        """The snapshot readers see; `facts` when the caller has them, still true."""
        store = self.store
        now = self.clock()
        running = tuple(store.swarms(SwarmState.RUNNING))
        type_of = {s.id: s.type for s in running}
        waiting = Counter(
            type_of.get(a.swarm_id, "") for a in store.agents(states=(AgentState.WAITING,))
        )
        self.snapshot = Snapshot(
            now,
            facts or self.facts(),
            tuple(self.live_agents()),
            running,
            dict(waiting),
            self._current_history(),
            dict(self.refusals),
        )

    def _current_history(self) -> History:
        """A copy for readers, made only when the tallies changed."""
        if time.monotonic() - self._history_at > HISTORY_RECOUNT_SECONDS:
            self._history, self._history_at = History.count(self.store), time.monotonic()
            self._history_changed = True
        if self._history_changed:
            self._published_history = self._history.copy()
            self._history_changed = False
        return self._published_history

    def drop(self) -> None:
        """Forget everything without a word to the store: what a SIGKILL of the
        process leaves behind (the simulator's responder crash)."""
        self._live.clear()
        self._foreign.clear()
        closed(self.owner)
        self.store.close()

    def close(self) -> None:
        """Finish the kills under way, then stop watching: the agents keep running
        and any runtime may adopt them."""
        self.wait_kills()
        self.launcher.settle()
        for live in self._live.values():
            live.follower.close()
        self._live.clear()
        if not self.store.read_only:
            self.store.release(self.owner, released(self.host))
        closed(self.owner)
        self.store.close()


def _placement(stype: SwarmType) -> Placement:
    """Whom the type's agents run as: its `user` when Warden is root (A3), else
    Warden's own user (only root may start processes as another); and its limits."""
    if os.geteuid() != 0:
        return Placement(memory_max=stype.memory_max, pids_max=stype.pids_max)
    return Placement(stype.user, stype.group, stype.memory_max, stype.pids_max)


def _hand_over(context_file: Path, stype: SwarmType) -> None:
    """The context belongs to the agents' user (written 0600 by root, they could not
    read it). Its folder stays Warden's, a passage: the agents' logs are opened
    there by root, which must never follow a link an agent put in their place."""
    user = _placement(stype).user
    if user is None:
        return
    entry = pwd.getpwnam(user)
    os.chown(context_file, entry.pw_uid, entry.pw_gid)
