"""The swarm runtime: start agents, watch them, retry them, kill them, pay for them.

Each agent is a process started from its swarm type's argument list (never a
shell), leading a session of its own, with stdout and stderr in a log file
under `state_dir/agents/`. The log is how the runtime sees progress: it
follows the file, so a restarted runtime re-reads it and loses nothing. Every
state change is written to the store before anything depends on it.

`poll()` is one step of watching; the caller runs it in a loop (the CLI) or
on a timer in a worker thread (the responder). It never blocks for long:
killing is the only wait, bounded by the type's `kill_grace`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from exporter.logfollow import FileFollower
from responder.adapters import Adapter, make_adapter
from responder.budget import Period, guard, may_run, scheduled_period
from responder.model import LIVE_AGENT_STATES, AgentState, Priority, SwarmState
from responder.store import AgentRow, LedgerEntry, Store, SwarmRow
from warden.atomicfile import write_atomic
from warden.config import Config, SwarmType
from warden.proc import kill_groups

ENV_RUNTIME = "WARDEN_RUNTIME"
ENV_AGENT = "WARDEN_AGENT_ID"
MAX_BACKOFF_SECONDS = 300.0


class SpawnRefused(Exception):
    """A swarm was not started; `reason` says why (budget, priority, unknown type)."""


@dataclass
class _Live:
    row: AgentRow
    swarm: SwarmRow
    type: SwarmType
    follower: FileFollower
    adapter: Adapter
    proc: subprocess.Popen[bytes] | None = None
    """Set for agents this process started; None for agents adopted after a restart."""
    killing: bool = False
    kill_reason: str = ""


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
        period: Callable[[], Period] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.agents_dir = config.state_dir / "agents"
        self.store = store or Store(config.state_dir / "warden.db")
        self._period = period or self.scheduled_period
        # Agents carry this in their environment: it tells this runtime's
        # orphans from those of another Warden on the same host.
        self.instance = hashlib.sha256(str(self.store.path.resolve()).encode()).hexdigest()[:16]
        self._live: dict[str, _Live] = {}
        self._lock = threading.RLock()
        self.adopt()

    # -- budget ---------------------------------------------------------------
    def scheduled_period(self) -> Period:
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        return scheduled_period(now, self.config.schedule, self.config.budget)

    def period(self) -> Period:
        return self._period()

    def committed(self) -> float:
        """What live agents may still spend: each run's cap (its own limit)."""
        with self._lock:
            return sum(live.type.budget_usd for live in self._live.values())

    def budget_status(self) -> dict[str, object]:
        p = self.period()
        spend = self.store.spend(p.key)
        return {
            "mode": p.mode,
            "period": p.key,
            "cap_usd": p.cap_usd,
            "spend_usd": spend,
            "remaining_usd": max(0.0, p.cap_usd - spend),
            "committed_usd": self.committed(),
        }

    def _check_budget(self, priority: Priority, cost: float) -> None:
        p = self.period()
        spend = self.store.spend(p.key)
        tiers = self.config.budget.tiers
        if not may_run(priority, spend, p.cap_usd, tiers):
            raise SpawnRefused(
                f"budget tier: {priority} may not start at ${spend:.2f} of "
                f"${p.cap_usd:.2f} ({p.key})"
            )
        reason = guard(spend, self.committed(), cost, p.cap_usd)
        if reason:
            raise SpawnRefused(f"spawn guard: {reason} ({p.key})")

    # -- starting -------------------------------------------------------------
    def start_swarm(
        self,
        type_name: str,
        priority: Priority,
        trigger: str,
        context: str,
        size: int | None = None,
    ) -> SwarmRow:
        """Start a swarm, or raise SpawnRefused. The refusal is logged as a decision."""
        stype = self.config.swarm_types.get(type_name)
        if stype is None:
            known = ", ".join(sorted(self.config.swarm_types))
            raise SpawnRefused(f"unknown swarm type {type_name!r} (known: {known})")
        n = size or stype.size
        with self._lock:
            try:
                self._check_budget(priority, n * stype.budget_usd)
            except SpawnRefused as exc:
                self.store.log_decision(
                    "spawn_refused",
                    {
                        "type": type_name,
                        "priority": str(priority),
                        "trigger": trigger,
                        "reason": str(exc),
                    },
                    self.clock(),
                )
                raise
            now = self.clock()
            swarm_id = f"s{uuid.uuid4().hex[:10]}"
            folder = self.agents_dir / swarm_id
            context_file = folder / "context.md"
            write_atomic(context_file, context.encode())
            swarm = SwarmRow(
                swarm_id,
                type_name,
                str(priority),
                n,
                trigger,
                context,
                str(context_file),
                stype.budget_usd,
                self.period().key,
                SwarmState.RUNNING,
                "",
                now,
                None,
            )
            agents = [self._new_agent(swarm, slot, 0) for slot in range(n)]
            self.store.add_swarm(swarm, agents)
            self.store.log_decision(
                "spawn",
                {
                    "swarm": swarm_id,
                    "type": type_name,
                    "priority": str(priority),
                    "size": n,
                    "trigger": trigger,
                },
                now,
            )
            for a in agents:
                self._spawn(a, swarm, stype)
            return swarm

    def _new_agent(
        self, swarm: SwarmRow, slot: int, attempt: int, retry_at: float | None = None
    ) -> AgentRow:
        agent_id = f"{swarm.id}-{slot}-{attempt}"
        log = self.agents_dir / swarm.id / f"{agent_id}.log"
        state = AgentState.WAITING if retry_at is not None else AgentState.SPAWNING
        return AgentRow(
            agent_id,
            swarm.id,
            slot,
            attempt,
            state,
            None,
            None,
            str(log),
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
        )

    def _spawn(self, row: AgentRow, swarm: SwarmRow, stype: SwarmType) -> None:
        values = {
            "{prompt}": stype.prompt.replace("{context_file}", swarm.context_file),
            "{context_file}": swarm.context_file,
            "{budget_usd}": f"{stype.budget_usd:g}",
            "{swarm_id}": swarm.id,
            "{agent_id}": row.id,
        }
        argv = [values.get(arg, arg) for arg in stype.command]
        env = {
            **os.environ,
            **stype.env,
            ENV_RUNTIME: self.instance,
            ENV_AGENT: row.id,
            "WARDEN_SWARM_ID": swarm.id,
            "WARDEN_CONTEXT_FILE": swarm.context_file,
        }
        log_path = Path(row.log_path)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        now = self.clock()
        with log_path.open("ab") as log:
            try:
                proc = subprocess.Popen(
                    argv,
                    cwd=stype.cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                log.write(f"warden: cannot start {argv[0]!r}: {exc}\n".encode())
                proc = None
        if proc is None:
            row.state, row.started_at = AgentState.SPAWNING, now
            live = _Live(
                row,
                swarm,
                stype,
                FileFollower(log_path, start_at_end=False),
                make_adapter(stype.adapter),
            )
            self._end(live, exit_code=127, report=PollReport())
            return
        try:
            start_time = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            start_time = None
        row.pid, row.start_time, row.started_at = proc.pid, start_time, now
        row.state = AgentState.SPAWNING
        self.store.update_agent(
            row.id,
            state=row.state,
            pid=proc.pid,
            start_time=start_time,
            started_at=now,
            retry_at=None,
        )
        self._live[row.id] = _Live(
            row,
            swarm,
            stype,
            FileFollower(log_path, start_at_end=False),
            make_adapter(stype.adapter),
            proc=proc,
        )

    # -- watching -------------------------------------------------------------
    def poll(self) -> PollReport:
        report = PollReport()
        with self._lock:
            now = self.clock()
            for live in list(self._live.values()):
                self._watch(live, now, report)
            self._start_due_retries(now, report)
            self._check_swarms(now, report)
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
            self._mark_stuck(live, "spawning", report)
        elif (
            row.state == AgentState.RUNNING
            and now - (row.last_progress_at or now) > stype.stuck_after
        ):
            self._mark_stuck(live, "silent", report)

    def _mark_stuck(self, live: _Live, why: str, report: PollReport) -> None:
        """W3/W4: a stuck agent is killed and replaced (a retry, with its backoff)."""
        live.row.state = AgentState.STUCK
        self.store.update_agent(live.row.id, state=AgentState.STUCK)
        self.store.log_decision("agent_stuck", {"agent": live.row.id, "why": why}, self.clock())
        self._kill([live], f"stuck ({why})", replace=True, report=report)

    def _exit_status(self, live: _Live) -> tuple[int | None, bool]:
        """(exit code or None if unknown, whether the agent is gone)."""
        if live.proc is not None:
            code = live.proc.poll()
            return code, code is not None
        return None, not _same_process_alive(live.row.pid, live.row.start_time)

    def _end(
        self, live: _Live, exit_code: int | None, report: PollReport, replace: bool = False
    ) -> None:
        """Record how an agent ended, pay for it, and retry it or settle its swarm."""
        row, result, now = live.row, live.adapter.result, self.clock()
        self._live.pop(row.id, None)
        live.follower.close()
        stored = self.store.agent(row.id)
        if stored is not None and not AgentState(stored.state).live:
            return  # another runtime (`warden swarm kill`) settled it already
        error = bool(result and result.is_error)
        swarm = self.store.swarm(row.swarm_id)
        swarm_over = swarm is not None and swarm.state != SwarmState.RUNNING
        if (live.killing and not replace) or (swarm_over and exit_code != 0):
            state, death = AgentState.KILLED, None
        elif (
            not live.killing
            and not error
            and (exit_code == 0 or (exit_code is None and result is not None))
        ):
            state, death = AgentState.SUCCEEDED, None
        else:
            state = AgentState.FAILED
            if live.killing:
                death = None  # replaced by Warden (stuck): not a death
            elif error:
                death = "error"
            elif exit_code is not None and exit_code in (-9, -15):
                death = "killed"
            else:
                death = "crashed"
        started = row.started_at is not None and row.pid is not None
        cost = result.cost_usd if result and result.cost_usd is not None else None
        amount = cost if cost is not None else (live.type.budget_usd if started else 0.0)
        ledger = LedgerEntry(
            row.id,
            row.swarm_id,
            live.swarm.type,
            live.swarm.period,
            amount,
            int(cost is None and started),
            now,
        )
        row.state = state
        self.store.end_agent(
            row.id,
            ledger,
            state=state,
            ended_at=now,
            exit_code=exit_code,
            death_reason=death,
            cost_usd=amount,
            result_error=None if result is None else int(error),
        )
        report.ended.append((row.id, state))
        if state == AgentState.FAILED and not swarm_over:
            self._retry_or_fail(live, death or "replaced", now, report)

    def _retry_or_fail(self, live: _Live, why: str, now: float, report: PollReport) -> None:
        row, stype, swarm = live.row, live.type, live.swarm
        if row.attempt >= stype.retries:
            self._end_swarm(
                swarm.id,
                SwarmState.FAILED,
                f"agent slot {row.slot} failed {row.attempt + 1} times ({why})",
                report,
            )
            return
        delay = min(MAX_BACKOFF_SECONDS, stype.retry_backoff * 2**row.attempt)
        self.store.add_agent(self._new_agent(swarm, row.slot, row.attempt + 1, now + delay))

    def _start_due_retries(self, now: float, report: PollReport) -> None:
        for row in self.store.agents(states=(AgentState.WAITING,)):
            if row.retry_at is None or row.retry_at > now:
                continue
            swarm = self.store.swarm(row.swarm_id)
            if swarm is None or swarm.state != SwarmState.RUNNING:
                self.store.update_agent(row.id, state=AgentState.KILLED, ended_at=now)
                continue
            stype = self.config.swarm_types[swarm.type]
            try:
                self._check_budget(Priority(swarm.priority), stype.budget_usd)
            except SpawnRefused as exc:
                self.store.update_agent(row.id, state=AgentState.KILLED, ended_at=now)
                self._end_swarm(swarm.id, SwarmState.FAILED, f"retry refused: {exc}", report)
                continue
            self._spawn(row, swarm, stype)

    def _check_swarms(self, now: float, report: PollReport) -> None:
        for swarm in self.store.swarms(SwarmState.RUNNING):
            stype = self.config.swarm_types.get(swarm.type)
            if stype is not None and now - swarm.created_at > stype.timeout:
                self.kill_swarm(
                    swarm.id,
                    f"timeout after {stype.timeout:g}s",
                    state=SwarmState.FAILED,
                    report=report,
                )
                continue
            agents = self.store.agents(swarm.id)
            latest: dict[int, AgentRow] = {}
            for a in agents:
                latest[a.slot] = a
            if len(latest) == swarm.size and all(
                a.state == AgentState.SUCCEEDED for a in latest.values()
            ):
                self._end_swarm(swarm.id, SwarmState.SUCCEEDED, "all agents succeeded", report)

    def _end_swarm(self, swarm_id: str, state: SwarmState, reason: str, report: PollReport) -> None:
        # The swarm's end is written first: a runtime in another process that
        # sees one of its agents die then knows it was killed, not a death.
        now = self.clock()
        if self.store.end_swarm(swarm_id, state, reason, now):
            self.store.log_decision(
                "swarm_end", {"swarm": swarm_id, "state": str(state), "reason": reason}, now
            )
            report.swarms_ended.append((swarm_id, state))
        if state != SwarmState.SUCCEEDED:
            others = [lv for lv in self._live.values() if lv.row.swarm_id == swarm_id]
            self._kill(others, reason, replace=False, report=report)
        for row in self.store.agents(swarm_id, states=(AgentState.WAITING,)):
            self.store.update_agent(row.id, state=AgentState.KILLED, ended_at=now)

    # -- killing --------------------------------------------------------------
    def _kill(self, lives: list[_Live], reason: str, replace: bool, report: PollReport) -> None:
        if not lives:
            return
        for live in lives:
            live.killing, live.kill_reason = True, reason
        grace = max(live.type.kill_grace for live in lives)
        kill_groups([lv.row.pid for lv in lives if lv.row.pid], grace)
        for live in lives:
            if live.proc is not None:
                live.proc.wait()
            code = live.proc.returncode if live.proc is not None else None
            for line in live.follower.poll():
                live.adapter.feed(line)
            self._end(live, code, report, replace=replace)

    def kill_swarm(
        self,
        swarm_id: str,
        reason: str = "killed on request",
        state: SwarmState = SwarmState.KILLED,
        report: PollReport | None = None,
    ) -> bool:
        """Kill every agent of the swarm (certainly) and end it; False if not running."""
        with self._lock:
            swarm = self.store.swarm(swarm_id)
            if swarm is None or swarm.state != SwarmState.RUNNING:
                return False
            self._end_swarm(swarm_id, state, reason, report or PollReport())
            return True

    def kill_where(self, keep: Callable[[SwarmRow], bool], reason: str) -> list[str]:
        """Kill every running swarm for which `keep` is False (budget tiers, crises)."""
        killed = [s.id for s in self.store.swarms(SwarmState.RUNNING) if not keep(s)]
        for swarm_id in killed:
            self.kill_swarm(swarm_id, reason)
        return killed

    def enforce_budget(self) -> list[str]:
        """J5: kill what the current tier no longer allows."""
        p = self.period()
        spend = self.store.spend(p.key)
        tiers = self.config.budget.tiers
        return self.kill_where(
            lambda s: may_run(Priority(s.priority), spend, p.cap_usd, tiers),
            f"budget: ${spend:.2f} of ${p.cap_usd:.2f} spent in {p.key}",
        )

    # -- restarts -------------------------------------------------------------
    def adopt(self) -> None:
        """Take over agents a previous runtime started; settle those that died meanwhile."""
        report = PollReport()
        with self._lock:
            for row in self.store.agents(states=LIVE_AGENT_STATES):
                swarm = self.store.swarm(row.swarm_id)
                assert swarm is not None
                stype = self.config.swarm_types.get(swarm.type)
                if stype is None:
                    stype = next(iter(self.config.swarm_types.values()))
                live = _Live(
                    row,
                    swarm,
                    stype,
                    FileFollower(Path(row.log_path), start_at_end=False),
                    make_adapter(stype.adapter),
                )
                for line in live.follower.poll():
                    live.adapter.feed(line)
                if _same_process_alive(row.pid, row.start_time):
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
            self.reap_orphans()

    def reap_orphans(self) -> list[int]:
        """Kill processes carrying this runtime's mark that belong to no live agent."""
        own = set(self._live)
        orphans: list[psutil.Process] = []
        for proc in psutil.process_iter(["pid"]):
            try:
                env = proc.environ()
            except psutil.Error:
                continue
            if env.get(ENV_RUNTIME) == self.instance and env.get(ENV_AGENT) not in own:
                orphans.append(proc)
        pids = [p.pid for p in orphans]
        if pids:
            for p in orphans:
                with contextlib.suppress(psutil.Error):
                    p.kill()
            psutil.wait_procs(orphans, timeout=5)
            self.store.log_decision("reap_orphans", {"pids": pids}, self.clock())
        return pids

    def live_agents(self) -> list[AgentRow]:
        with self._lock:
            return [lv.row for lv in self._live.values()]

    def close(self) -> None:
        """Stop watching; agents keep running and a new runtime adopts them."""
        with self._lock:
            for live in self._live.values():
                live.follower.close()
            self._live.clear()
            self.store.close()


def _same_process_alive(pid: int | None, start_time: float | None) -> bool:
    """The pid runs and is the process we started (not a reused pid)."""
    if pid is None:
        return False
    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return False
        return start_time is None or abs(p.create_time() - start_time) < 0.05
    except psutil.Error:
        return False
