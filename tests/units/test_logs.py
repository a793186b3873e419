"""The log follower on real files: appends, partial lines, rotation, truncation, restarts."""

from __future__ import annotations

import os
import re
from pathlib import Path

from exporter.collectors.logs import LogsCollector
from tests.units.test_checks import value
from warden.config import LogSource, LogsSettings
from warden.logfollow import FileFollower


def append(path: Path, text: str) -> None:
    with path.open("a") as fh:
        fh.write(text)


def lines(f: FileFollower) -> list[str]:
    return [line.decode() for line in f.poll()]


def followed(tmp_path: Path) -> tuple[Path, FileFollower]:
    """An empty log file and a follower that has already looked at it once."""
    log = tmp_path / "a.log"
    log.write_text("")
    f = FileFollower(log)
    assert lines(f) == []
    return log, f


def test_starts_at_end_and_reads_appends(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("old 1\nold 2\n")
    f = FileFollower(log)
    assert lines(f) == []
    append(log, "new 1\nnew 2\n")
    assert lines(f) == ["new 1", "new 2"]
    assert lines(f) == []


def test_start_at_beginning(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("old 1\n")
    assert lines(FileFollower(log, start_at_end=False)) == ["old 1"]


def test_file_created_later_is_read_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    f = FileFollower(log)
    assert lines(f) == []
    log.write_text("first\n")
    assert lines(f) == ["first"]


def test_partial_line_waits_for_its_newline(tmp_path: Path) -> None:
    log, f = followed(tmp_path)
    append(log, "hello wo")
    assert lines(f) == []
    position = f.position()
    assert position is not None and position.offset == 0
    append(log, "rld\nnext")
    assert lines(f) == ["hello world"]
    assert f.position() is not None and f.position().offset == len("hello world\n")  # type: ignore[union-attr]


def test_rotation_reads_the_old_file_to_its_end_then_the_new_one(tmp_path: Path) -> None:
    log, f = followed(tmp_path)
    append(log, "before\n")
    assert lines(f) == ["before"]
    append(log, "late line in old file\nunfinished")
    os.rename(log, tmp_path / "a.log.1")
    log.write_text("in new file\n")
    assert lines(f) == ["late line in old file", "unfinished", "in new file"]
    assert f.rotations == 1
    append(log, "more\n")
    assert lines(f) == ["more"]


def test_rotation_to_nothing_then_recreated(tmp_path: Path) -> None:
    log, f = followed(tmp_path)
    append(log, "x\n")
    os.unlink(log)
    assert lines(f) == ["x"]
    assert lines(f) == []
    log.write_text("back\n")
    assert lines(f) == ["back"]


def test_truncation_starts_over(tmp_path: Path) -> None:
    log, f = followed(tmp_path)
    append(log, "a long line number one\nand two\n")
    assert len(lines(f)) == 2
    with log.open("w") as fh:  # copytruncate-style: same inode, shorter
        fh.write("short\n")
    assert lines(f) == ["short"]
    assert f.truncations == 1 and f.rotations == 0


def settings(tmp_path: Path, start_at: str = "end") -> LogsSettings:
    pattern = re.compile(r"\bERROR\b")
    return LogsSettings(
        sources=(
            LogSource("app", tmp_path / "app.log", (pattern,)),
            LogSource("worker", tmp_path / "worker.log", (re.compile("FATAL"), pattern)),
        ),
        poll_interval=0.25,
        start_at=start_at,
        offsets_save_interval=3600,
    )


def test_collector_counts_per_source_and_resumes_after_restart(tmp_path: Path) -> None:
    app, worker = tmp_path / "app.log", tmp_path / "worker.log"
    app.write_text("history ERROR not counted\n")
    state = tmp_path / "state"
    c = LogsCollector(settings(tmp_path), state)
    c.collect()
    append(app, "INFO ok\nERROR one\nERRORS is not a word match\n")
    append(worker, "FATAL x\nERROR y\nfine\n")
    fam = c.collect()
    assert value(fam, "warden_log_lines_total", {"source": "app"}) == 3
    assert value(fam, "warden_log_error_lines_total", {"source": "app"}) == 1
    assert value(fam, "warden_log_lines_total", {"source": "worker"}) == 3
    assert value(fam, "warden_log_error_lines_total", {"source": "worker"}) == 2
    append(app, "ERROR written while down\npartial ERR")
    c.close()  # saves offsets
    assert (state / "log-offsets.json").exists()

    # While the exporter is down: more lines arrive, and worker.log rotates.
    append(app, "OR finished\n")
    os.rename(worker, tmp_path / "worker.log.1")
    worker.write_text("ERROR in the new worker file\n")

    c2 = LogsCollector(settings(tmp_path), state)
    fam = c2.collect()
    # app: resumes at its saved offset, so only the unread lines count.
    assert value(fam, "warden_log_lines_total", {"source": "app"}) == 2
    assert value(fam, "warden_log_error_lines_total", {"source": "app"}) == 2
    # worker: another file now, read from its start.
    assert value(fam, "warden_log_lines_total", {"source": "worker"}) == 1
    assert value(fam, "warden_log_error_lines_total", {"source": "worker"}) == 1
    fam = c2.collect()
    assert value(fam, "warden_log_lines_total", {"source": "app"}) == 2, "no line counted twice"
    c2.close()


def test_reopen_counters(tmp_path: Path) -> None:
    app = tmp_path / "app.log"
    app.write_text("")
    c = LogsCollector(settings(tmp_path), tmp_path / "state")
    c.collect()
    append(app, "a\n")
    os.rename(app, tmp_path / "app.log.1")
    app.write_text("b\n")
    c.collect()
    app.write_text("")
    fam = c.collect()
    assert value(fam, "warden_log_reopens_total", {"source": "app", "reason": "rotated"}) == 1
    assert value(fam, "warden_log_reopens_total", {"source": "app", "reason": "truncated"}) == 1
    assert value(fam, "warden_log_lines_total", {"source": "app"}) == 2
    c.close()


def test_corrupt_offsets_file_is_ignored(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "log-offsets.json").write_text("{not json")
    (tmp_path / "app.log").write_text("ERROR old\n")
    c = LogsCollector(settings(tmp_path), state)
    assert value(c.collect(), "warden_log_lines_total", {"source": "app"}) == 0
    c.close()
