"""What the workshop does to the project: its repository, its trees, its checks.

The workshop decides (the merge queue's steps, the judgement); a workbench does.
On a machine that is git and the project's own commands (`GitBench`); in
`warden simulate` a virtual repository whose checks say what the scenario drew
(responder.simulate.project), so the simulation runs the workshop's own rules
and touches nothing real.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from responder.verify import git
from responder.verify.checks import TreeChecks, run_checks
from responder.verify.work import Work
from warden.config import Config
from warden.private import give, passage
from warden.runner import CommandRunner


class BenchError(Exception):
    """The project or a tree could not do what was asked (git failed, a disk is full)."""


class Workbench(Protocol):
    """Each method may raise BenchError; `tree` is a worktree's path, `work.tree`
    the swarm's own."""

    def start(self) -> str:
        """The commit a new swarm starts from."""
        ...

    def watched(self) -> str:
        """The watched branch's head."""
        ...

    def make(self, work: Work, tree: Path, branch: str | None, base: str) -> None:
        """A tree at `base` (on a new `branch`, or detached), ready for `work.user`."""
        ...

    def setup(self, work: Work, tree: Path) -> str | None:
        """worktree_setup in `tree`; why it failed, or None."""
        ...

    def remove(self, tree: Path) -> None: ...

    def committed(self, work: Work, trailer: str) -> bool:
        """The work's last commit carries `trailer`: committed before a crash."""
        ...

    def commit(self, work: Work, message: str, author: str) -> None:
        """Commit what the agents left in the work's tree (if anything)."""
        ...

    def clean(self, work: Work) -> None:
        """The work's tree back to its last commit (what the checks wrote goes)."""
        ...

    def changed(self, work: Work, base: str) -> bool:
        """The work's branch holds commits `base` does not."""
        ...

    def head(self, work: Work) -> str: ...

    def contains(self, work: Work, commit: str, tip: str) -> bool: ...

    def rebase(self, work: Work, onto: str) -> bool:
        """The work's commits replayed on `onto`; False (nothing changed) on a conflict."""
        ...

    def land(self, work: Work, expected: str) -> str | None:
        """The watched branch fast-forwarded to the work's branch, if still at
        `expected`; None, and nothing moved, if a person's changes to tracked files
        are in the project."""
        ...

    def check(self, work: Work, tree: Path) -> TreeChecks:
        """The project's checks in `tree`, as the work's agents' user."""
        ...

    def landing(self) -> AbstractContextManager[None]:
        """Held while one swarm lands: no other process on this state lands meanwhile."""
        ...

    def close(self) -> None:
        """Stop what still runs (a check, a setup)."""
        ...


class GitBench:
    """The real project: git worktrees and branches, the project's own commands."""

    def __init__(self, config: Config, runner: CommandRunner | None = None) -> None:
        self.config = config
        self.root = config.state_dir / "worktrees"
        branch = config.git.branch if config.git is not None else "HEAD"
        self.repo = git.Repo(config.project_dir, branch)
        self.runner = runner or CommandRunner()
        self._lock = threading.Lock()
        """What writes the project's repository itself (its worktree list, its
        checked-out branch) goes one at a time in this process."""

    def start(self) -> str:
        with self._guard():
            return self.repo.start()

    def watched(self) -> str:
        with self._guard():
            return self.repo.head()

    def make(self, work: Work, tree: Path, branch: str | None, base: str) -> None:
        with self._guard():
            passage(self.root)
            self.repo.add_worktree(tree, branch, base)
        try:
            for shared in work.share:
                link, target = tree / shared, self.config.project_dir / shared
                if target.exists() and not link.exists() and not link.is_symlink():
                    link.parent.mkdir(parents=True, exist_ok=True)
                    link.symlink_to(target)
            if work.user is not None:
                give(tree, work.user)
        except OSError as exc:
            raise BenchError(str(exc)) from exc

    def setup(self, work: Work, tree: Path) -> str | None:
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

    def remove(self, tree: Path) -> None:
        with self._guard():
            self.repo.remove_worktree(tree)

    def committed(self, work: Work, trailer: str) -> bool:
        with self._guard():
            return trailer in git.last_message(work.tree)

    def commit(self, work: Work, message: str, author: str) -> None:
        with self._guard():
            git.commit_all(work.tree, message, author, work.share)

    def clean(self, work: Work) -> None:
        with self._guard():
            git.clean(work.tree, work.share)

    def changed(self, work: Work, base: str) -> bool:
        with self._guard():
            return git.changed(work.tree, base)

    def head(self, work: Work) -> str:
        with self._guard():
            return git.head(work.tree)

    def contains(self, work: Work, commit: str, tip: str) -> bool:
        with self._guard():
            return git.contains(work.tree, commit, tip)

    def rebase(self, work: Work, onto: str) -> bool:
        with self._guard():
            return git.rebase(work.tree, onto)

    def land(self, work: Work, expected: str) -> str | None:
        with self._guard():
            if self.repo.dirty():
                return None
            return self.repo.land(work.branch, expected)

    def check(self, work: Work, tree: Path) -> TreeChecks:
        try:
            return run_checks(self.config, tree, self.runner, work.hands)
        except OSError as exc:
            raise BenchError(str(exc)) from exc

    @contextmanager
    def landing(self) -> Iterator[None]:
        """A lock file: the landing queue across processes on this state (a
        responder and a `warden swarm run` in a terminal)."""
        passage(self.root)
        with (self.root / ".landing").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def close(self) -> None:
        self.runner.kill_all()

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """One repository operation at a time in this process; git's and the disk's
        failures as BenchError."""
        try:
            with self._lock:
                yield
        except (git.GitError, OSError) as exc:
            raise BenchError(str(exc)) from exc
