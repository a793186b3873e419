"""Follow a log file by name, like `tail -F`, without reading a line twice.

A follower notices three things between polls:
- rotation: the name now points at another file (or at none). What was
  written to the old file before the rename is read to its end first.
- truncation: the file is shorter than what was read; reading starts over.
- a partial last line: kept back until its newline arrives.
`position()` is the byte offset just past the last complete line, with the
file's identity (device, inode); saving it lets a restarted exporter resume
exactly there when the file is still the same one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

READ_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Position:
    dev: int
    ino: int
    offset: int


class FileFollower:
    def __init__(self, path: Path, saved: Position | None = None, start_at_end: bool = True):
        self.path = path
        self._saved = saved
        self._start_at_end = start_at_end
        self._fh: BinaryIO | None = None
        self._id: tuple[int, int] = (0, 0)
        self._offset = 0  # bytes consumed from the open file, partial line included
        self._partial = b""
        self._first_open = True
        self.rotations = 0
        self.truncations = 0

    def position(self) -> Position | None:
        if self._fh is None:
            return None
        return Position(self._id[0], self._id[1], self._offset - len(self._partial))

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def poll(self) -> Iterator[bytes]:
        """Yield the complete lines (without newline) written since the last poll."""
        try:
            st: os.stat_result | None = os.stat(self.path)
        except FileNotFoundError:
            st = None
        if self._fh is not None:
            if st is None or (st.st_dev, st.st_ino) != self._id:
                yield from self._read(final=True)
                self.close()
                self.rotations += 1
            elif os.fstat(self._fh.fileno()).st_size < self._offset:
                self._fh.seek(0)
                self._offset = 0
                self._partial = b""
                self.truncations += 1
        if self._fh is None and st is not None:
            self._open(st)
        if self._fh is not None:
            yield from self._read(final=False)
        # A file that appears after the first poll is new: read it whole.
        self._first_open = False

    def _open(self, st: os.stat_result) -> None:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115  (kept open between polls)
        except FileNotFoundError:
            return
        ident = os.fstat(fh.fileno())
        self._fh, self._id = fh, (ident.st_dev, ident.st_ino)
        start = 0
        if self._first_open:
            saved = self._saved
            if saved is not None:
                # Resume where the last run stopped if it is the same file and
                # it was not truncated meanwhile; otherwise it is a new file.
                same = (saved.dev, saved.ino) == self._id and saved.offset <= ident.st_size
                start = saved.offset if same else 0
            elif self._start_at_end:
                start = ident.st_size
        fh.seek(start)
        self._offset = start
        self._partial = b""

    def _read(self, final: bool) -> Iterator[bytes]:
        assert self._fh is not None
        while True:
            chunk = self._fh.read(READ_CHUNK_BYTES)
            if not chunk:
                break
            self._offset += len(chunk)
            data = self._partial + chunk
            lines = data.split(b"\n")
            self._partial = lines.pop()
            yield from lines
        if final and self._partial:
            # The file was rotated away: nothing will complete this line.
            yield self._partial
            self._partial = b""
