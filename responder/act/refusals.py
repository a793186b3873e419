"""The decision log's refusals, counted rather than written one by one (issue 29):
one row per path, reason and type in each 10-minute window, with how many it
stands for. At night or at a spent budget the same start is refused at every
look (thousands a week); a row each drowned the decisions a person reads.
The row is written at the window's first refusal and counted up at each next
one, so a crash loses none; the metric `warden_admission_refusals_total` still
counts each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from responder.state.store import Store

WINDOW_SECONDS = 600.0


@dataclass
class _Open:
    row: int
    since: float
    count: int


class RefusalLog:
    """Owned by the runtime's owner, as its store writes are."""

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self.store, self.clock = store, clock
        self._open: dict[tuple[str, str, str], _Open] = {}

    def log(self, path: str, reason: str, detail: str, context: dict[str, str]) -> None:
        now = self.clock()
        key = (path, reason, context.get("type") or context.get("recovery", ""))
        entry: dict[str, Any] = {"path": path, "reason": reason, "detail": detail, **context}
        window = self._open.get(key)
        if window is not None and now - window.since < WINDOW_SECONDS:
            window.count += 1
            entry.update(count=window.count, since=window.since)
            self.store.update_decision(window.row, entry, now)
            return
        row = self.store.log_decision("refused", {**entry, "count": 1, "since": now}, now)
        self._open[key] = _Open(row, now, 1)
