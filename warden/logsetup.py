"""How every Warden process logs: one format, on standard error, the libraries'
chatter held back; `warden responder`'s receiver, a process of its own, logs
into the same stream as the responder, so its lines must read the same."""

from __future__ import annotations

import logging
import sys

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
NOISY = ("apscheduler", "alembic", "watchfiles")
"""Libraries that log at INFO what they load or schedule, at every start (Alembic:
its implementation and plugins), or count without saying what (watchfiles' "N
changes detected": each check's run names the paths that started it). Their
warnings show; a schema upgrade is logged by the store itself."""


def configure(level: str) -> None:
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.basicConfig(level=level, stream=sys.stderr, format=LOG_FORMAT)
