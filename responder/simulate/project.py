"""The project of `warden simulate`: a virtual repository the workshop's own rules
work on (responder.verify.workshop: commit, judge, rebase, land), and what the
scenario says agents' work does to it.

The project has one test per area (`areas` in the scenario) and starts with all
of them passing. A swarm's work is one commit touching one area, drawn when the
workshop commits it: of the swarms whose agents claim success, the share the
type's plan `verifies` does what it should; the rest break the test of their
area (regressed) or add a test that fails (unverified). Two swarms that work on
the same area from the same base conflict when the second is rebased onto the
first's landing. Types that need not change code (review, monitor) leave no
commit. Nothing runs and nothing is written: each job is done at once, on the
virtual clock, so a run repeats exactly.

`moves` and `landings` are what the invariants read: the watched branch only
moves forward to a commit whose checks ran and passed, and only verified work
lands.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from concurrent.futures import Executor, Future
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

from responder.simulate.scenario import Scenario
from responder.verify.checks import TreeChecks
from responder.verify.work import Work
from responder.verify.workbench import BenchError
from responder.verify.workshop import Workshop
from warden.config import Config

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class Commit:
    id: str
    parent: str | None
    area: int | None
    """The part of the project its change touches (None: the project's first commit)."""
    tests: frozenset[str]
    """Tests it adds."""
    breaks: frozenset[str]
    """Tests that fail from it on."""
    swarm: str
    """Whose work it is ('' for the project's own)."""


class Inline(Executor):
    """Jobs done at once, on the caller's thread: the workshop's queues in a simulation."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        done: Future[T] = Future()
        done.set_result(fn(*args, **kwargs))
        return done


class SimProject:
    """A workbench (responder.verify.workbench) on a virtual repository."""

    def __init__(self, scenario: Scenario, rng: random.Random, clock: Callable[[], float]) -> None:
        self.scenario, self.rng, self.clock = scenario, rng, clock
        first = Commit(
            _sha(0),
            None,
            None,
            frozenset(f"tests/test_area{a}.py::test_it" for a in range(scenario.areas)),
            frozenset(),
            "",
        )
        self.commits = {first.id: first}
        self.branch = first.id
        self.trees: dict[Path, str] = {}
        """Each tree's head."""
        self.checked: set[str] = set()
        """Commits the checks ran on."""
        self.moves: list[tuple[str, str, str]] = []
        """(from, to, swarm) of every move of the watched branch."""

    def workshop(self, config: Config) -> Workshop:
        """A responder's workshop on this project (a restarted responder gets a new
        one on the same project)."""
        return Workshop(config, self, lambda _n, _name: Inline(), self.clock)

    # -- the workbench ------------------------------------------------------------
    def start(self) -> str:
        return self.branch

    def watched(self) -> str:
        return self.branch

    def make(self, work: Work, tree: Path, branch: str | None, base: str) -> None:
        self.trees.setdefault(tree, base)

    def setup(self, work: Work, tree: Path) -> str | None:
        return None

    def remove(self, tree: Path) -> None:
        self.trees.pop(tree, None)

    def committed(self, work: Work, trailer: str) -> bool:
        return self.commits[self._head(work.tree)].swarm == work.swarm_id

    def commit(self, work: Work, message: str, author: str) -> None:
        if not work.expects_change:
            return
        day = int((self.clock() - self.scenario.start.timestamp()) // 86400) + 1
        plan = self.scenario.plan(work.type, day)
        area = self.rng.randrange(self.scenario.areas)
        number = len(self.commits)
        added = frozenset({f"tests/test_area{area}.py::test_case{number}"})
        if self.rng.random() < plan.verifies:
            breaks: frozenset[str] = frozenset()
        elif self.rng.random() < 0.5:
            breaks = frozenset({f"tests/test_area{area}.py::test_it"})  # it passed: regressed
        else:
            breaks = added  # a new test that fails: unverified
        self._add(work.tree, area, added, breaks, work.swarm_id)

    def clean(self, work: Work) -> None:
        """Virtual checks write nothing."""

    def changed(self, work: Work, base: str) -> bool:
        return bool(self._since(self._head(work.tree), base))

    def head(self, work: Work) -> str:
        return self._head(work.tree)

    def contains(self, work: Work, commit: str, tip: str) -> bool:
        return self.contains_commit(tip, commit)

    def rebase(self, work: Work, onto: str) -> bool:
        own = self._since(self._head(work.tree), onto)
        theirs = self._since(onto, self._head(work.tree))
        if {c.area for c in own} & {c.area for c in theirs}:
            return False
        self.trees[work.tree] = onto
        for c in reversed(own):
            self._add(work.tree, c.area, c.tests, c.breaks, c.swarm)
        return True

    def land(self, work: Work, expected: str) -> str | None:
        head = self._head(work.tree)
        if self.branch != expected or expected not in self._line(head):
            raise BenchError("the watched branch moved while landing")
        self.moves.append((self.branch, head, work.swarm_id))
        self.branch = head
        return head

    def check(self, work: Work, tree: Path) -> TreeChecks:
        head = self._head(tree)
        self.checked.add(head)
        return self.checks_at(head)

    def landing(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()

    def close(self) -> None:
        """Nothing runs."""

    # -- the repository ---------------------------------------------------------
    def contains_commit(self, tip: str, commit: str) -> bool:
        """`tip`'s history holds `commit`."""
        return commit in self._line(tip)

    def checks_at(self, commit: str) -> TreeChecks:
        line = [self.commits[c] for c in self._line(commit)]
        tests = frozenset().union(*(c.tests for c in line))
        failing = frozenset().union(*(c.breaks for c in line))
        cases = {t: t not in failing for t in tests}
        return TreeChecks(build=True, tests=not failing, cases=cases)

    def _head(self, tree: Path) -> str:
        head = self.trees.get(tree)
        if head is None:
            raise BenchError(f"no worktree {tree}")
        return head

    def _add(
        self,
        tree: Path,
        area: int | None,
        tests: frozenset[str],
        breaks: frozenset[str],
        swarm: str,
    ) -> None:
        commit = Commit(_sha(len(self.commits)), self._head(tree), area, tests, breaks, swarm)
        self.commits[commit.id] = commit
        self.trees[tree] = commit.id

    def _line(self, tip: str) -> list[str]:
        """`tip` and its ancestors, newest first."""
        out: list[str] = []
        at: str | None = tip
        while at is not None:
            out.append(at)
            at = self.commits[at].parent
        return out

    def _since(self, tip: str, other: str) -> list[Commit]:
        """The commits of `tip`'s history that `other`'s lacks, newest first."""
        theirs = set(self._line(other))
        return [self.commits[c] for c in self._line(tip) if c not in theirs]


def _sha(n: int) -> str:
    return f"{n:040x}"
