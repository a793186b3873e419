"""Recovery by command (A5): set right what an alert reports with a known command,
and escalate only when that does not work.

A gateway that stopped answering needs a restart, not a coding agent; a full
disk needs old logs removed. A policy names a recovery (`recover:`), a
configured argument list (never a shell) with a timeout. For each firing
episode it runs once (the episode's row is the dedup, as for swarms), if the
admission rule admits it (path `recovery`). Then, one step at a time on the
responder's worker, never waiting:

    running --exit 0--> waiting --the alert resolved--> done
       |                   |          (fires again within `settle`: waiting again)
       | non-zero, timeout | still firing `settle` after the exit: told, no swarm
       v
    escalated: the policy's swarms start --they ended, the alert still fires--> told
       |  (none could start: told_no_swarm)                      a person, once
       +--the alert resolved--> done

Like prometheus-am-executor, but with Warden's episode dedup, admission and
record. One alert often fires as several episodes (OpenClawDisconnected once
per probe); an episode whose recovery is already under way for another joins
that run instead of starting a second (two restarts would fight over the
port), and the run is judged on all its episodes. So does one that fires
within `settle` of a run that succeeded: the same outage, back. A command that
succeeded and left the alert firing calls a person rather than a swarm. Each run is a row in the
store (its state, exit code, log under `state_dir/recoveries/`), each step a
decision, and a restarted responder carries on from the rows (a command that
was running when it died counts as failed: its end was not seen).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from responder.act.commands import Commands
from responder.act.launcher import Process, Stopping
from responder.act.notify import Notifier
from responder.act.runtime import Runtime
from responder.model import Priority
from responder.rules.admission import admit, explain
from responder.state.store import RecoveryRow
from warden.config import Recovery

log = logging.getLogger(__name__)
OUTCOMES = ("succeeded", "failed", "timed_out", "refused", "joined")
"""How a recovery command ended: the bounded `outcome` label."""
ESCALATIONS = ("swarm", "person")
KILL_GRACE_SECONDS = 2.0
TAIL_BYTES = 2000


@dataclass
class _Run:
    proc: Process | None
    kill: Stopping | None = None


Spawn = Callable[[str, str, str, str], list[str]]
"""(alertname, fingerprint, startsAt, context) -> ids of the swarms the policy started."""


class Recoveries:
    """The recovery commands of one responder; owned by its worker thread."""

    def __init__(
        self, runtime: Runtime, spawn: Spawn, notifier: Notifier, commands: Commands
    ) -> None:
        self.runtime, self.commands = runtime, commands
        self.store, self.held = runtime.store, runtime.held
        self.config = runtime.config
        self.spawn = spawn
        self.notifier = notifier
        self.folder = self.config.state_dir / "recoveries"
        self._runs: dict[int, _Run] = {}

    def start(
        self, name: str, alertname: str, fingerprint: str, starts_at: str, context: str
    ) -> str:
        """Run the recovery for a firing episode (once); the outcome for the decision log."""
        recovery = self.config.responder.recoveries[name]
        rt, now = self.runtime, self.runtime.clock()
        self.folder.mkdir(parents=True, exist_ok=True)
        row = self.store.add_recovery(fingerprint, starts_at, alertname, name, context, "", now)
        if row is None:
            return f"recovery {name} already run for this episode"
        log_path = self.folder / f"{row.id}-{name}.log"
        leader = self._leader(name, recovery, now)
        if leader is not None and leader.id != row.id:
            self.store.update_recovery(row.id, joined_to=leader.id, log_path=leader.log_path)
            if leader.state == "done":  # it fired again within the settle: not set right
                self._step(leader, "waiting", f"{alertname} fired again within its settle")
            self._finish(row, "joined", "joined", f"recovery #{leader.id} is under way")
            return f"recovery {name} joined #{leader.id}, under way"
        facts = rt.facts()
        refusal = admit(facts, Priority.CRITICAL, f"recovery:{name}")
        if refusal is not None:
            detail = explain(facts, refusal, Priority.CRITICAL, None)
            rt.refuse("recovery", refusal, detail, recovery=name, alert=alertname)
            self._finish(row, "refused", "refused", detail)
            return f"recovery {name} refused ({refusal}): {detail}"
        try:
            env = {**os.environ, **recovery.env}
            started = self.commands.run(
                name, recovery.command, self.config.project_dir, env, log_path
            )
        except OSError as exc:
            self.store.update_recovery(row.id, log_path=str(log_path))
            self._finish(row, "escalating", "failed", f"cannot start: {exc.strerror or exc}")
            return f"recovery {name} could not start: {exc.strerror or exc}"
        pid = started.proc.pid
        self.store.update_recovery(
            row.id, state="running", pid=pid, start_time=started.start_time, log_path=str(log_path)
        )
        self._runs[row.id] = _Run(started.proc)
        self.store.log_decision(
            "recovery", {"recovery": name, "alert": alertname, "step": "started"}, now
        )
        return f"recovery {name} started"

    def _leader(self, name: str, recovery: Recovery, now: float) -> RecoveryRow | None:
        """The run of recovery `name` a new episode joins: one under way, or one that
        succeeded less than `settle` ago (the outage it set right is back: a flap of
        the same outage, not a new one to run the command for again)."""
        for r in self.held.read(self.store.recoveries, ("running", "waiting")):
            if r.name == name:
                return r
        recent = [
            r
            for r in self.held.read(self.store.recoveries, ("done",))
            if r.name == name
            and r.outcome == "succeeded"
            and now - (r.ended_at or r.started_at) < recovery.settle
        ]
        return max(recent, key=lambda r: r.id, default=None)

    def poll(self) -> None:
        """One step of every recovery under way."""
        states = ("starting", "running", "escalating", "waiting", "escalated")
        for row in self.held.read(self.store.recoveries, states):
            recovery = self.config.responder.recoveries.get(row.name)
            if row.state in ("starting", "running") and recovery is not None:
                self._watch(row, recovery)
            elif row.state == "escalating":
                self._escalate(row)
            elif row.state == "waiting" and recovery is not None:
                self._wait(row, recovery)
            elif row.state == "escalated":
                self._follow(row)

    def _watch(self, row: RecoveryRow, recovery: Recovery) -> None:
        now = self.runtime.clock()
        run = self._runs.get(row.id)
        if run is None:  # started by a responder that died: its end was not seen
            if not self.commands.alive(row.pid, row.start_time):
                self._finish(row, "escalating", "failed", "the responder restarted while it ran")
            return
        if run.kill is not None:
            if run.kill.step() or run.kill.overdue:
                self._runs.pop(row.id, None)
                self._finish(
                    row, "escalating", "timed_out", f"timed out after {recovery.timeout:g}s"
                )
            return
        code = run.proc.poll() if run.proc is not None else None
        if code is None:
            if now - row.started_at > recovery.timeout:
                assert run.proc is not None
                run.kill = self.commands.stop(run.proc.pid, KILL_GRACE_SECONDS)
            return
        # A command that exits 0 may leave a daemon behind (a gateway it started):
        # nothing it started is killed after a normal exit.
        self._runs.pop(row.id, None)
        self.store.update_recovery(row.id, exit_code=code)
        if code == 0:
            self._finish(row, "waiting", "succeeded", "")
        else:
            self._finish(row, "escalating", "failed", f"exit code {code}: {_tail(row.log_path)}")

    def under_way(self) -> bool:
        """A recovery is running or waiting to see its effect (J1 leaves it be)."""
        return bool(self.held.read(self.store.recoveries, ("running", "waiting")))

    def _firing(self, row: RecoveryRow) -> bool:
        """Whether any episode of this run (its own, those that joined it) still fires."""
        episodes = [row, *self._joined(row)]
        return any(self.store.episode_open(e.fingerprint, e.starts_at) for e in episodes)

    def _joined(self, row: RecoveryRow) -> list[RecoveryRow]:
        return [
            r for r in self.held.read(self.store.recoveries, ("joined",)) if r.joined_to == row.id
        ]

    def _wait(self, row: RecoveryRow, recovery: Recovery) -> None:
        """After a command that succeeded: done when the alert resolves; if it still
        fires `settle` after the command's end (or after an episode that joined it),
        a person is told, and no swarm starts: a command that works and leaves the
        alert firing is not something a coding swarm fixes (issue 29: a gateway that
        flapped bought 61 bugfix swarms)."""
        if not self._firing(row):
            self._step(row, "done", "the alert resolved")
            return
        since = max([row.ended_at or row.started_at] + [r.started_at for r in self._joined(row)])
        if self.runtime.clock() - since >= recovery.settle:
            still = f"still firing {recovery.settle:g}s after it"
            self.store.update_recovery(
                row.id, detail=f"{row.detail}; {still}" if row.detail else still
            )
            self._tell(row, "the command succeeded, yet the alert still fires")

    def _escalate(self, row: RecoveryRow) -> None:
        """The policy's swarms, with what the command did; a person if none can start."""
        if not self._firing(row):
            self._step(row, "done", "the alert resolved")
            return
        latest = self._latest(row)
        context = (
            f"{row.context}\nThe recovery command `{row.name}` did not set it right "
            f"({latest.outcome}: {latest.detail or 'the alert still fires'}). "
            f"Its output ended with:\n{_tail(row.log_path)}\n"
        )
        started = self.spawn(row.alertname, row.fingerprint, row.starts_at, context)
        if started:
            self._step(row, "escalated", f"swarms {', '.join(started)}")
        else:
            self._tell(row, "no swarm could start", "told_no_swarm")

    def _follow(self, row: RecoveryRow) -> None:
        """After the swarms: done when the alert resolves; a person when they all
        ended and it still fires."""
        if not self._firing(row):
            self._step(row, "done", "the alert resolved")
            return
        base = f"alert:{row.alertname}:{row.fingerprint}:{row.starts_at}:"
        swarms = [s for s in self.store.swarms(since=row.started_at) if s.trigger.startswith(base)]
        if swarms and all(s.state != "running" for s in swarms):
            self._tell(row, "its swarms ended and the alert still fires")

    def _tell(self, row: RecoveryRow, why: str, state: str = "told") -> None:
        """A person, once per episode whichever path tells (N1)."""
        latest = self._latest(row)
        if self.store.tell_once([row.alertname], self.runtime.clock()):
            self.notifier.tell(
                "alert_unresolved",
                f"{row.alertname} still fires: recovery {row.name} did not set it right",
                f"Recovery command `{row.name}` ran ({latest.outcome}: {latest.detail}); {why}."
                f" Its log: {row.log_path}.",
                {"unresolved": row.alertname},
            )
        self._step(row, state, why)

    def _finish(self, row: RecoveryRow, state: str, outcome: str, detail: str) -> None:
        now = self.runtime.clock()
        self.store.update_recovery(
            row.id, state=state, ended_at=now, outcome=outcome, detail=detail
        )
        self.store.log_decision(
            "recovery",
            {"recovery": row.name, "alert": row.alertname, "step": outcome, "detail": detail},
            now,
        )

    def _step(self, row: RecoveryRow, state: str, detail: str) -> None:
        self.store.update_recovery(row.id, state=state)
        self.store.log_decision(
            "recovery",
            {"recovery": row.name, "alert": row.alertname, "step": state, "detail": detail},
            self.runtime.clock(),
        )

    def _latest(self, row: RecoveryRow) -> RecoveryRow:
        return self.store.recovery(row.id) or row


def _tail(path: str) -> str:
    """The last line the command printed (what a person reads first)."""
    try:
        data = Path(path).read_bytes()[-TAIL_BYTES:]
    except OSError:
        return ""
    lines = [line for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""
