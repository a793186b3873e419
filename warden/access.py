"""What another user (the agents' user) may do with a path, asked from Warden's side.

As root, Warden starts agents as an unprivileged user (A3). Root reaches every
file; that user does not: a clone in root's home (0700) or in a `mktemp -d`
folder leaves the agent program, the project and the state folder out of its
reach, and every agent died at once with "Permission denied" while
`check-config` said OK. So the config is checked for that user too.

The answer comes from the mode bits along the path, the way the kernel checks
them: search (x) on every folder on the way, then the asked permission on the
path itself, as owner, group member or other. ACLs are not read: a path they
open would be reported as closed, never the reverse.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

BITS = {"r": 4, "w": 2, "x": 1}


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gids: frozenset[int]

    @classmethod
    def named(cls, name: str) -> User:
        entry = pwd.getpwnam(name)
        groups = os.getgrouplist(name, entry.pw_gid)
        return cls(name, entry.pw_uid, frozenset(groups))


def refusal(path: Path, user: User, want: str) -> str | None:
    """Why `user` may not use `path` as `want` ("r", "w", "x" or a mix), or None if it
    may. The first folder on the way that stops it is named, with its mode and
    owner; a path that does not exist yet is judged by the nearest folder that does
    (where it would be made: search and write)."""
    path = Path(os.path.abspath(path))
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    for folder in reversed(existing.parents):
        if not _may(folder, user, "x"):
            return f"{_described(folder)}: {user.name} cannot pass through it"
    if existing != path:
        if _may(existing, user, "wx"):
            return None
        return f"{_described(existing)}: {user.name} cannot make {path.name!r} in it"
    missing = "".join(w for w in want if not _may(existing, user, w))
    if missing:
        return f"{_described(existing)}: {user.name} cannot {_verbs(missing, existing.is_dir())}"
    return None


def which(program: str, user: User, search: str | None = None) -> tuple[Path | None, str | None]:
    """Where `user` finds `program` on PATH (`search`, default this process's), as
    execvp does: the first entry it may run, passing over those it may not.
    (the program, None), or (None, why not: the first refusal met, or not found)."""
    first = None
    for folder in (search if search is not None else os.environ.get("PATH", "")).split(os.pathsep):
        candidate = Path(folder or ".") / program
        if not candidate.is_file():
            continue
        why = refusal(candidate, user, "x")
        if why is None:
            return candidate, None
        first = first or why
    return None, first or f"{program!r} is on no folder of PATH"


def _may(path: Path, user: User, want: str) -> bool:
    if user.uid == 0:
        return True
    st = path.stat()
    mode = stat.S_IMODE(st.st_mode)
    shift = 6 if st.st_uid == user.uid else 3 if st.st_gid in user.gids else 0
    have = (mode >> shift) & 7
    return all(have & BITS[w] for w in want)


def _described(path: Path) -> str:
    st = path.stat()
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f"{str(path)!r} is {stat.S_IMODE(st.st_mode):04o} {owner}:{group}"


def _verbs(want: str, folder: bool) -> str:
    names = {
        "r": "list it" if folder else "read it",
        "w": "write in it" if folder else "write it",
        "x": "enter it" if folder else "run it",
    }
    return " and ".join(names[w] for w in want)
