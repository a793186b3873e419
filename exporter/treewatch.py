"""Notices when a git working tree changes, cheaply enough to ask every 2 s.

The fingerprint is HEAD plus the size and mtime of every path git reports as
changed or untracked under the project folder. It is taken again after each
run of the watched command, so files the command itself writes (a build's
output that is not ignored) do not set off an endless rebuild loop.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from exporter.gitcmd import run_git


class TreeWatcher:
    def __init__(self, project_dir: Path) -> None:
        self.project_dir = project_dir
        self._baseline: str | None = None

    def fingerprint(self) -> str | None:
        """The tree's state, or None when the folder is not in a git work tree."""
        head = run_git(self.project_dir, "rev-parse", "--verify", "--quiet", "HEAD")
        top = run_git(self.project_dir, "rev-parse", "--show-toplevel")
        status = run_git(
            self.project_dir, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", "."
        )
        if top is None or status is None:
            return None
        digest = hashlib.sha256((head or "").encode())
        root = Path(top.strip())
        for entry in status.split("\0"):
            if len(entry) < 4:
                continue
            path = root / entry[3:]
            try:
                st = os.stat(path)
                digest.update(f"{entry}|{st.st_size}|{st.st_mtime_ns}\n".encode())
            except OSError:
                digest.update(f"{entry}|gone\n".encode())
        return digest.hexdigest()

    def mark(self) -> None:
        """Remember the tree as it is now: the state the last run saw or made."""
        self._baseline = self.fingerprint()

    def changed(self) -> bool:
        now = self.fingerprint()
        return now is not None and now != self._baseline
