"""Read-only git queries for the collectors (argument lists, never a shell)."""

from __future__ import annotations

import subprocess
from pathlib import Path

GIT_TIMEOUT_SECONDS = 10.0


def run_git(
    cwd: Path, *args: str, stdin: str | None = None, ok: tuple[int, ...] = (0,)
) -> str | None:
    """git's stdout, or None when git is missing, fails or takes too long.

    `--no-optional-locks` keeps `git status` from taking index.lock to
    refresh the index: Warden polls every few seconds and must never make an
    agent's own `git add` or `git commit` fail on a held lock. `ok` lists
    the exit codes that are answers (`git check-ignore` exits 1 for "none").
    """
    try:
        proc = subprocess.run(
            ["git", "--no-optional-locks", *args],
            cwd=cwd,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode in ok else None
