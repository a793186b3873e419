"""What an owner holds of the store in memory, and how it stays true.

The owner (the responder's worker, or the runtime of `warden swarm run`) reads
what it holds once at start and writes through: each of its changes goes to
the store, then to memory. What another process or host changes (`warden
swarm resume` in a terminal, a responder of another host sharing the
database) moves the kind's serial in the `changes` table; `look`, once per
step, reads the serials (one small read) and reads again only a kind that
someone else wrote.

Held now: the circuit breaker's pauses (read by every admission check, the
state file and the status view).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from responder.state.rows import Pause
from responder.state.store import Store

PAUSES = "pauses"


class Held:
    """The owner's copy of what it holds; used on the owner's thread only."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._serials: dict[str, int] = {}
        self._pauses: list[Pause] = []
        self._loaders: dict[str, Callable[[], None]] = {PAUSES: self._load_pauses}
        """Each held kind (its table, whose serial tells its writes) and how it is read."""
        self.look(at_start=True)

    def look(self, at_start: bool = False) -> None:
        """Read again what another writer changed since the last look.

        The serials are read before the rows: a write that lands in between
        is in the rows already and moves the serial past the one kept, so the
        next look reads the kind again (never too little, at worst once more)."""
        serials = self.store.serials()
        for kind, load in self._loaders.items():
            if at_start or serials.get(kind, 0) != self._serials.get(kind, 0):
                load()
                self._serials[kind] = serials.get(kind, 0)

    def _load_pauses(self) -> None:
        with self.store.fresh():
            self._pauses = self.store.pauses()

    def pauses(self) -> list[Pause]:
        return list(self._pauses)

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
        if serial is None:  # inside a longer transaction: its serial moves at its end,
            return  # and the next look reads the kind again
        if serial == self._serials.get(kind, 0) + 1:
            apply()
        else:
            self._loaders[kind]()
        self._serials[kind] = serial
