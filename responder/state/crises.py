"""Crises (their start, end and the person told) and maintenance windows."""

from __future__ import annotations

from responder.state.base import StoreBase
from responder.state.queries import Q
from responder.state.rows import float_or_none


class CrisisTables(StoreBase):
    """Crises and maintenance windows."""

    # -- crises and maintenance windows -------------------------------------
    def open_crisis_id(self) -> int | None:
        rows = self._rows(Q.open_crisis)
        return int(rows[0][0]) if rows else None

    def open_crisis(self, at: float) -> int:
        """The open crisis' id, opening one at `at` if none is open. Opened under the
        fleet-wide guard: responders entering a crisis together open one, and so admit
        against one crisis budget. The caller looked for an open one first
        (`assess`, through what its owner holds): this looks again under the guard."""
        with self.spawn_guard(), self._tx() as db:
            row = db.execute(Q.open_crisis).first()
            if row is not None:
                return int(row[0])
            return int(db.execute(Q.add_crisis, {"at": at}).scalar_one())

    def close_crisis(self, at: float) -> float | None:
        """End the open crisis; its duration, or None if none was open (the caller
        looked first, `assess`, through what its owner holds)."""
        with self._tx() as db:
            row = db.execute(Q.open_crisis).first()
            if row is None:
                return None
            db.execute(Q.end_crisis, {"at": at})
            return at - float(row[1])

    def tell_once_about_crisis(self, crisis_id: int, at: float) -> bool:
        """True only the first time it is asked for this crisis: a person is told once."""
        with self._tx() as db:
            return db.execute(Q.tell_crisis, {"row_id": crisis_id, "at": at}).rowcount == 1

    def crisis_durations(self) -> list[float]:
        return [float(r[0]) for r in self._rows(Q.crisis_durations)]

    def crises_between(self, start: float, end: float) -> list[tuple[float, float | None]]:
        """(started, ended or None) of the crises that began in [start, end)."""
        rows = self._rows(Q.crises_between, start=start, end=end)
        return [(float(r[0]), float_or_none(r[1])) for r in rows]

    def last_crisis(self) -> tuple[float, float | None] | None:
        rows = self._rows(Q.last_crisis)
        return (float(rows[0][0]), rows[0][1]) if rows else None

    def start_maintenance(self, starts_at: float, ends_at: float) -> int:
        with self._tx() as db:
            db.execute(Q.cut_maintenance, {"at": starts_at})
            query = Q.add_maintenance
            return int(db.execute(query, {"starts": starts_at, "ends": ends_at}).scalar_one())

    def stop_maintenance(self, at: float) -> bool:
        with self._tx() as db:
            return db.execute(Q.stop_maintenance, {"at": at}).rowcount > 0

    def maintenance_windows(self) -> list[tuple[int, float, float]]:
        """(id, starts_at, ends_at) of every maintenance window (a few a month)."""
        return [(int(r[0]), float(r[1]), float(r[2])) for r in self._rows(Q.maintenance_windows)]

    def maintenance_at(self, at: float) -> tuple[int, float] | None:
        """(id, end) of the maintenance window open at `at`."""
        rows = self._rows(Q.maintenance_at, at=at)
        return (int(rows[0][0]), float(rows[0][1])) if rows else None
