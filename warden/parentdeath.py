"""A child process that must not outlive the process that started it.

Linux's PR_SET_PDEATHSIG has the kernel signal the child when its parent
dies, however it dies (SIGKILL included), where nothing the parent could run
at its end would. The signal comes when the parent's starting thread ends,
so the parent starts such a child from a thread that lives as long as it does
(its main thread).
"""

from __future__ import annotations

import ctypes
import os
import signal

_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def die_with(parent: int, sig: signal.Signals = signal.SIGKILL) -> None:
    """Have `sig` sent to this process when `parent` dies; exit at once if it
    already has (it died before the kernel was asked, and this process was
    handed to another parent)."""
    _LIBC.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)
