"""The invariants of `warden simulate`: what must hold after every step of a run
(docs/responder.md, "Simulation"); `check` returns what broke, if anything. They
read the responder's own state, on its owner, as the worker does, and the
virtual project's record of the watched branch."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from responder.act.refusals import WINDOW_SECONDS
from responder.decide import learning
from responder.model import Priority
from responder.rules.admission import ceiling_windows
from responder.rules.budget import cap_of
from responder.service.worker import Service
from responder.simulate.project import SimProject
from warden.config import Config


@dataclass
class Invariants:
    """What must hold after every step; `check` returns what broke, if anything."""

    config: Config
    project: SimProject
    checked: Counter[str] = field(default_factory=Counter)
    refusals_seen: int = 0
    refusals_final: int = 0
    """Refusals of log rows whose window closed, up to row `refusals_final_id`."""
    refusals_final_id: int = 0
    refusals_counted_before: int = 0
    """Refusals counted by responders that crashed before (their counters died with them)."""
    moves_seen: int = 0
    spent_seen: float = 0.0
    """Spend booked up to the last look at the periods charged."""
    periods_since: float = 0.0
    """When the periods charged were last looked at."""
    started_since: float = 0.0
    """When swarms were last looked at for an episode acted on twice."""
    swarms_mark: tuple[int, int] = (0, 0)
    """The store and its swarms' write mark at that look."""
    twice: list[str] = field(default_factory=list)
    """What that look found acted on twice."""
    landings: dict[str, str] = field(default_factory=dict)
    """Swarm -> the commit its work landed as, until its outcome is recorded."""

    @property
    def slack(self) -> float:
        """One swarm's cap at the largest size any path may start: what the
        requirements allow spend to pass a cap by."""
        return learning.largest_swarm_usd(self.config)

    def _caps(self, svc: Service, holds: Callable[[str, bool, str], None]) -> None:
        """B, B5: every period charged since the last look, and every ceiling, within its
        cap and the slack; what runs reported past their own caps (B6: booked as spent,
        but beyond what the spawn guard reserves for a run) is counted apart."""
        store, facts = svc.runtime.store, svc.runtime.snapshot.facts
        past = store.past_caps_of_periods_since(self.periods_since)
        for key, spend in store.spend_of_periods_since(self.periods_since).items():
            cap = cap_of(key, self.config.budget)
            guarded = spend - past.get(key, 0.0)
            holds(
                "period cap",
                cap is None or guarded <= cap + self.slack + 1e-9,
                f"{key} spent ${guarded:.2f} of ${cap or 0:.2f} (and ${past.get(key, 0.0):.2f}"
                " reported past the runs' caps)",
            )
        windows = ceiling_windows(svc.clock(), self.config.budget, self.config.schedule.timezone)
        for c, (_, _, start, end) in zip(facts.ceilings, windows, strict=True):
            guarded = c.spend_usd - store.past_caps_between(start, end)
            holds(
                f"{c.name} ceiling",
                guarded <= c.cap_usd + self.slack + 1e-9,
                f"spent ${guarded:.2f} of ${c.cap_usd:.2f}",
            )

    def check(self, svc: Service) -> list[str]:
        rt, broken = svc.runtime, []
        snap = rt.snapshot

        def holds(name: str, ok: bool, why: str) -> None:
            self.checked[name] += 1
            if not ok:
                broken.append(f"{name}: {why}")

        spent = sum(snap.history.spend_by_type.values())
        if spent != self.spent_seen:  # a charge since: every period and ceiling it went to
            self._caps(svc, holds)
            self.spent_seen, self.periods_since = spent, svc.clock()
        low = [s for s in snap.running if s.priority != Priority.CRITICAL]
        holds(
            "R4",
            not (svc.situation.build_broken and low),
            f"the build is broken and {[(s.type, s.priority) for s in low]} run",
        )
        cap = self.config.modes[svc.situation.mode].max_swarms
        holds(
            "mode cap", len(snap.running) <= cap, f"{len(snap.running)} run in {svc.situation.mode}"
        )
        # Of the swarms started since the last look, if any was written (a new
        # responder's store has marks of its own): a step's read does not walk a month.
        # Unwritten since, the swarms give the answer they gave.
        mark = (id(rt.store), rt.store.write_mark("swarms"))
        if mark != self.swarms_mark:
            self.twice = rt.store.duplicate_triggers(self.started_since)
            self.started_since, self.swarms_mark = svc.clock(), mark
        holds("once per episode", not self.twice, f"acted on twice: {self.twice[:3]}")
        counted = self.refusals_counted_before + sum(rt.refusals.values())
        if counted != self.refusals_seen:  # a refusal since: the log's own count of them
            self.refusals_seen = self._logged(svc)
        holds(
            "refusals counted",
            counted == self.refusals_seen,
            f"{self.refusals_seen} logged, {counted} counted",
        )
        self._landed(svc, holds)
        return broken

    def _logged(self, svc: Service) -> int:
        """The refusals the decision log counts: its rows' counts, those whose window
        closed added up once (J7 prunes old rows; a closed row changes no more)."""
        rows = svc.runtime.store.refusals_after(self.refusals_final_id)
        for row_id, since, count in rows:
            if since > svc.clock() - WINDOW_SECONDS:
                break
            self.refusals_final += count
            self.refusals_final_id = row_id
        return self.refusals_final + sum(c for i, _, c in rows if i > self.refusals_final_id)

    def _landed(self, svc: Service, holds: Callable[[str, bool, str], None]) -> None:
        """The merge queue's rules, on the virtual project: the watched branch only
        moves forward, to a commit whose checks ran and pass; what lands is a swarm's
        verified work, recorded as landed where it landed."""
        project = self.project
        for old, new, swarm in project.moves[self.moves_seen :]:
            checks = project.checks_at(new)
            holds(
                "branch moves to verified commits",
                new in project.checked and checks.tests is True and checks.build is True,
                f"{old[-8:]} -> {new[-8:]} by {swarm}: checked {new in project.checked}, "
                f"failing {sorted(checks.failing)}",
            )
            holds(
                "branch only moves forward",
                project.contains_commit(new, old),
                f"{old[-8:]} -> {new[-8:]} by {swarm}",
            )
            self.landings[swarm] = new
        self.moves_seen = len(project.moves)
        for swarm, commit in list(self.landings.items()):
            row = svc.runtime.store.swarm(swarm)
            if row is not None and row.live:
                continue  # its verdict is on its way to the owner
            self.landings.pop(swarm)
            outcome, landed = (row.outcome, row.landed) if row is not None else (None, None)
            holds(
                "nothing unverified lands",
                outcome == "verified" and landed == commit,
                f"{swarm} landed {commit[-8:]}; its record: {outcome}, landed {landed}",
            )
