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

import dataclasses
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from responder.act import ending, orphans, spawning
from responder.act.apart import Apart, Ends
from responder.act.cgroups import Cgroups
from responder.act.launcher import Launcher, Processes, Stopping, Target
from responder.act.live import LiveAgent, PollReport, SpawnRefused
from responder.act.owners import closed, new_owner, on_host, owner_alive, released
from responder.act.refusals import RefusalLog
from responder.act.snapshot import Snapshot, Tallies
from responder.model import (
    LIVE_AGENT_STATES,
    LIVE_SWARM_STATES,
    AgentState,
    EndReason,
    Priority,
    SwarmState,
)
from responder.rules import breaker
from responder.rules.admission import (
    PATHS,
    Facts,
    Refusal,
    admit,
    explain,
    gather_facts,
    make_room,
    unwelcome,
)
from responder.rules.failures import EXIT_CANNOT_START, Failure, FailureClass
from responder.rules.modes import Situation, assess
from responder.state.held import Held
from responder.state.store import AgentRow, Store, SwarmRow, open_store
from responder.verify.workshop import Workshop
from warden.config import Config, SwarmType

log = logging.getLogger(__name__)


class Runtime:
    def __init__(
        self,
        config: Config,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
        situation: Callable[[], Situation] | None = None,
        launcher: Launcher | None = None,
        held: Held | None = None,
        workshop: Callable[[Config], Workshop] = Workshop.on,
    ) -> None:
        """`workshop`: where swarms of types with `isolation: worktree` work apart and
        are verified."""
        self.config, self.clock = config, clock
        self.agents_dir = config.state_dir / "agents"
        self.store = store or open_store(config)
        self.held = held or Held(self.store)  # what its owner holds in memory
        self._situation = situation or (lambda: assess(config, self.store, clock(), self.held))
        # Agents carry this in their environment and cgroups' path: it tells this state's
        # agents from another Warden's (each host's, where several share a server).
        identity = self.store.identity
        if self.store.shared:
            identity += f"#{config.responder.id}"
        self.instance = hashlib.sha256(identity.encode()).hexdigest()[:16]
        self.launcher = launcher or Processes(Cgroups.open(self.instance))
        self.host = config.responder.id if self.store.shared else ""
        """Where this runtime's agents run: it adopts, kills and reaps only these."""
        self.owner = new_owner(self.host)
        self._live: dict[str, LiveAgent] = {}
        self._foreign: list[Stopping] = []
        """Kills of agents another live runtime owns (`warden swarm kill`)."""
        self.refusals: Counter[tuple[str, str]] = Counter()
        self.set_aside: list[str] = []
        """Agents whose reported cost was set aside, for the owner to tell a person of."""
        self._tallies = Tallies(self.store)
        self._refusal_log = RefusalLog(self.store, clock)
        self.snapshot: Snapshot
        ends = Ends(self._end_swarm, self.start_swarm)
        self.apart = Apart(config, self.store, self.held, workshop(config), ends)
        self.adopt(publish=True)  # a new owner: what it resumes is what it takes over

    # -- admission and budget -------------------------------------------------
    def facts(self) -> Facts:
        """Everything the admission rule looks at, now (the pauses as held)."""
        sit, now = self._situation(), self.clock()
        return gather_facts(self.config, self.held, sit, now, self.held.pauses())

    def refuse(self, path: str, reason: Refusal, detail: str, **context: str) -> SpawnRefused:
        """Count and log a refusal (every path, one metric); the caller raises or reports it."""
        assert path in PATHS, path
        self.refusals[(path, str(reason))] += 1
        self._refusal_log.log(path, str(reason), detail, context)
        return SpawnRefused(reason, detail)

    # -- starting -------------------------------------------------------------
    def start_swarm(
        self,
        type_name: str,
        priority: Priority,
        trigger: str,
        context: str,
        size: int | None = None,
        path: str = "cli",
        retry_of: str | None = None,
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
        apart = self.apart if stype.isolation == "worktree" else None
        self.held.look()  # a pause lifted in a terminal a moment ago counts
        # Checked and written under the fleet-wide guard: responders racing at
        # the cap are admitted one at a time, each counting the one before.
        with self.store.spawn_guard():
            facts = self.facts()
            refusal = admit(facts, priority, type_name, cost)
            if refusal is Refusal.MODE_CAPACITY and (room := self._make_room(priority, type_name)):
                # Its end is in the guard's transaction, which the reads do not see yet.
                facts = facts.without(room)
                refusal = admit(facts, priority, type_name, cost)
            if refusal is None:
                swarm = spawning.new_swarm(
                    self.agents_dir,
                    stype,
                    type_name,
                    priority,
                    n,
                    trigger,
                    context,
                    facts.period.key,
                    self.clock(),
                    self.owner,
                    retry_of,
                )
                # Rows before processes: an agent's process exists only while its row
                # says it is live, so no runtime can take it for an orphan.
                agents = [
                    spawning.new_agent(
                        self.agents_dir, swarm, slot, 0, self.owner, held=apart is not None
                    )
                    for slot in range(n)
                ]
                self.store.add_swarm(swarm, agents)
                detail = {"swarm": swarm.id, "size": n, **ctx}
                self.store.log_decision("spawn", detail, swarm.created_at)  # in the guard's
        if refusal is not None:
            raise self.refuse(
                path, refusal, explain(facts, refusal, priority, cost, type_name), **ctx
            )
        if apart is not None:
            apart.begin(swarm, stype)  # its agents start once their worktree is
        else:
            for a in agents:
                self._spawn(a, swarm, stype)
        # Not published yet: the step's poll publishes once what it admits still
        # runs, so no reader sees work that the same step stops.
        return swarm

    def _make_room(self, priority: Priority, type_name: str) -> str | None:
        """At the mode's cap, end this runtime's least urgent swarm for a CRITICAL
        start; the ended swarm's type, or None."""
        victim = make_room(priority, self.store.swarms(SwarmState.RUNNING, owner=self.owner))
        if victim is not None:
            why = f"preempted by a {priority} {type_name} swarm at the mode's cap"
            self._end_swarm(victim.id, SwarmState.KILLED, EndReason.MODE, why, PollReport())
        return None if victim is None else victim.type

    def _spawn(self, row: AgentRow, swarm: SwarmRow, stype: SwarmType) -> None:
        argv = spawning.argv(stype, swarm, row)
        env = spawning.environment(stype, swarm, row, self.instance, self.config.state_dir)
        log_path = Path(row.log_path)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        now = self.clock()
        if row.state != AgentState.SPAWNING:  # a retry: live before its process exists
            row.state = AgentState.SPAWNING
            self.store.update_agent(row.id, state=row.state, retry_at=None)
        live = LiveAgent.following(row, swarm, stype)
        try:
            cwd = self.apart.cwd(swarm, stype)
            live.proc = self.launcher.start(argv, cwd, env, log_path, spawning.placement(stype))
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
        self.apart.step(now, report)
        self._start_due_retries(now, report)
        self._check_swarms(now, report)
        self._publish(self._enforce(report))
        return report

    def _watch(self, live: LiveAgent, now: float, report: PollReport) -> None:
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
                if not gone:  # one that ended too has them written with its end
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

    def _mark_stuck(self, live: LiveAgent, why: EndReason) -> None:
        """W3/W4: a stuck agent is killed and replaced (a retry, with its backoff)."""
        live.row.state = AgentState.STUCK
        self.store.update_agent(live.row.id, state=AgentState.STUCK)
        self.store.log_decision(
            "agent_stuck", {"agent": live.row.id, "why": why.stuck}, self.clock()
        )
        self._begin_kill([live], why, replace=True)

    def _exit_status(self, live: LiveAgent) -> tuple[int | None, bool]:
        """(exit code or None if unknown, whether the agent is gone)."""
        if live.proc is not None:
            code = live.proc.poll()
            return code, code is not None
        return None, not self.launcher.alive(live.row.pid, live.row.start_time)

    def _end(self, live: LiveAgent, exit_code: int | None, report: PollReport) -> None:
        """Record how an agent ended, pay for it, and retry it or settle its swarm."""
        row, now = live.row, self.clock()
        stored = self.store.agent(row.id)
        if stored is not None and not AgentState(stored.state).live:
            self._forget(live)
            return  # settled already (a retry of this step after a crash)
        swarm = self.store.swarm(row.swarm_id)
        swarm_over = swarm is not None and swarm.state != SwarmState.RUNNING
        end = ending.classify(live.adapter, exit_code, live.why, swarm_over)
        ran = row.started_at is not None and row.pid is not None
        paid = ending.charge(live.adapter, end, ran, live.type.budget_usd, self.config.budget)
        if ending.note_charge(self.store, live, paid, now):
            self.set_aside.append(row.id)
        ending.record(self.store, live, end, paid, exit_code, now, self._situation().period.key)
        # Forgotten only once its end is written: a store that failed (a database
        # outage) leaves it watched, and the next poll ends it with what it printed.
        self._forget(live)
        report.ended.append((row.id, end.state))
        self._tallies.agent_ended(
            live.swarm.type, paid.amount, end, live.adapter.refused_cost is not None
        )
        failure = end.failure
        if end.state == AgentState.FAILED and failure is not None and failure.cls.permanent:
            breaker.trip(self.store, self.held, live.type, failure, now)
        if swarm_over or failure is None or (end.state == AgentState.KILLED and not live.replace):
            return
        self._retry_or_fail(live, failure, now, report)

    def _forget(self, live: LiveAgent) -> None:
        self._live.pop(live.row.id, None)
        live.follower.close()
        self.launcher.forget(live.row.swarm_id, live.row.id)

    def _retry_or_fail(
        self, live: LiveAgent, failure: Failure, now: float, report: PollReport
    ) -> None:
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
        at = now + failure.backoff(stype.retry_backoff, row.attempt)
        self.store.add_agent(
            spawning.new_agent(self.agents_dir, swarm, row.slot, row.attempt + 1, self.owner, at)
        )

    def _start_due_retries(self, now: float, report: PollReport) -> None:
        held, store = self.held, self.store
        for row in held.read(store.agents, states=(AgentState.WAITING,), owner=self.owner):
            if row.retry_at is None or row.retry_at > now:
                continue
            swarm = held.read(store.swarm, row.swarm_id)
            if swarm is None or swarm.state != SwarmState.RUNNING:
                self.store.update_agent(row.id, state=AgentState.KILLED, ended_at=now)
                continue
            stype = self.config.swarm_types[swarm.type]
            priority = Priority(swarm.priority)
            with self.store.spawn_guard():
                # The swarm runs already: it is not counted again against the caps.
                facts = self.facts().without(swarm.type)
                refusal = admit(facts, priority, swarm.type, stype.budget_usd)
                if refusal is None:  # live (and so committed) before the guard is let go
                    row.state = AgentState.SPAWNING
                    self.store.update_agent(row.id, state=row.state, retry_at=None)
            if refusal is not None:
                detail = explain(facts, refusal, priority, stype.budget_usd, swarm.type)
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
        running = self.held.read(self.store.swarms, SwarmState.RUNNING, owner=self.owner)
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
            tries = self.held.read(self.store.agents, swarm.id)
            latest = {a.slot: a.state for a in tries}  # the last try
            if len(latest) < swarm.size or set(latest.values()) != {AgentState.SUCCEEDED}:
                continue
            if stype is not None and swarm.worktree is not None:
                self.apart.judge(swarm, stype, now)  # its work is judged, not its word
                continue
            self._end_swarm(swarm.id, SwarmState.SUCCEEDED, None, "all agents succeeded", report)
        # Agents whose swarm another Warden command ended (`warden swarm kill`).
        ids = {s.id for s in running}
        over = [lv for lv in self._live.values() if lv.kill is None and lv.swarm.id not in ids]
        self._begin_kill(over, EndReason.SWARM_KILLED)

    def _enforce(self, report: PollReport) -> Facts | None:
        """Stop own swarms the admission rule no longer lets run (R4, mode, budget
        tiers, the mode's cap). Returns the facts it judged by when it stopped nothing
        (they still hold, the snapshot takes them)."""
        running = self.held.read(self.store.swarms, SwarmState.RUNNING, owner=self.owner)
        if not running:
            return None
        facts = self.facts()
        stop = unwelcome(facts, running)
        for swarm, refusal, detail in stop:
            self.refuse("keep", refusal, detail, type=swarm.type, swarm=swarm.id)
            self._end_swarm(swarm.id, SwarmState.KILLED, refusal.end_reason, detail, report)
        return None if stop else facts

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
        if self.store.end_swarm(swarm_id, str(state), reason, now, failure, logged=True):
            report.swarms_ended.append((swarm_id, state))
            swarm = self.store.swarm(swarm_id)
            assert swarm is not None
            self._tallies.swarm_ended(swarm, str(state), now - swarm.created_at)
        if why is not None:
            self._begin_kill([lv for lv in self._live.values() if lv.row.swarm_id == swarm_id], why)
            for row in self.store.agents(swarm_id, states=(AgentState.WAITING,)):
                self.store.update_agent(
                    row.id, state=AgentState.KILLED, ended_at=now, end_reason=str(why)
                )

    # -- killing --------------------------------------------------------------
    def _begin_kill(self, lives: list[LiveAgent], why: EndReason, replace: bool = False) -> None:
        """SIGTERM now; `poll` sends SIGKILL after the grace and records the end."""
        for live in lives:
            if live.kill is not None:
                continue
            live.why, live.replace = why, replace
            target = Target(live.row.pid, live.row.swarm_id, live.row.id)
            live.kill = self.launcher.terminate([target], live.type.kill_grace)

    def _advance_kill(self, live: LiveAgent, report: PollReport) -> None:
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
        report, held, store = PollReport(), self.held, self.store
        orphaned = [
            s.id
            for state in LIVE_SWARM_STATES
            for s in held.read(store.swarms, state)
            if s.owner != self.owner and not owner_alive(s.owner, self.host)
        ]
        if orphaned:
            store.take_over(orphaned, self.owner)
            self.apart.resume(self.owner, set(orphaned))
        taken = len(self._live)
        for row in held.read(store.agents, states=LIVE_AGENT_STATES):
            if row.id in self._live or (
                row.owner != self.owner and owner_alive(row.owner, self.host)
            ):
                continue
            swarm = held.read(store.swarm, row.swarm_id)
            assert swarm is not None
            stype = self.config.swarm_types.get(swarm.type) or next(
                iter(self.config.swarm_types.values())
            )
            live = LiveAgent.following(row, swarm, stype)
            for line in live.follower.poll():
                live.adapter.feed(line)
            if self.launcher.alive(row.pid, row.start_time):
                live.carry_progress(self.clock())
                self._live[row.id] = live
            else:
                self._end(live, None, report)
        reaped = self.reap_orphans()
        # Nothing taken over, ended or reaped: what readers see is still true.
        if publish or orphaned or report.ended or reaped or len(self._live) != taken:
            self._publish()

    def reap_orphans(self) -> list[int]:
        return orphans.reap(self.launcher, self.instance, set(self._live), self.store, self.clock())

    def live_agents(self) -> list[AgentRow]:
        return [dataclasses.replace(lv.row) for lv in self._live.values()]

    # -- snapshots --------------------------------------------------------------
    def _publish(self, facts: Facts | None = None) -> None:
        """The snapshot readers see; `facts` when the caller has them, still true."""
        self.snapshot = Snapshot.taken(
            self.held,
            self.clock(),
            facts or self.facts(),
            self.live_agents(),
            self._tallies,
            dict(self.refusals),
        )

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
        self.apart.workshop.close()
        for live in self._live.values():
            live.follower.close()
        self._live.clear()
        if not self.store.read_only:
            self.store.release(self.owner, released(self.host))
        closed(self.owner)
        self.store.close()
