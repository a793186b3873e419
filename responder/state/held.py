"""What an owner holds of the store in memory, and how it stays true.

The owner (the responder's worker, or the runtime of `warden swarm run`)
holds what it reads of the store: each answer is kept until something it read
may have changed, and only then read again. A change is known two ways, both
exact:

- a write of this process (any thread: the owner, the HTTP handlers) marks
  the tables it wrote when it commits (`Store.write_mark`), and so does a
  body the responder's receiver stored (`Store.inbox_added`); an answer read
  from a table written since is read again at its next use;
- a write of another process or host (`warden swarm resume` in a terminal, a
  responder of another host sharing the database) moves the serials of the
  tables it wrote, in its own transaction (the `changes` table); `look`, at
  the start of each of the owner's steps and before each start it admits,
  reads the serials (one small read) and drops what was read of a table
  another wrote.

So the owner reads the database at start, after a write, for what others
changed, and inside a write transaction (the admission check under
`spawn_guard` reads what it counts there, never from memory). The tables
outside `HELD` (the log of decisions) are read each time.

The circuit breaker's pauses, which only the owner and commands write, are
kept as rows and written through: the owner's own writes change them in
memory without a read.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Hashable
from typing import Any, ParamSpec, TypeVar, cast

from responder.state.base import HELD
from responder.state.queries import LAST_SEEN_EVERY
from responder.state.rows import Pause
from responder.state.store import Store

P = ParamSpec("P")
T = TypeVar("T")
Firing = list[tuple[str, str, str]]
PAUSES = "pauses"
ANSWERS = 256
"""How many answers are held at most: a step asks about 40 different reads."""


@dataclasses.dataclass(frozen=True)
class Answer:
    """What a read answered, and what it was read from: the tables, the write mark
    taken before it and each table's count of others' changes seen by then."""

    value: Any
    before: int
    seen: tuple[tuple[str, int], ...]
    looked: int
    """How many changes of others the looks had seen, in all tables."""


class Held:
    """The owner's copy of what it reads; used on the owner's thread only."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._serials: dict[str, int] = {}
        self._last: dict[str, int] = {}
        """The serials the last look read."""
        self._theirs = dict.fromkeys(HELD, 0)
        """Per table, how many changes of other writers the looks have seen."""
        self._looked = 0
        """The same, in all tables."""
        self._stale: set[str] = set()
        """Pauses written by us in a longer transaction: read again at the next look."""
        self._pauses: list[Pause] = []
        self._answers: dict[Hashable, Answer] = {}
        """The newest asked last; past ANSWERS, the one asked longest ago goes, so
        that those nobody asks for again (a time gone by, an inbox id done) do not
        stay."""
        self.look(at_start=True)

    def look(self, at_start: bool = False) -> None:
        """Drop what another writer changed since the last look.

        The serials are read before anything is read again: a write that lands
        in between is in what is read and moves the serial past the one kept, so
        the next look drops it once more (never too little, at worst once more)."""
        serials = self.store.serials()
        if serials == self._last and not at_start and not self._stale:
            return  # nothing written by anyone since (a write moves a serial): most steps
        self._last = serials
        for table in HELD:
            known, now = self._serials.get(table, 0), serials.get(table, 0)
            ours = [s for s in self.store.take_own_bumps(table) if s > known]
            if at_start or (now != known and ours != list(range(known + 1, now + 1))):
                self._theirs[table] += 1
                self._looked += 1
                if table == PAUSES:
                    self._load_pauses()
            elif table in self._stale:
                self._load_pauses()
            self._stale.discard(table)
            self._serials[table] = now

    def read(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` (a read of the store), answered from memory while
        nothing it read has changed. The caller gets its own copy to change."""
        if self.store.writing():
            return fn(*args, **kwargs)  # counted where it is decided: never from memory
        key = (fn.__name__, *map(_hashable, args), *sorted(kwargs.items()))
        held = self._answers.pop(key, None)
        if held is not None and self._current(held):
            self._answers[key] = held
        else:
            before = self.store.next_mark()
            with self.store.recording() as tables:
                value = fn(*args, **kwargs)
            if not tables.issubset(self._theirs):
                return value  # a table no serial tells another's writes of: not held
            seen = tuple((t, self._theirs[t]) for t in sorted(tables))
            held = self._answers[key] = Answer(value, before, seen, self._looked)
            if len(self._answers) > ANSWERS:
                del self._answers[next(iter(self._answers))]
        kept: T = held.value
        return _own_copy(kept)

    def _current(self, held: Answer) -> bool:
        if self.store.last_write < held.before and self._looked == held.looked:
            return True  # nothing written anywhere since it was read
        for t, n in held.seen:  # a loop, not all() over a generator: asked 30 times a step
            if self._theirs[t] != n or self.store.write_mark(t) >= held.before:
                return False
        return True

    def _load_pauses(self) -> None:
        self._pauses = self.store.pauses()

    def pauses(self) -> list[Pause]:
        return list(self._pauses)

    def firing(self) -> Firing:
        """(alertname, severity, component) of every episode not yet resolved."""
        return self.read(self.store.firing)

    def acted_lately(self, fingerprint: str, starts_at: str, at: float) -> bool:
        """A re-send of an episode acted on and not resolved, whose last sight the store
        has from less than LAST_SEEN_EVERY ago: a duplicate with nothing to write,
        told from memory (a storm of re-sends read the store three times each)."""
        seen = self.read(self.store.acted_open).get((fingerprint, starts_at))
        return seen is not None and at - seen < LAST_SEEN_EVERY

    def open_episodes_seen(self) -> list[tuple[str, str, str, float]]:
        return self.read(self.store.open_episodes_seen)

    def open_crisis_id(self) -> int | None:
        return self.read(self.store.open_crisis_id)

    def maintenance_at(self, at: float) -> tuple[int, float] | None:
        """(id, end) of the maintenance window open at `at` (Store.maintenance_at)."""
        windows = self.read(self.store.maintenance_windows)
        return max(((i, end) for i, start, end in windows if start <= at < end), default=None)

    def budget_sums(
        self, period: str, windows: list[tuple[float, float]]
    ) -> tuple[float, float, list[float]]:
        return self.read(self.store.budget_sums, period, windows)

    def spend_of_periods_since(self, since: float) -> dict[str, float]:
        return self.read(self.store.spend_of_periods_since, since)

    def running_by_type(self) -> dict[str, int]:
        return self.read(self.store.running_by_type)

    def pause(self, swarm_type: str, cls: str, error: str, at: float) -> bool:
        """Pause the type (Store.pause), in memory too."""
        new = self.store.pause(swarm_type, cls, error, at)

        def apply() -> None:
            if new:
                self._pauses.append(Pause(swarm_type, cls, error, at, None))
                self._pauses.sort(key=lambda p: p.since)

        self._wrote(apply)
        return new

    def resume(self, swarm_type: str) -> Pause | None:
        """Lift the type's pause (Store.resume), in memory too."""
        lifted = self.store.resume(swarm_type)
        self._wrote(lambda: self._drop(swarm_type))
        return lifted

    def tell_once_about_pause(self, swarm_type: str, since: float, at: float) -> bool:
        """Store.tell_once_about_pause, in memory too."""
        first = self.store.tell_once_about_pause(swarm_type, since, at)

        def apply() -> None:
            if first:
                self._pauses = [
                    dataclasses.replace(p, told_at=at)
                    if (p.type, p.since) == (swarm_type, since)
                    else p
                    for p in self._pauses
                ]

        self._wrote(apply)
        return first

    def _drop(self, swarm_type: str) -> None:
        self._pauses = [p for p in self._pauses if p.type != swarm_type]

    def _wrote(self, apply: Callable[[], None]) -> None:
        """After a write of the pauses: memory follows it if no one else wrote them
        since the last look (our write moved the serial by exactly one); else they
        are read again, with both."""
        serial = self.store.bumped().get(PAUSES)
        if serial is None:  # inside a longer transaction: known once it is committed
            self._stale.add(PAUSES)
            return
        if serial == self._serials.get(PAUSES, 0) + 1:
            apply()
        else:
            self._load_pauses()
        self._serials[PAUSES] = serial


def _hashable(value: object) -> object:
    return tuple(map(_hashable, value)) if isinstance(value, list | tuple) else value


def _own_copy(value: T) -> T:
    """A copy the caller may change without changing what is held. The store's
    rows are records of values; most are frozen, the agents' are not (a live
    agent's row changes in place), and those are copied one by one. An answer
    that cannot change (a number, a tuple) is its own copy: most asks, each step."""
    if value is None or type(value) in _UNCHANGING:
        return value
    if not isinstance(value, list):
        return copy.copy(value)
    rows: list[object] = value
    if rows and _mutable(type(rows[0])):
        return cast(T, [_copy_row(v) for v in rows])
    return cast(T, rows[:])


def _copy_row(row: object) -> object:
    """copy.copy of a row; of a dataclass's without its dispatch (a live agent's row is
    copied at each ask of the agents, five a step)."""
    if not dataclasses.is_dataclass(row) or not hasattr(row, "__dict__"):
        return copy.copy(row)
    fresh = object.__new__(type(row))
    vars(fresh).update(vars(row))
    return fresh


_UNCHANGING = frozenset({tuple, str, int, float, bool, frozenset})
"""What copy.copy gives back as it is: asked about first, without its dispatch."""


def _mutable(kind: type[object]) -> bool:
    known = _MUTABLE.get(kind)
    if known is None:
        params = getattr(kind, "__dataclass_params__", None)
        known = _MUTABLE[kind] = (
            not params.frozen if params is not None else kind not in _UNCHANGING
        )
    return known


_MUTABLE: dict[type[object], bool] = {}
"""Whether rows of a kind change in place, told once per kind."""
