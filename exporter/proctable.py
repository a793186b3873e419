"""The host's process table, read from /proc with one file a process a scan.

The agents collector asked psutil for eight attributes of every process every
2 s: several files a process, and an object each. With 1,000 agent processes a
scan took 136-161 ms, 6.8 % of a core with no scrape at all (issue 30). What a
scan needs of a process is in its `/proc/PID/stat` (state, parent, CPU times,
resident memory, start time); its command line is read once, when the process
is first seen, again when its name changes (an exec) and, for a process first
seen younger than a second, at each scan until it is not (a child between its
fork and its exec still shows its parent's command line).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
SETTLED_SECONDS = 1.0
"""A process seen at least this old has exec'd, if it was going to: its command line
is kept until its name changes."""
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")
STATES = {
    "R": "running",
    "W": "running",
    "T": "stopped",
    "t": "stopped",
    "Z": "zombie",
    "X": "zombie",
}
"""/proc's state letters as the collector counts them; any other (S, D, I, P) sleeps."""


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    state: str
    """running, sleeping, stopped or zombie."""
    rss_bytes: int
    cpu_seconds: float
    start: int
    """Clock ticks after boot: with the pid, what tells it from a later process."""
    text: str
    """Its name and command line, as the agent patterns match them."""


@dataclass(frozen=True)
class _Known:
    start: int
    name: str
    text: str
    settled: bool


class ProcessTable:
    """Scans of /proc; each scan reads each process's stat, and its command line only
    when it is new to the table (or changed its name, or was young)."""

    def __init__(self, proc: Path = PROC) -> None:
        self.proc = proc
        self._known: dict[int, _Known] = {}
        self.cmdlines_read = 0
        """Command lines read so far: what a scan of an unchanged table does not do."""

    def scan(self, skip: int) -> list[Process]:
        """Every process but `skip` (the caller's own), as it is now."""
        uptime = self._uptime_ticks()
        known: dict[int, _Known] = {}
        out = []
        for entry in os.listdir(self.proc):
            if not entry.isdigit() or int(entry) == skip:
                continue
            pid = int(entry)
            try:
                stat = _read(f"{self.proc}/{entry}/stat").decode("utf-8", "replace")
            except OSError:
                continue  # gone since the listing
            name = stat[stat.find("(") + 1 : stat.rfind(")")]
            fields = stat[stat.rfind(")") + 2 :].split()
            start = int(fields[19])
            seen = self._known.get(pid)
            if seen is None or seen.start != start or seen.name != name or not seen.settled:
                settled = uptime - start >= SETTLED_SECONDS * _TICKS
                seen = _Known(start, name, self._text(entry, name), settled)
            known[pid] = seen
            out.append(
                Process(
                    pid,
                    int(fields[1]),
                    STATES.get(fields[0], "sleeping"),
                    int(fields[21]) * _PAGE,
                    (int(fields[11]) + int(fields[12])) / _TICKS,
                    start,
                    seen.text,
                )
            )
        self._known = known
        return out

    def _text(self, entry: str, name: str) -> str:
        self.cmdlines_read += 1
        try:
            raw = _read(f"{self.proc}/{entry}/cmdline")
        except OSError:
            raw = b""
        args = raw.decode("utf-8", "replace").rstrip("\0").split("\0") if raw else []
        return " ".join([name, *args])

    def _uptime_ticks(self) -> float:
        return float((self.proc / "uptime").read_text().split()[0]) * _TICKS


def _read(path: str) -> bytes:
    """A small /proc file's bytes (a stat, a command line up to 128 KiB): one read on a
    file descriptor, without pathlib's or a buffered file's cost, twice a process a
    scan counted."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 131072)
    finally:
        os.close(fd)
