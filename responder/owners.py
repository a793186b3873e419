"""Which runtime owns a swarm: several Warden commands may share one state.

Every swarm and agent row names its owner, the runtime that started it (the
responder's, a `warden swarm run` terminal's): `pid:start time:nonce`. An
owner is alive while its process runs with that start time (a reused pid is
another process); within this process, while its runtime is open. A runtime
watches, retries and times out its own swarms and takes over those of dead
owners.
"""

from __future__ import annotations

import os
import uuid

import psutil

from responder.launcher import same_process_alive

_OPEN: set[str] = set()
"""Owners of the runtimes open in this process."""


def new_owner() -> str:
    """An owner id for a runtime opening now in this process."""
    me = psutil.Process()
    owner = f"{me.pid}:{me.create_time()!r}:{uuid.uuid4().hex[:8]}"
    _OPEN.add(owner)
    return owner


def closed(owner: str) -> None:
    """The runtime of `owner` closed (or, in the simulator, died)."""
    _OPEN.discard(owner)


def owner_alive(owner: str) -> bool:
    """The runtime that owns a row still runs (in this process: is still open)."""
    if not owner:
        return False
    pid_text, _, rest = owner.partition(":")
    start_text = rest.partition(":")[0]
    try:
        pid, start = int(pid_text), float(start_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return owner in _OPEN
    return same_process_alive(pid, start)
