"""Waiting that a signal ends: `warden up`'s view and `warden supervise`'s checks."""

from __future__ import annotations

import select
import signal
import socket


class Wakeup:
    """Waits until a timeout or a signal, whose handler has run when `wait` returns.

    Why not time.sleep: a sleep is resumed after the handler (PEP 475), so a
    Ctrl-C or a SIGTERM would wait for the rest of the period (`warden up`'s view,
    `warden supervise`'s check interval); the 0.1 s naps that watched for it
    instead woke `warden up` ten times a second, most of its idle CPU. Python
    writes each signal's number to the wakeup fd, which ends the `select`."""

    def __init__(self) -> None:
        self._read, self._write = socket.socketpair()
        for end in (self._read, self._write):
            end.setblocking(False)
        self._previous = -1

    def __enter__(self) -> Wakeup:
        self._previous = signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.set_wakeup_fd(self._previous)
        self._read.close()
        self._write.close()

    def wait(self, seconds: float) -> None:
        if select.select([self._read], [], [], seconds)[0]:
            while True:  # the signals told so far; later ones wake the next wait
                try:
                    self._read.recv(4096)
                except BlockingIOError:
                    break
