"""Warden's state is its own: files 0600, folders 0700, but for the passages agents need.

Agents run as another user (A3) and act on text anyone can forge (an alert, a
log line), so what Warden keeps must not be theirs to read: the database with
every alert and decision, the logs, the state file, the reports, the secrets.
A part of Warden that keeps state (`own_state`) sets the umask to 077 when it
starts, so whatever it and its helpers create is private, and tightens what an
earlier release left open. What it starts for the project (agents, the
project's checks, recovery commands) gets the umask Warden was started with
(`project_umask`): their files belong to the project and its people.

The only folders others may pass through (0711: enter, never list) lead to an
agent's own context file and home (`passage`).
"""

from __future__ import annotations

import contextlib
import os
import pwd
from pathlib import Path

PRIVATE_UMASK = 0o077
PASSAGE_MODE = 0o711
PASSAGES = ("agents", "homes", "worktrees")
"""The state folder's sub-folders on the way to what agents read: their context
files (agents/SWARM/context.md, theirs), the homes Warden makes them and the
swarms' worktrees (theirs)."""

_started_with: list[int] = []
"""The umask before `own_state` set Warden's (empty: never set)."""


def own_state(state_dir: Path) -> None:
    """Make what this process creates private from now on, and `state_dir` so."""
    if not _started_with:
        _started_with.append(os.umask(PRIVATE_UMASK))
    tighten(state_dir)


def project_umask() -> int:
    """The umask for a process started for the project: the one Warden was started
    with (-1, subprocess's "unchanged", when `own_state` never ran)."""
    return _started_with[0] if _started_with else -1


def passage(path: Path) -> None:
    """A folder others may pass through but not list (0711)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(PASSAGE_MODE)


def tighten(state_dir: Path) -> None:
    """`state_dir` a passage; its files 0600 and its folders 0700 but the passages,
    whose sub-folders are passages and whose files are 0600.

    Releases before this one left them 0644 and 0755 (the database, the logs,
    the agents' logs) and gave each swarm's folder to the agents' user: one look
    at start closes them and takes the folders back. What an agent owns (its
    context, its home) stays its own."""
    passage(state_dir)
    uid = os.geteuid()
    for entry in _entries(state_dir):
        if entry.name not in PASSAGES or not entry.is_dir(follow_symlinks=False):
            _close(entry, uid)
            continue
        passage(Path(entry.path))
        for sub in _entries(Path(entry.path)):
            if entry.name == "agents" and sub.is_dir(follow_symlinks=False):
                if uid == 0 and sub.stat(follow_symlinks=False).st_uid != 0:
                    os.chown(sub.path, 0, 0)
                passage(Path(sub.path))
                for f in _entries(Path(sub.path)):
                    _close(f, uid)


def _close(entry: os.DirEntry[str], uid: int) -> None:
    """0600 or 0700 if it is this user's (an agent's own file stays as it is)."""
    if entry.is_symlink() or entry.stat(follow_symlinks=False).st_uid != uid:
        return
    os.chmod(entry.path, 0o700 if entry.is_dir(follow_symlinks=False) else 0o600)


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    with contextlib.suppress(FileNotFoundError), os.scandir(folder) as it:
        return list(it)
    return []


def give(tree: Path, user: str) -> None:
    """A folder and all in it to `user` (links themselves, never what they point
    at): a tree agents work in is theirs."""
    entry = pwd.getpwnam(user)
    for root, folders, files in os.walk(tree):
        for name in (root, *(os.path.join(root, f) for f in folders + files)):
            os.chown(name, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
