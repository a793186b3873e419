"""What an owner holds of the store in memory, and how it stays true.

The owner (the responder's worker, or the runtime of `warden swarm run`) reads
what it holds once at start and writes through: each of its changes goes to
the store, then to memory. What another process or host changes (`warden
swarm resume` in a terminal, a responder of another host sharing the
database) moves the kind's serial in the `changes` table; `look`, at the
start of each of the owner's steps and before each start it admits, reads
the serials (one small read) and reads again only a kind someone else wrote.

A kind the owner writes through `Held` (the circuit breaker's pauses) follows
its writes in memory. A kind many parts of the owner write directly (the
firing episodes: the inbox, the claims, the expiry) is `Followed`: read again
at its next use after a write of this process, which the store marks. At the
look, the serials this process's own writes made tell them from another
writer's.

Held now: the pauses (every admission check, the state file, the status
view), the firing episodes (the situation, J1, the status view) and the
maintenance windows (the situation).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Generic, TypeVar

from responder.state.rows import Pause
from responder.state.store import Store

PAUSES = "pauses"
EPISODES = "episodes"
MAINTENANCE = "maintenance"
Firing = list[tuple[str, str, str]]
T = TypeVar("T")


class Followed(Generic[T]):
    """A kind many parts of the owner write straight to the store: a write of this
    process marks its table, and the next read reads it again, from the database."""

    def __init__(self, store: Store, table: str, read: Callable[[], T]) -> None:
        self.store, self.table, self.read = store, table, read
        self.mark = -1
        self.value = self.load()

    def load(self) -> T:
        with self.store.fresh():
            self.mark = self.store.write_mark(self.table)
            self.value = self.read()
        return self.value

    def get(self) -> T:
        return self.load() if self.store.write_mark(self.table) != self.mark else self.value


class Held:
    """The owner's copy of what it holds; used on the owner's thread only."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._serials: dict[str, int] = {}
        self._stale: set[str] = set()
        """Kinds written by us in a longer transaction: read again at the next look."""
        self._pauses: list[Pause] = []
        self._firing = Followed(store, EPISODES, lambda: store.firing())
        self._windows = Followed(store, MAINTENANCE, lambda: store.maintenance_windows())
        self._loaders: dict[str, Callable[[], object]] = {
            PAUSES: self._load_pauses,
            EPISODES: self._firing.load,
            MAINTENANCE: self._windows.load,
        }
        """Each held kind (its table, whose serial tells its writes) and how it is read."""
        self.look(at_start=True)

    def look(self, at_start: bool = False) -> None:
        """Read again what another writer changed since the last look.

        The serials are read before the rows: a write that lands in between
        is in the rows already and moves the serial past the one kept, so the
        next look reads the kind again (never too little, at worst once more)."""
        serials = self.store.serials()
        for kind, load in self._loaders.items():
            known, now = self._serials.get(kind, 0), serials.get(kind, 0)
            ours = [s for s in self.store.take_own_bumps(kind) if s > known]
            theirs = now != known and ours != list(range(known + 1, now + 1))
            if at_start or theirs or kind in self._stale:
                load()  # another wrote it (our own writes are in memory already)
                self._stale.discard(kind)
            self._serials[kind] = now

    def _load_pauses(self) -> None:
        with self.store.fresh():
            self._pauses = self.store.pauses()

    def pauses(self) -> list[Pause]:
        return list(self._pauses)

    def firing(self) -> Firing:
        """(alertname, severity, component) of every episode not yet resolved (written
        by the inbox, the claims and the expiry)."""
        return list(self._firing.get())

    def maintenance_at(self, at: float) -> tuple[int, float] | None:
        """(id, end) of the maintenance window open at `at` (Store.maintenance_at)."""
        open_at = [(i, end) for i, start, end in self._windows.get() if start <= at < end]
        return max(open_at, default=None)

    def pause(self, swarm_type: str, cls: str, error: str, at: float) -> bool:
        """Pause the type (Store.pause), in memory too."""
        new = self.store.pause(swarm_type, cls, error, at)

        def apply() -> None:
            if new:
                self._pauses.append(Pause(swarm_type, cls, error, at, None))
                self._pauses.sort(key=lambda p: p.since)

        self._wrote(PAUSES, apply)
        return new

    def resume(self, swarm_type: str) -> Pause | None:
        """Lift the type's pause (Store.resume), in memory too."""
        lifted = self.store.resume(swarm_type)
        self._wrote(PAUSES, lambda: self._drop(swarm_type))
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

        self._wrote(PAUSES, apply)
        return first

    def _drop(self, swarm_type: str) -> None:
        self._pauses = [p for p in self._pauses if p.type != swarm_type]

    def _wrote(self, kind: str, apply: Callable[[], None]) -> None:
        """After a write of ours: memory follows it if no one else wrote the kind
        since the last look (our write moved the serial by exactly one); else the
        kind is read again, with both."""
        serial = self.store.bumped().get(kind)
        if serial is None:  # inside a longer transaction: known once it is committed
            self._stale.add(kind)
            return
        if serial == self._serials.get(kind, 0) + 1:
            apply()
        else:
            self._loaders[kind]()
        self._serials[kind] = serial
