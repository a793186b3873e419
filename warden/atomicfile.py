"""Crash-safe file writes: a reader sees the old content or the new, never half."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """Write `data` to `path` through a synced temp file and a rename.

    The folder is synced after the rename so the new name survives a power
    loss, not only a process crash. `durable=False` leaves out both syncs: for
    a file read only by processes that a power loss ends too (a swarm's context),
    the rename alone keeps readers from half a file; two syncs cost 3.5 ms a
    swarm on this machine's disk.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if not durable:
        return
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
