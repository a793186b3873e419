"""Where swarms work apart and their work is judged and landed, off the owner's
thread: making a worktree (and its setup, `npm ci`) and running the project's
checks take seconds to minutes, and the owner never waits.

Two queues of work: worktrees are made a few at a time; verification and
landing go one at a time (the landing queue: two verified swarms never land on
a stale base, and a lock file keeps other processes on this state out of it
meanwhile). The owner hands work in (`prepare`, `verify`) and takes what is
done (`done`) at each step; a job lost in a crash is handed in again when the
swarm is taken over, and each job is safe to do twice. What the steps do to the
project is the workbench's (git here, a virtual repository in simulation).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path

from responder.model import BUILD_BROKEN_ALERTS, Outcome
from responder.verify.checks import TreeChecks
from responder.verify.judge import Judgement, alert_of, judge, nothing_to_fix
from responder.verify.work import Prepared, Verdict, Work
from responder.verify.workbench import BenchError, GitBench, Workbench
from warden.config import Config

log = logging.getLogger(__name__)
BASES = 8
"""Checks of base commits kept: the swarms of one break share theirs."""
MAKERS = 2
"""Worktrees made at once."""

Pool = Callable[[int, str], Executor]
"""(workers, name) -> where jobs run: threads here, at once in simulation."""


def threads(workers: int, name: str) -> Executor:
    return ThreadPoolExecutor(workers, thread_name_prefix=name)


def configured_checks(config: Config) -> tuple[str, ...]:
    """The checks verification runs (those configured), for the decision log."""
    named: tuple[tuple[str, object], ...] = (
        ("build", config.build),
        ("tests", config.tests),
        ("typecheck", config.typecheck),
        ("coverage", config.coverage),
    )
    return tuple(name for name, on in named if on is not None)


class Workshop:
    def __init__(
        self,
        config: Config,
        bench: Workbench,
        pool: Pool = threads,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root = config.state_dir / "worktrees"
        self.bench, self.clock = bench, clock
        self._makers = pool(MAKERS, "worktree")
        self._queue = pool(1, "landing")
        self._done: queue.SimpleQueue[Prepared | Verdict] = queue.SimpleQueue()
        self._bases: OrderedDict[str, TreeChecks] = OrderedDict()
        self._busy: set[str] = set()
        self._busy_lock = threading.Lock()
        self.checked = configured_checks(config)

    @classmethod
    def on(cls, config: Config) -> Workshop:
        """The workshop of the real project."""
        return cls(config, GitBench(config))

    def tree(self, swarm_id: str) -> Path:
        return self.root / swarm_id

    def busy(self, swarm_id: str) -> bool:
        with self._busy_lock:
            return swarm_id in self._busy

    def prepare(self, work: Work) -> None:
        self._hand_in(work, self._makers, self._prepare)

    def verify(self, work: Work) -> None:
        self._hand_in(work, self._queue, self._verify)

    def done(self) -> list[Prepared | Verdict]:
        out: list[Prepared | Verdict] = []
        while True:
            try:
                out.append(self._done.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        self._makers.shutdown(wait=False, cancel_futures=True)
        self._queue.shutdown(wait=False, cancel_futures=True)
        self.bench.close()

    def _hand_in(
        self, work: Work, pool: Executor, job: Callable[[Work], Prepared | Verdict]
    ) -> None:
        """One job per swarm at a time: a swarm handed in twice (taken over while its
        job ran) is done once."""
        with self._busy_lock:
            if work.swarm_id in self._busy:
                return
            self._busy.add(work.swarm_id)

        def run() -> None:
            try:
                self._done.put(job(work))
            finally:
                with self._busy_lock:
                    self._busy.discard(work.swarm_id)

        pool.submit(run)

    # -- apart -----------------------------------------------------------------
    def _prepare(self, work: Work) -> Prepared:
        """The swarm's worktree on its branch from the watched branch's head (or the
        base it started from, once recorded), its shared paths linked, its setup run."""
        try:
            base = work.base or self.bench.start()
            self.bench.make(work, work.tree, work.branch, base)
        except BenchError as exc:
            log.warning("no worktree for swarm %s: %s", work.swarm_id, exc)
            return Prepared(work.swarm_id, work.base or "", f"worktree: {exc}")
        return Prepared(work.swarm_id, base, self.bench.setup(work, work.tree))

    # -- verified ----------------------------------------------------------------
    def _verify(self, work: Work) -> Verdict:
        t0 = self.clock()
        try:
            judgement, landed = self._judge_and_land(work)
        except BenchError as exc:
            log.warning("swarm %s could not be verified: %s", work.swarm_id, exc)
            judgement, landed = Judgement(Outcome.UNVERIFIED, (f"verification: {exc}",)), None
        return Verdict(work.swarm_id, judgement, landed, self.clock() - t0, self.checked)

    def _judge_and_land(self, work: Work) -> tuple[Judgement, str | None]:
        assert work.base is not None
        bench = self.bench
        message = f"{work.type}: {_line(work.trigger)}\n\n{_trailer(work)}\n" + (
            f"Warden-Trigger: {_line(work.trigger)}\n"
        )
        if bench.committed(work, _trailer(work)):
            # Committed before a crash: what is new since is the checks' doing.
            bench.clean(work)
        else:
            bench.commit(work, message, f"warden {work.type} {work.swarm_id}")
        changed = bench.changed(work, work.base)
        if changed and work.land == "merge":
            mine = bench.head(work)
            if bench.contains(work, mine, bench.watched()):  # landed before a crash
                return Judgement(Outcome.VERIFIED, ()), mine
        judgement = self._judge(work, work.base, changed)
        if judgement.outcome != Outcome.VERIFIED or work.land == "none":
            return judgement, None
        with bench.landing():
            return self._land(work)

    def _judge(self, work: Work, base: str, changed: bool) -> Judgement:
        if not changed:
            gone = None
            if alert_of(work.trigger) in BUILD_BROKEN_ALERTS:  # sent for a break
                gone = nothing_to_fix(self._base_checks(base, work), work.trigger)
            return gone or judge(TreeChecks(), TreeChecks(), work.trigger, changed)
        head = self.bench.check(work, work.tree)
        self.bench.clean(work)  # a rebase needs it, and nothing of it is work
        return judge(self._base_checks(base, work), head, work.trigger, changed)

    def _land(self, work: Work) -> tuple[Judgement, str | None]:
        """The merge queue's step: on the watched branch as it is now, checked again
        if it moved, then a fast-forward (or the branch left for a person)."""
        bench = self.bench
        target = bench.watched()
        if target != work.base:
            if not bench.rebase(work, target):
                why = f"it conflicts with {target[:12]}, where the watched branch is now"
                return Judgement(Outcome.CONFLICT, (why,)), None
            if not bench.changed(work, target):
                why = "the watched branch already holds this change"
                return Judgement(Outcome.VERIFIED, (why,)), None
            judgement = self._judge(work, target, True)
            if judgement.outcome != Outcome.VERIFIED:
                return judgement, None
        if work.land == "branch":
            return Judgement(Outcome.VERIFIED, ()), None
        landed = bench.land(work, target)
        if landed is None:
            why = "the project has uncommitted changes to tracked files: never overwritten"
            return Judgement(Outcome.CONFLICT, (why,)), None
        return Judgement(Outcome.VERIFIED, ()), landed

    def _base_checks(self, base: str, work: Work) -> TreeChecks:
        """What the checks say at `base`, in a worktree of its own (kept per commit)."""
        known = self._bases.get(base)
        if known is not None:
            self._bases.move_to_end(base)
            return known
        tree = self.root / f"base-{base[:12]}"
        try:
            self.bench.make(work, tree, None, base)
            self.bench.setup(work, tree)
            found = self.bench.check(work, tree)
        finally:
            self.bench.remove(tree)
        self._bases[base] = found
        while len(self._bases) > BASES:
            self._bases.popitem(last=False)
        return found


def _trailer(work: Work) -> str:
    return f"Warden-Swarm: {work.swarm_id}"


def _line(text: str) -> str:
    return " ".join(text.split())
