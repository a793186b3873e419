"""Where swarms work apart and their work is judged and landed, off the owner's
thread: making a worktree (and its setup, `npm ci`) and running the project's
checks take seconds to minutes, and the owner never waits.

Two queues of work: worktrees are made a few at a time; verification and
landing go one at a time (the landing queue: two verified swarms never land on
a stale base, and a lock file keeps other processes on this state out of it
meanwhile). The owner hands work in (`prepare`, `verify`) and takes what is
done (`done`) at each step; a job lost in a crash is handed in again when the
swarm is taken over, and each job is safe to do twice.
"""

from __future__ import annotations

import fcntl
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from responder.model import BUILD_BROKEN_ALERTS, Outcome
from responder.verify import git
from responder.verify.checks import Hands, TreeChecks, run_checks
from responder.verify.judge import Judgement, alert_of, judge, nothing_to_fix
from warden.config import Config
from warden.private import give, passage
from warden.runner import CommandRunner

log = logging.getLogger(__name__)
BRANCH_PREFIX = "warden/"
BASES = 8
"""Checks of base commits kept: the swarms of one break share theirs."""
MAKERS = 2
"""Worktrees made at once."""


@dataclass(frozen=True)
class Work:
    """A swarm's work as the workshop needs it (a copy: never the owner's rows)."""

    swarm_id: str
    type: str
    trigger: str
    tree: Path
    branch: str
    base: str | None
    user: str | None
    hands: Hands
    setup: tuple[str, ...]
    share: tuple[str, ...]
    setup_timeout: float
    land: str
    expects_change: bool


@dataclass(frozen=True)
class Prepared:
    swarm_id: str
    base: str
    error: str | None
    """Why no worktree could be made (None: it is ready)."""


@dataclass(frozen=True)
class Verdict:
    swarm_id: str
    judgement: Judgement
    landed: str | None
    seconds: float
    checked: tuple[str, ...]
    """The checks that ran on the work (build, tests, typecheck, coverage)."""


