"""Which file events under the project are changes to the checks' inputs.

The kernel reports every write under the project folder; most are not
inputs: what git ignores (`.gitignore`, `.git/info/exclude`), git's own
folder, the files Warden reads as the checks' results (the JUnit report, the
coverage report), Warden's state and the log files it follows, and each
check's `ignore` globs. What is left starts a run, but for two kinds of files
the checks write themselves:

- **Files that come and go around a run.** An untracked file that changes
  while a check of the project runs is held until the runs going on then have
  ended (and their last events arrived): if it is gone, it was the run's own
  scratch file (mypy's `.mypy_worker.<random>.json`, a new name each run) and
  starts nothing; if it is still there, it is released as a change then. A
  new module an agent writes during a run is checked once the run ends.
- **Outputs a check writes on every run.** A project that does not ignore
  one (`.coverage` in an sdist without a `.gitignore`) would rerun its checks
  forever. A file is learned as a check's output only on the check's own
  evidence: it changed only ever while checks ran (held, then released, as
  above), the check was running each time, it alone caused the check's next
  run, and that run wrote it again. A file that changed while no check ran
  (an agent's or a person's first write of a new module) is a source: it is
  never learned, and a learned output that changes while no check runs is
  unlearned.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
from collections.abc import Collection, Iterable
from pathlib import Path

from exporter.gitcmd import run_git

log = logging.getLogger(__name__)
NAMED = 3
"""Paths a log line names before it counts the rest."""


class ProjectChanges:
    """Shared by the checks of one project; safe to call from any thread."""

    def __init__(self, project_dir: Path, outputs: Iterable[Path] = ()) -> None:
        self.project_dir = project_dir.resolve()
        self._outputs = {p.resolve() for p in outputs}
        self._lock = threading.Lock()
        self._learned: set[Path] = set()
        self._running: set[str] = set()
        """Checks whose run (and its settling) is going on."""
        self._held: dict[Path, set[str]] = {}
        """Untracked paths changed during runs -> the checks whose runs they wait for."""
        self._written_by: dict[Path, set[str]] = {}
        """Held paths -> every check that was running while they changed."""
        self._outside: set[Path] = set()
        """Paths seen changing while no check ran: sources, never outputs."""

    def inputs(
        self, paths: Collection[Path], ignore: Collection[str] = (), released: bool = False
    ) -> set[Path]:
        """The paths among `paths` that are inputs of a check with `ignore` globs, now;
        untracked ones changed during a run are held (`run_settled` releases them).
        `released`: paths a hold released, judged already: neither held again nor
        taken for a change made while no check ran."""
        if not released:
            self._unlearn_if_idle(paths)
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
        out -= self._git_ignored(out)
        if released:
            return out
        with self._lock:
            if not self._running:
                self._outside |= out  # someone else's writes: sources, never outputs
        return out - self._hold(out)

    def _unlearn_if_idle(self, paths: Collection[Path]) -> None:
        """A learned output changed while no check runs was someone else's write: a
        source after all."""
        with self._lock:
            if self._running:
                return
            back = self._learned.intersection(paths)
            self._learned -= back
            self._outside |= back
        if back:
            log.warning(
                "%s changed while no check ran: a source after all, a change again",
                self.named(back),
            )

    def written_only_by_checks(self, paths: Collection[Path]) -> bool:
        """Whether none of `paths` was ever seen changing while no check ran."""
        with self._lock:
            return not self._outside.intersection(paths)

    def _hold(self, paths: set[Path]) -> set[Path]:
        """Of `paths`, the untracked ones changed while a check runs: held (or held
        still), for those runs to end."""
        with self._lock:
            running, held = set(self._running), set(self._held)
        if not paths or (not running and not paths & held):
            return set()
        untracked = self._untracked(paths)
        with self._lock:
            running = set(self._running)
            holding = {p for p in paths if p in self._held or (running and p in untracked)}
            for p in holding:
                self._held.setdefault(p, set()).update(running)
                self._written_by.setdefault(p, set()).update(running)
        return holding

    def run_started(self, check: str) -> None:
        with self._lock:
            self._running.add(check)

    def run_settled(self, check: str) -> tuple[set[Path], set[Path]]:
        """`check`'s run ended and its last events arrived: (the held paths it released
        that still exist, changes for every check; those of them it may have written).
        Held paths that are gone were scratch files: dropped."""
        with self._lock:
            self._running.discard(check)
            done = []
            for p, waits in self._held.items():
                waits.discard(check)
                if not waits:
                    done.append(p)
            writers = {p: self._written_by.pop(p, set()) for p in done}
            for p in done:
                del self._held[p]
        released = {p for p in done if p.exists()}
        gone = len(done) - len(released)
        if gone:
            log.debug("%d file(s) came and went during a run: no change", gone)
        return released, {p for p in released if check in writers[p]}

    def _git_ignored(self, paths: set[Path]) -> set[Path]:
        if not paths:
            return set()
        listed = "".join(f"{p}\0" for p in paths)
        answer = run_git(self.project_dir, "check-ignore", "-z", "--stdin", stdin=listed, ok=(0, 1))
        if answer is None:  # not a git work tree, or no git: nothing is ignored
            return set()
        return {Path(p) for p in answer.split("\0") if p}

    def _untracked(self, paths: Collection[Path]) -> set[Path]:
        """The paths git does not track (all of them outside a git work tree)."""
        listed = run_git(self.project_dir, "ls-files", "-z", "--", *map(str, paths))
        if listed is None:
            return set(paths)
        tracked = {self.project_dir / p for p in listed.split("\0") if p}
        return {p for p in paths if p not in tracked}

    def learn_outputs(self, check: str, paths: Collection[Path]) -> None:
        with self._lock:
            self._learned |= set(paths)
        log.warning(
            "%s writes %s on every run: no longer a change that starts a run "
            "(add it to the project's .gitignore or the check's `ignore` to say so)",
            check,
            self.named(paths),
        )

    def named(self, paths: Collection[Path]) -> str:
        """A few of `paths`, relative to the project, then how many more."""
        names = sorted(
            str(p.relative_to(self.project_dir)) if p.is_relative_to(self.project_dir) else str(p)
            for p in paths
        )
        more = f" and {len(names) - NAMED} more" if len(names) > NAMED else ""
        return ", ".join(names[:NAMED]) + more
