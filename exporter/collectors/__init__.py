"""One module per collector; each builds fresh metric families on every run.

The common interface is `Collector`: `collect()` does the (possibly blocking)
work in a worker thread and returns the families to serve until its next run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from pathlib import Path

from prometheus_client.metrics_core import Metric


class Collector(ABC):
    """Base of every collector; subclasses set `name` and `interval`."""

    name: str = ""
    interval: float = 15.0
    watch: tuple[Path, ...] = ()
    """Files or folders whose file events may call for a run now: the
    scheduler passes each batch of changed paths to `changed()`."""
    watched_interval: float | None = None
    """The schedule while file events work, when it can be slower than
    `interval` (which then is the polling rate without them)."""

    @abstractmethod
    def collect(self) -> Sequence[Metric]:
        """Measure now (blocking is fine) and return the families to serve."""

    def changed(self, paths: Collection[Path]) -> bool:
        """Whether this batch of changed paths calls for a run (may block)."""
        return False

    def released(self, paths: Collection[Path]) -> bool:
        """Whether paths held back during a run, released at its end (`settled`), call
        for a run: changes as any other, but already judged (never held again)."""
        return self.changed(paths)

    def settled(self) -> Collection[Path]:
        """After a run, once its last file events arrived: paths held back while it ran
        that are changes now, for every collector (exporter.changes)."""
        return ()

    def pending(self) -> bool:
        """After a run: whether changes seen during it still call for another."""
        return True

    def close(self) -> None:  # noqa: B027  (an optional hook, not abstract)
        """Release resources and persist state; called once at shutdown."""