class Workshop:
    def __init__(self, config: Config, runner: CommandRunner | None = None) -> None:
        self.config = config
        self.root = config.state_dir / "worktrees"
        branch = config.git.branch if config.git is not None else "HEAD"
        self.repo = git.Repo(config.project_dir, branch)
        self.runner = runner or CommandRunner()
        self._makers = ThreadPoolExecutor(MAKERS, thread_name_prefix="worktree")
        self._queue = ThreadPoolExecutor(1, thread_name_prefix="landing")
        self._done: queue.SimpleQueue[Prepared | Verdict] = queue.SimpleQueue()
        self._shared_git = threading.Lock()
        self._bases: OrderedDict[str, TreeChecks] = OrderedDict()
        self._busy: set[str] = set()
        self._busy_lock = threading.Lock()
        named: tuple[tuple[str, object], ...] = (
            ("build", config.build),
            ("tests", config.tests),
            ("typecheck", config.typecheck),
            ("coverage", config.coverage),
        )
        self.checked = tuple(name for name, on in named if on is not None)
        """The checks verification runs (those configured), for the decision log."""

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
        self.runner.kill_all()

    def _hand_in(
        self, work: Work, pool: ThreadPoolExecutor, job: Callable[[Work], Prepared | Verdict]
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
            with self._repo_lock():
                base = work.base or self.repo.start()
            self._make(work.tree, work.branch, base, work)
        except (git.GitError, OSError) as exc:
            log.warning("no worktree for swarm %s: %s", work.swarm_id, exc)
            return Prepared(work.swarm_id, work.base or "", f"worktree: {exc}")
        return Prepared(work.swarm_id, base, self._setup(work, work.tree))

    def _make(self, tree: Path, branch: str | None, base: str, work: Work) -> None:
        passage(self.root)
        with self._repo_lock():
            self.repo.add_worktree(tree, branch, base)
        for shared in work.share:
            link, target = tree / shared, self.config.project_dir / shared
            if target.exists() and not link.exists() and not link.is_symlink():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(target)
        if work.user is not None:
            give(tree, work.user)

    def _setup(self, work: Work, tree: Path) -> str | None:
        """worktree_setup in `tree`; why it failed, or None."""
        if not work.setup:
            return None
        done = self.runner.run(
            work.setup, tree, work.setup_timeout, env=work.hands.env, as_user=work.hands.as_user
        )
        if done.ok:
            return None
        how = "timed out" if done.timed_out else f"exit {done.exit_code}"
        tail = done.output_tail.strip().splitlines()[-1:] or [""]
        return f"worktree_setup {list(work.setup)} failed ({how}): {tail[0]}"

    # -- verified ----------------------------------------------------------------
    def _verify(self, work: Work) -> Verdict:
        t0 = time.monotonic()
        try:
            judgement, landed = self._judge_and_land(work)
        except (git.GitError, OSError) as exc:
            log.warning("swarm %s could not be verified: %s", work.swarm_id, exc)
            judgement, landed = Judgement(Outcome.UNVERIFIED, (f"verification: {exc}",)), None
        took = time.monotonic() - t0
        return Verdict(work.swarm_id, judgement, landed, took, self.checked)

    def _judge_and_land(self, work: Work) -> tuple[Judgement, str | None]:
        assert work.base is not None
        message = f"{work.type}: {_line(work.trigger)}\n\n{_trailer(work)}\n" + (
            f"Warden-Trigger: {_line(work.trigger)}\n"
        )
        author = f"warden {work.type} {work.swarm_id}"
        if _trailer(work) in git.last_message(work.tree):
            # Committed before a crash: what is new since is the checks' doing.
            git.clean(work.tree, work.share)
        else:
            git.commit_all(work.tree, message, author, work.share)
        changed = git.changed(work.tree, work.base)
        if changed and work.land == "merge":
            with self._repo_lock():
                mine, watched = git.head(work.tree), self.repo.head()
            if git.contains(work.tree, mine, watched):  # landed before a crash
                return Judgement(Outcome.VERIFIED, ()), mine
        judgement = self._judge(work, work.base, changed)
        if judgement.outcome != Outcome.VERIFIED or work.land == "none":
            return judgement, None
        with self._landing():
            return self._land(work)

    def _judge(self, work: Work, base: str, changed: bool) -> Judgement:
        if not changed:
            gone = None
            if alert_of(work.trigger) in BUILD_BROKEN_ALERTS:  # sent for a break
                gone = nothing_to_fix(self._base_checks(base, work), work.trigger)
            return gone or judge(TreeChecks(), TreeChecks(), work.trigger, changed)
        head = run_checks(self.config, work.tree, self.runner, work.hands)
        git.clean(work.tree, work.share)  # a rebase needs it, and nothing of it is work
        return judge(self._base_checks(base, work), head, work.trigger, changed)

    def _land(self, work: Work) -> tuple[Judgement, str | None]:
        """The merge queue's step: on the watched branch as it is now, checked again
        if it moved, then a fast-forward (or the branch left for a person)."""
        with self._repo_lock():
            target = self.repo.head()
        if target != work.base:
            if not git.rebase(work.tree, target):
                why = f"it conflicts with {target[:12]}, where the watched branch is now"
                return Judgement(Outcome.CONFLICT, (why,)), None
            if not git.changed(work.tree, target):
                why = "the watched branch already holds this change"
                return Judgement(Outcome.VERIFIED, (why,)), None
            judgement = self._judge(work, target, True)
            if judgement.outcome != Outcome.VERIFIED:
                return judgement, None
        if work.land == "branch":
            return Judgement(Outcome.VERIFIED, ()), None
        with self._repo_lock():
            if self.repo.dirty():
                why = "the project has uncommitted changes to tracked files: never overwritten"
                return Judgement(Outcome.CONFLICT, (why,)), None
            return Judgement(Outcome.VERIFIED, ()), self.repo.land(work.branch, target)

    def _base_checks(self, base: str, work: Work) -> TreeChecks:
        """What the checks say at `base`, in a worktree of its own (kept per commit)."""
        known = self._bases.get(base)
        if known is not None:
            self._bases.move_to_end(base)
            return known
        tree = self.root / f"base-{base[:12]}"
        try:
            self._make(tree, None, base, work)
            self._setup(work, tree)
            found = run_checks(self.config, tree, self.runner, work.hands)
        finally:
            with self._repo_lock():
                self.repo.remove_worktree(tree)
        self._bases[base] = found
        while len(self._bases) > BASES:
            self._bases.popitem(last=False)
        return found

    @contextmanager
    def _repo_lock(self) -> Iterator[None]:
        """What writes the project's repository itself (its worktree list, its
        checked-out branch) goes one at a time in this process."""
        with self._shared_git:
            yield

    @contextmanager
    def _landing(self) -> Iterator[None]:
        """The landing queue across processes on this state (a responder and a
        `warden swarm run` in a terminal)."""
        passage(self.root)
        with (self.root / ".landing").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _trailer(work: Work) -> str:
    return f"Warden-Swarm: {work.swarm_id}"


def _line(text: str) -> str:
    return " ".join(text.split())
