"""Logs collector (T6, J4): counts error lines in followed log files, per source.

It reads when the kernel says a followed file changed (file events), so an
error line is counted within a fraction of a second of being written, and
an idle log costs nothing. Without file events it polls every
`poll_interval` (250 ms by default). Offsets are saved to
the state folder (atomically, every `offsets_save_interval` and at shutdown):
a restart resumes where it stopped instead of counting old lines again.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Collection, Sequence
from pathlib import Path

from prometheus_client.metrics_core import CounterMetricFamily, Metric

from exporter.collectors import Collector
from warden.atomicfile import write_atomic
from warden.config import LogSource, LogsSettings
from warden.logfollow import FileFollower, Position

log = logging.getLogger(__name__)


class _Source:
    def __init__(self, source: LogSource, follower: FileFollower) -> None:
        self.source = source
        self.follower = follower
        self.lines = 0
        self.errors = 0
        combined = "|".join(f"(?:{p.pattern})" for p in source.patterns)
        self.pattern = re.compile(combined)

    def poll(self) -> None:
        search = self.pattern.search
        lines = errors = 0
        for raw in self.follower.poll():
            lines += 1
            if search(raw.decode("utf-8", errors="replace")):
                errors += 1
        self.lines += lines
        self.errors += errors


class LogsCollector(Collector):
    name = "logs"

    def __init__(self, settings: LogsSettings, state_dir: Path) -> None:
        self.settings = settings
        self.interval = settings.poll_interval
        self.watched_interval = settings.offsets_save_interval
        self.watch = tuple(s.path for s in settings.sources)
        self.offsets_file = state_dir / "log-offsets.json"
        saved = self._load_offsets()
        start_at_end = settings.start_at == "end"
        self.sources = [
            _Source(s, FileFollower(s.path, saved.get(str(s.path)), start_at_end))
            for s in settings.sources
        ]
        self._last_save = time.monotonic()
        self._saved = ""

    def _load_offsets(self) -> dict[str, Position]:
        try:
            raw = json.loads(self.offsets_file.read_text(encoding="utf-8"))
            return {k: Position(**v) for k, v in raw.items()}
        except FileNotFoundError:
            return {}
        except (ValueError, TypeError) as exc:
            log.warning(
                "ignoring unreadable %s (%s); following from the end", self.offsets_file, exc
            )
            return {}

    def changed(self, paths: Collection[Path]) -> bool:
        return any(p in paths for p in self.watch)

    def save_offsets(self) -> None:
        data = {
            str(s.source.path): vars(pos)
            for s in self.sources
            if (pos := s.follower.position()) is not None
        }
        text = json.dumps(data, sort_keys=True)
        if text != self._saved:  # an idle log costs no write (and no fsync)
            write_atomic(self.offsets_file, text.encode())
            self._saved = text
        self._last_save = time.monotonic()

    def collect(self) -> Sequence[Metric]:
        for s in self.sources:
            s.poll()
        if time.monotonic() - self._last_save >= self.settings.offsets_save_interval:
            self.save_offsets()
        lines = CounterMetricFamily(
            "warden_log_lines", "Lines read from the followed log file.", labels=["source"]
        )
        errors = CounterMetricFamily(
            "warden_log_error_lines",
            "Lines of the followed log file matching its error patterns.",
            labels=["source"],
        )
        reopens = CounterMetricFamily(
            "warden_log_reopens",
            "Times the log file was found rotated or truncated and read anew.",
            labels=["source", "reason"],
        )
        for s in self.sources:
            name = s.source.name
            lines.add_metric([name], s.lines)
            errors.add_metric([name], s.errors)
            reopens.add_metric([name, "rotated"], s.follower.rotations)
            reopens.add_metric([name, "truncated"], s.follower.truncations)
        return [lines, errors, reopens]

    def close(self) -> None:
        self.save_offsets()
        for s in self.sources:
            s.follower.close()
