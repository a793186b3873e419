"""Which file events under the project are changes to the checks' inputs.

The kernel reports every write under the project folder; most are not
inputs: what git ignores (`.gitignore`, `.git/info/exclude`), git's own
folder, the files Warden reads as the checks' results (the JUnit report, the
coverage report), Warden's state and the log files it follows, and each
check's `ignore` globs. What is left starts a run.

A project that does not ignore an output its checks write on every run
(`.coverage` in an sdist without a `.gitignore`) would otherwise rerun its
checks forever. So an untracked path that changed during two runs of a check
in a row, and was the only change both times, is taken as that check's
output and ignored from then on (logged once, with the fix: ignore it).
"""

from __future__ import annotations

import fnmatch
import logging
import threading
from collections.abc import Collection, Iterable
from pathlib import Path

from exporter.gitcmd import run_git

log = logging.getLogger(__name__)


class ProjectChanges:
    """Shared by the checks of one project; safe to call from any thread."""

    def __init__(self, project_dir: Path, outputs: Iterable[Path] = ()) -> None:
        self.project_dir = project_dir.resolve()
        self._outputs = {p.resolve() for p in outputs}
        self._lock = threading.Lock()
        self._learned: set[Path] = set()

    def inputs(self, paths: Collection[Path], ignore: Collection[str] = ()) -> set[Path]:
        """The paths among `paths` that are inputs of a check with `ignore` globs."""
        with self._lock:
            skip = self._outputs | self._learned
        out: set[Path] = set()
        for p in paths:
            try:
                rel = p.relative_to(self.project_dir)
            except ValueError:
                continue
            if ".git" in rel.parts or any(p == s or s in p.parents for s in skip):
                continue
            if any(fnmatch.fnmatch(rel.as_posix(), g) for g in ignore) or any(
                fnmatch.fnmatch(part, g) for g in ignore for part in rel.parts
            ):
                continue
            out.add(p)
        return out - self._git_ignored(out)

    def _git_ignored(self, paths: set[Path]) -> set[Path]:
        if not paths:
            return set()
        listed = "".join(f"{p}\0" for p in paths)
        answer = run_git(self.project_dir, "check-ignore", "-z", "--stdin", stdin=listed, ok=(0, 1))
        if answer is None:  # not a git work tree, or no git: nothing is ignored
            return set()
        return {Path(p) for p in answer.split("\0") if p}

    def untracked(self, paths: Collection[Path]) -> bool:
        """True when git tracks none of `paths` (tracked files are sources)."""
        listed = run_git(self.project_dir, "ls-files", "-z", "--", *map(str, paths))
        return listed is not None and not listed.strip("\0")

    def learn_outputs(self, check: str, paths: Collection[Path]) -> None:
        with self._lock:
            self._learned |= set(paths)
        names = ", ".join(sorted(str(p.relative_to(self.project_dir)) for p in paths))
        log.warning(
            "%s writes %s on every run: no longer a change that starts a run "
            "(add it to the project's .gitignore or the check's `ignore` to say so)",
            check,
            names,
        )
