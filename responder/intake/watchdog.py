"""The Watchdog alert's arrivals (X5): while it keeps coming, alerts can be trusted
to arrive.

The Watchdog's route repeats every 30 s; three missed repeats mean
Prometheus, Alertmanager or the route between them is broken. Silence is
timed on the monotonic clock: a step of the wall clock (NTP, a suspended VM)
must not look like a silent pipeline.
"""

from __future__ import annotations

import time

from warden.alertspecs import WATCHDOG_SILENCE_SECONDS


class Watchdog:
    def __init__(self) -> None:
        self.at = 0.0
        """When it last arrived, on the wall clock (for people and the metric); 0: never."""
        self.seen = time.monotonic()

    def silent(self) -> bool:
        """It stopped arriving (or never came) for WATCHDOG_SILENCE seconds."""
        return time.monotonic() - self.seen > WATCHDOG_SILENCE_SECONDS

    def arrived(self) -> bool:
        """It arrived; True if that ends a silence (a gap in deliveries)."""
        gap = self.silent()
        self.at = time.time()
        self.seen = time.monotonic()
        return gap
