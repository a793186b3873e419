"""One module per collector; each builds fresh metric families on every run.

The common interface is `Collector`: `collect()` does the (possibly blocking)
work in a worker thread and returns the families to serve until its next run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from prometheus_client.metrics_core import Metric


class Collector(ABC):
    """Base of every collector; subclasses set `name` and `interval`."""

    name: str = ""
    interval: float = 15.0
    watch_interval: float | None = None
    """When set, the scheduler calls `changed()` this often and runs the
    collector at once when it answers True (build on a git change)."""

    @abstractmethod
    def collect(self) -> Sequence[Metric]:
        """Measure now (blocking is fine) and return the families to serve."""

    def changed(self) -> bool:
        return False

    def close(self) -> None:  # noqa: B027  (an optional hook, not abstract)
        """Release resources and persist state; called once at shutdown."""
