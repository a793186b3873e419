"""RFC 3339 times as Alertmanager and Prometheus write them, read strictly.

A webhook's `startsAt`, Alertmanager's API and the store's episodes all key on
them; Python's `fromisoformat` takes forms they never write, so one reader
decides what is a time here.
"""

from __future__ import annotations

import datetime as dt
import functools
import re

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)


@functools.lru_cache(maxsize=4096)
def instant(text: str) -> float | None:
    """Seconds since the epoch of an RFC 3339 time as Alertmanager and Prometheus write
    it (`2026-11-26T22:00:00.123456789Z`, offsets within a day allowed); None if it
    is not one: not the other forms Python's `fromisoformat` takes (no `T`, week
    dates, ...), nor an impossible date, hour or offset (`+25:00`). Remembered: a
    storm's re-sends and the episodes' reads carry the same few times over and over."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction, zone = m.group(7), m.group(8)
    try:
        offset = dt.timedelta(0)
        if zone not in ("Z", "z"):
            hours, minutes = int(zone[1:3]), int(zone[4:6])
            if hours > 23 or minutes > 59:
                return None
            offset = (1 if zone[0] == "+" else -1) * dt.timedelta(hours=hours, minutes=minutes)
        moment = dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.timezone(offset))
    except ValueError:
        return None
    return moment.timestamp() + float(fraction or 0)
