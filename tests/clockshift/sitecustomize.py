"""Sets the wall clock of every Python process of a test stack (`warden up` and
its children, which inherit PYTHONPATH): `time.time` runs ahead by the seconds
written in $WARDEN_TEST_CLOCK_FILE, re-read every half second, so a test can
move a running stack to 22:59 and then to 06:59.

libfaketime would do the same below Python, but with a real monotonic clock it
makes `time.sleep` fail with EINVAL (clock_nanosleep), and with a faked one a
jump of the clock turns every sleep and timeout into hours. Prometheus and
Alertmanager keep the real time either way: Go reads the clock itself.
"""

from __future__ import annotations

import os
import time

_PATH = os.environ.get("WARDEN_TEST_CLOCK_FILE")

if _PATH:
    _clock_file = _PATH
    _real_time = time.time
    _offset = [0.0, float("-inf")]  # seconds ahead, when last read (monotonic)

    def _shifted() -> float:
        now = time.monotonic()
        if now - _offset[1] >= 0.5:
            try:
                with open(_clock_file, encoding="ascii") as fh:
                    _offset[0] = float(fh.read())
            except (OSError, ValueError):
                pass  # keep the last offset while the file is being replaced
            _offset[1] = now
        return _real_time() + _offset[0]

    time.time = _shifted
    time.time_ns = lambda: int(_shifted() * 1e9)
