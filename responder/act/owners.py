"""Which runtime owns a swarm: several Warden commands may share one state.

Every swarm and agent row names its owner, the runtime that started it (the
responder's, a `warden swarm run` terminal's): `pid:start time:nonce`. An
owner is alive while its process runs with that start time (a reused pid is
another process); within this process, while its runtime is open. A runtime
watches, retries and times out its own swarms and takes over those of dead
owners.

On a database that responders of several hosts share, an owner is
`host/pid:start time:nonce` (the host: `responder.id`), and a runtime judges
only its own host's owners: a pid means nothing on another machine, and an
agent can be adopted, killed or reaped only where it runs. Another host's
rows are always "alive" here; their host's responder takes them over. A
released row keeps its host (`host/`).
"""

from __future__ import annotations

import os
import uuid

import psutil

from responder.act.launcher import same_process_alive

_OPEN: set[str] = set()
"""Owners of the runtimes open in this process."""


def new_owner(host: str = "") -> str:
    """An owner id for a runtime opening now in this process, on `host` ("": the
    database is this host's alone)."""
    me = psutil.Process()
    owner = f"{released(host)}{me.pid}:{me.create_time()!r}:{uuid.uuid4().hex[:8]}"
    _OPEN.add(owner)
    return owner


def released(host: str) -> str:
    """The owner of rows no runtime watches now, adoptable on `host` only."""
    return f"{host}/" if host else ""


def on_host(owner: str, host: str) -> bool:
    """The owner's agents run on `host`, so a runtime there may judge, kill or adopt them."""
    return owner.rpartition("/")[0] == host


def closed(owner: str) -> None:
    """The runtime of `owner` closed (or, in the simulator, died)."""
    _OPEN.discard(owner)


def owner_alive(owner: str, host: str = "") -> bool:
    """The runtime that owns a row still runs (in this process: is still open).
    Judged for owners on `host` only: another host's are taken as alive."""
    if not on_host(owner, host):
        return True
    process = owner.rpartition("/")[2]
    if not process:
        return False
    pid_text, _, rest = process.partition(":")
    start_text = rest.partition(":")[0]
    try:
        pid, start = int(pid_text), float(start_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return owner in _OPEN
    return same_process_alive(pid, start)
