"""Warden's own old files: agent logs and contexts, reports, recovery logs, the
worktrees of ended swarms and their merged branches (J7, A5).

J7 compacts the store and removes the folders of swarms that ended long ago,
the agents' old session transcripts, the worktrees of every swarm that ended
(what they held is committed on the swarm's branch, or was never work) and the
swarms' branches the watched branch has merged;
`warden cleanup` (DiskSpaceLow's default recovery) does the same and also
removes old reports and recovery logs, so a full disk is first relieved of
what Warden itself wrote, without a swarm. Only what ended before the cut
goes: running swarms and today's reports are never touched.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from responder.model import SwarmState
from responder.state.store import Store
from responder.verify.git import GitError, Repo
from responder.verify.work import BRANCH_PREFIX
from warden.config import Config

LIVE_SWARMS = (SwarmState.RUNNING, SwarmState.VERIFYING)
TRANSCRIPTS = "*/.claude/projects/*"
"""Where Claude Code keeps a session's transcript, in the homes Warden makes for
its agents' users: a type whose command leaves out --no-session-persistence
writes one per run, quoting its context."""


@dataclass(frozen=True)
class Removed:
    swarms: int
    files: int
    bytes: int
    worktrees: int = 0
    branches: int = 0


def remove_old(config: Config, store: Store, before: float, reports: bool = False) -> Removed:
    """Compact the store's history before `before` and remove the files of what ended
    then (with `reports`, old reports and recovery logs too)."""
    files = size = 0
    ids = store.prune(before)
    old = [config.state_dir / "agents" / swarm_id for swarm_id in ids]
    for project in (config.state_dir / "homes").glob(TRANSCRIPTS):
        old += [p for p in _older(project, before) if p.suffix == ".jsonl"]
    for path in old:
        f, b = _remove(path)
        files, size = files + f, size + b
    if reports:
        for folder in (config.state_dir / "reports", config.state_dir / "recoveries"):
            for path in _older(folder, before):
                f, b = _remove(path)
                files, size = files + f, size + b
    trees, branches = remove_worktrees(config, store)
    return Removed(len(ids), files, size, trees, branches)


def remove_worktrees(config: Config, store: Store) -> tuple[int, int]:
    """(worktrees, branches) removed: those of swarms no longer running or verifying,
    and the leftovers of base checks a crash left."""
    root = config.state_dir / "worktrees"
    if not root.is_dir():
        return 0, 0
    live = {s.id for state in LIVE_SWARMS for s in store.swarms(state)}
    repo = Repo(config.project_dir, config.git.branch if config.git else "HEAD")
    trees = branches = 0
    for tree in root.iterdir():
        if tree.is_dir() and not tree.is_symlink() and tree.name not in live:
            with contextlib.suppress(GitError):  # not the project's: removed as a folder
                repo.remove_worktree(tree)
            shutil.rmtree(tree, ignore_errors=True)
            trees += 1
    try:
        for branch in repo.merged_branches(BRANCH_PREFIX):
            if branch.removeprefix(BRANCH_PREFIX) not in live:
                repo.delete_branch(branch)
                branches += 1
    except GitError:
        pass  # the project is no git repository (any more)
    return trees, branches


def _older(folder: Path, before: float) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.stat().st_mtime < before]
    except OSError:
        return []


def _remove(path: Path) -> tuple[int, int]:
    """(files, bytes) removed."""
    if path.is_dir():
        found = [p for p in path.rglob("*") if p.is_file()]
        counted = (len(found), sum(p.stat().st_size for p in found))
        shutil.rmtree(path, ignore_errors=True)
        return counted
    try:
        size = path.stat().st_size
        path.unlink()
    except OSError:
        return 0, 0
    return 1, size
