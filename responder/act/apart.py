"""Swarms that work apart (`swarms.isolation: worktree`), seen from the runtime:
an isolated swarm's agents wait for its worktree, start in it, and when they all
end well the swarm waits for the project's checks (`verifying`); its outcome
decides how it ends. The workshop does the slow part on its own threads; this
hands it the work and writes down what it did, on the owner's thread.

An outcome that is not the work done (regressed, unverified, conflict) gets one
retry: a swarm of the same type and trigger whose context says what went wrong.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from responder.act import spawning
from responder.act.launcher import inherited_environment
from responder.act.live import PollReport, SpawnRefused
from responder.model import AgentState, EndReason, Outcome, Priority, SwarmState
from responder.state.held import Held
from responder.state.store import Store, SwarmRow
from responder.verify.checks import Hands
from responder.verify.work import BRANCH_PREFIX, Prepared, Verdict, Work
from responder.verify.workshop import Workshop
from warden.config import Config, SwarmType

RETRIED = (Outcome.REGRESSED, Outcome.UNVERIFIED, Outcome.CONFLICT)
"""Outcomes that get one more try, told what went wrong."""


class EndSwarm(Protocol):
    def __call__(
        self,
        swarm_id: str,
        state: SwarmState,
        why: EndReason | None,
        reason: str,
        report: PollReport,
    ) -> None: ...


class StartSwarm(Protocol):
    def __call__(
        self,
        type_name: str,
        priority: Priority,
        trigger: str,
        context: str,
        size: int | None,
        path: str,
        retry_of: str | None,
    ) -> SwarmRow: ...


@dataclass(frozen=True)
class Ends:
    """The runtime's own ways to end a swarm and start one (admission asked)."""

    end: EndSwarm
    start: StartSwarm


class Apart:
    def __init__(
        self, config: Config, store: Store, held: Held, workshop: Workshop, ends: Ends
    ) -> None:
        self.config, self.store, self.held, self.workshop = config, store, held, workshop
        self.ends = ends

    def cwd(self, swarm: SwarmRow, stype: SwarmType) -> Path:
        """Where an agent of the swarm starts: the type's `cwd`, in its worktree."""
        if swarm.worktree is None:
            return stype.cwd
        project = self.config.project_dir
        inside = stype.cwd.is_relative_to(project)
        return Path(swarm.worktree) / (stype.cwd.relative_to(project) if inside else "")

    def begin(self, swarm: SwarmRow, stype: SwarmType) -> None:
        """The new swarm's worktree is made; its agents wait for it."""
        self.workshop.prepare(self._work(swarm, stype))

    def judge(self, swarm: SwarmRow, stype: SwarmType, now: float) -> None:
        """Its agents all ended well: the checks judge their work."""
        self.store.update_swarm(swarm.id, state=SwarmState.VERIFYING)
        self.store.log_decision("verifying", {"swarm": swarm.id, "type": swarm.type}, now)
        self.workshop.verify(self._work(swarm, stype))

    def resume(self, owner: str, taken: set[str]) -> None:
        """Hand in again what a process that died left half done (each job is safe
        twice): worktrees not made, work not judged, of the swarms `taken` over."""
        held, store = self.held, self.store
        for state in (SwarmState.VERIFYING, SwarmState.RUNNING):
            for swarm in held.read(store.swarms, state, owner=owner):
                stype = self.config.swarm_types.get(swarm.type)
                if stype is None or swarm.id not in taken:
                    continue
                if state == SwarmState.VERIFYING:
                    self.workshop.verify(self._work(swarm, stype))
                elif stype.isolation == "worktree" and swarm.base is None:
                    self.workshop.prepare(self._work(swarm, stype))

    def step(self, now: float, report: PollReport) -> None:
        for done in self.workshop.done():
            swarm = self.store.swarm(done.swarm_id)
            if swarm is None or not swarm.live:
                continue  # ended meanwhile (killed, timed out)
            if isinstance(done, Prepared):
                self._prepared(swarm, done, now, report)
            else:
                self._verdict(swarm, done, now, report)

    def _prepared(self, swarm: SwarmRow, done: Prepared, now: float, report: PollReport) -> None:
        if done.error is not None:
            self.ends.end(swarm.id, SwarmState.FAILED, EndReason.SWARM_FAILED, done.error, report)
            return
        tree = str(self.workshop.tree(swarm.id))
        self.store.update_swarm(
            swarm.id, worktree=tree, branch=BRANCH_PREFIX + swarm.id, base=done.base
        )
        for row in self.store.agents(swarm.id, states=(AgentState.WAITING,)):
            if row.retry_at is None:  # released: started at this step, admission asked
                self.store.update_agent(row.id, retry_at=now)

    def _verdict(self, swarm: SwarmRow, done: Verdict, now: float, report: PollReport) -> None:
        stype, judged = self.config.swarm_types.get(swarm.type), done.judgement
        expects = stype.expects_change if stype is not None else True
        good = judged.outcome == Outcome.VERIFIED or (
            judged.outcome == Outcome.NO_CHANGE and not expects
        )
        self.store.update_swarm(
            swarm.id, outcome=str(judged.outcome), landed=done.landed, verify_seconds=done.seconds
        )
        self.store.log_decision(
            "verified",
            {
                "swarm": swarm.id,
                "type": swarm.type,
                "outcome": str(judged.outcome),
                "checked": list(done.checked),
                "failed": list(judged.reasons),
                "landed": done.landed,
                "seconds": round(done.seconds, 3),
            },
            now,
        )
        said = "; ".join(judged.reasons)
        reason = f"{judged.outcome}" + (f": {said}" if said else "")
        if done.landed:
            reason += f"; landed as {done.landed[:12]}"
        state = SwarmState.SUCCEEDED if good else SwarmState.FAILED
        if judged.obsolete:  # nothing was there to do: neither its success nor its failure
            state = SwarmState.KILLED
        self.ends.end(swarm.id, state, EndReason.SWARM_FAILED, reason, report)
        if judged.outcome in RETRIED and swarm.retry_of is None:
            self._retry(swarm, f"A swarm before you ({swarm.id}) did this work; {reason}.")

    def _retry(self, swarm: SwarmRow, note: str) -> None:
        """One more try of work the checks did not take, told why."""
        context = "\n\n".join(filter(None, (swarm.context, note)))
        priority = Priority(swarm.priority)
        with contextlib.suppress(SpawnRefused):  # refused: counted and logged
            self.ends.start(
                swarm.type, priority, swarm.trigger, context, swarm.size, "retry", swarm.id
            )

    def _work(self, swarm: SwarmRow, stype: SwarmType) -> Work:
        return Work(
            swarm.id,
            swarm.type,
            swarm.trigger,
            self.workshop.tree(swarm.id),
            BRANCH_PREFIX + swarm.id,
            swarm.base,
            spawning.placement(stype).user,
            hands(stype, self.config.state_dir),
            stype.worktree_setup,
            stype.worktree_share,
            stype.timeout,
            stype.land,
            stype.expects_change,
        )


def hands(stype: SwarmType, state_dir: Path) -> Hands:
    """The checks of an agent's work run as its user, with its clean environment."""
    user = spawning.placement(stype).user
    env = {**inherited_environment(), **spawning.home(stype, state_dir), **stype.env}
    if user is None or os.geteuid() != 0:
        return Hands(None, env)
    entry = pwd.getpwnam(user)
    group = stype.group
    return Hands((entry.pw_uid, grp.getgrnam(group).gr_gid if group else entry.pw_gid), env)
