"""The git a swarm's work goes through: its own worktree and branch, the commit of
what its agents left, the rebase onto the watched branch and the fast-forward
that lands it. Argument lists, never a shell; every call with a timeout.

Warden runs git as itself in worktrees its agents' user owns, so each call
names them safe (`safe.directory`), and nothing of the caller's environment
can point git elsewhere (no GIT_* variable passes). Hooks do not run on
Warden's commits: what judges the work is the project's checks, run after.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from warden.private import project_umask

GIT_SECONDS = 120.0
AUTHOR_EMAIL = "warden@localhost"


class GitError(Exception):
    """A git command failed; the message names it and what git said."""


def run(cwd: Path, *args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_TERMINAL_PROMPT"] = "0"
    try:
        done = subprocess.run(
            ["git", "-c", "safe.directory=*", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=GIT_SECONDS,
            check=False,
            umask=project_umask(),  # what lands in the project belongs to its people
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"git {args[0]}: {exc}") from None
    if done.returncode not in ok:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise GitError(f"git {' '.join(args[:2])}: {said[-1] if said else done.returncode}")
    return done


def out(cwd: Path, *args: str) -> str:
    return run(cwd, *args).stdout.strip()


@dataclass(frozen=True)
class Repo:
    """The watched project's repository and branch (`collectors.git.branch`)."""

    top: Path
    branch: str
    """A branch name, or HEAD: whatever the project has checked out."""

    def head(self) -> str:
        return out(self.top, "rev-parse", "--verify", f"{self.branch}^{{commit}}")

    def start(self) -> str:
        """Where a swarm starts: the watched branch's head, with the changes of tracked
        files a person has not committed (a commit of its own on top), where the
        watched branch is the one checked out: the agents see what the collectors
        see. Nothing of the project changes (`git stash create` writes no ref)."""
        head = self.head()
        if not self._checked_out():
            return head
        dirty = out(self.top, "stash", "create")
        if not dirty:
            return head
        message = "the project's uncommitted changes, as a swarm started"
        who = ["-c", "user.name=warden", "-c", f"user.email={AUTHOR_EMAIL}"]
        return out(self.top, *who, "commit-tree", f"{dirty}^{{tree}}", "-p", head, "-m", message)

    def _checked_out(self) -> bool:
        checked_out = run(self.top, "symbolic-ref", "-q", "HEAD", ok=(0, 1)).stdout.strip()
        return self.branch in ("HEAD", checked_out, checked_out.removeprefix("refs/heads/"))

    def add_worktree(self, path: Path, branch: str | None, base: str) -> None:
        """A worktree at `path` on a new `branch` from `base` (detached without one).
        One there already, from a run that crashed, is taken as it is."""
        if (path / ".git").exists():
            return
        run(self.top, "worktree", "prune")
        if branch is None:
            run(self.top, "worktree", "add", "--detach", str(path), base)
        else:
            run(self.top, "worktree", "add", "-B", branch, str(path), base)

    def remove_worktree(self, path: Path) -> None:
        run(self.top, "worktree", "remove", "--force", str(path), ok=(0, 128))
        run(self.top, "worktree", "prune")

    def worktrees(self) -> set[Path]:
        listed = out(self.top, "worktree", "list", "--porcelain")
        return {Path(line[9:]) for line in listed.splitlines() if line.startswith("worktree ")}

    def dirty(self) -> bool:
        """The project's tracked files differ from its HEAD (a person is at work)."""
        return bool(out(self.top, "status", "--porcelain", "--untracked-files=no"))

    def merged_branches(self, prefix: str) -> list[str]:
        listed = out(self.top, "branch", "--format=%(refname:short)", "--merged", self.branch)
        return [b for b in listed.splitlines() if b.startswith(prefix)]

    def delete_branch(self, branch: str) -> None:
        run(self.top, "branch", "-D", branch, ok=(0, 1))

    def land(self, branch: str, expected: str) -> str:
        """Fast-forward the watched branch to `branch`, if it is still at `expected`;
        the checked-out branch moves with the project's files (`merge --ff-only`),
        another by a compare-and-swap of its ref. Returns the commit landed."""
        commit = out(self.top, "rev-parse", "--verify", f"{branch}^{{commit}}")
        if self._checked_out():
            if self.head() != expected:
                raise GitError(f"{self.branch} moved while landing")
            run(self.top, "merge", "--ff-only", "--no-edit", commit)
        else:
            run(self.top, "update-ref", f"refs/heads/{self.branch}", commit, expected)
        return commit


def commit_all(tree: Path, message: str, author: str, leave_out: tuple[str, ...]) -> bool:
    """Commit whatever the agents left in `tree` (but the shared links); False if
    they left nothing."""
    excluded = [f":(exclude){p}" for p in leave_out]
    run(tree, "add", "--all", "--", ".", *excluded)
    staged = run(tree, "diff", "--cached", "--quiet", ok=(0, 1)).returncode == 1
    if staged:
        who = ["-c", f"user.name={author}", "-c", f"user.email={AUTHOR_EMAIL}"]
        run(tree, *who, "commit", "--no-verify", "--quiet", "-m", message)
    return staged


def changed(tree: Path, base: str) -> bool:
    """The worktree's branch holds commits `base` does not."""
    return out(tree, "rev-list", "--count", f"{base}..HEAD") != "0"


def head(tree: Path) -> str:
    return out(tree, "rev-parse", "HEAD")


def last_message(tree: Path) -> str:
    return out(tree, "log", "-1", "--format=%B")


def clean(tree: Path, keep: tuple[str, ...]) -> None:
    """The tree back to its last commit: what the checks wrote or changed goes (but
    what .gitignore ignores, and the shared links)."""
    run(tree, "reset", "--hard", "--quiet")
    run(tree, "clean", "-d", "--force", "--quiet", *(f"--exclude=/{p}" for p in keep))


def contains(cwd: Path, commit: str, tip: str) -> bool:
    """`tip`'s history holds `commit`."""
    return run(cwd, "merge-base", "--is-ancestor", commit, tip, ok=(0, 1)).returncode == 0


def rebase(tree: Path, onto: str) -> bool:
    """The worktree's commits replayed on `onto`; False (and nothing changed) on a
    conflict."""
    who = ["-c", "user.name=warden", "-c", f"user.email={AUTHOR_EMAIL}"]
    if run(tree, *who, "rebase", "--quiet", onto, ok=(0, 1, 128)).returncode == 0:
        return True
    run(tree, "rebase", "--abort", ok=(0, 128))
    return False


def diff_names(tree: Path, base: str) -> list[str]:
    return out(tree, "diff", "--name-only", f"{base}..HEAD").splitlines()
