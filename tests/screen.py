"""A program on a pseudo-terminal, and the screen a person would see (pyte).

The program gets a real tty of a set size, so `rich` draws its live view as
it does for a person; pyte plays the output back as a VT100 would, so a test
reads the screen, not the escape codes.
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pyte


class Terminal:
    def __init__(
        self,
        argv: Sequence[str],
        cwd: Path,
        rows: int = 50,
        cols: int = 140,
        env: dict[str, str] | None = None,
    ) -> None:
        self.screen = pyte.Screen(cols, rows)
        self._stream = pyte.ByteStream(self.screen)
        self._lock = threading.Lock()
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        full_env = {
            **os.environ,
            **(env or {}),
            "TERM": "xterm-256color",
            "COLUMNS": str(cols),
            "LINES": str(rows),
        }
        self.proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=full_env,
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        self._master = master
        self.raw = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._master, 65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.raw += data
                self._stream.feed(data)

    def text(self) -> str:
        with self._lock:
            return "\n".join(line.rstrip() for line in self.screen.display)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if predicate(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"screen not as expected in {timeout} s:\n{text}")
            time.sleep(0.2)

    def ctrl_c(self) -> None:
        os.write(self._master, b"\x03")

    def close(self) -> None:
        """Stop the program the way a person would (SIGTERM, which `warden up`
        answers by stopping everything it started); SIGKILL only if it hangs,
        since a SIGKILLed `warden up` leaves its parts running."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)
        os.close(self._master)
