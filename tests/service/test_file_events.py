"""Changes are kernel file events: one edit is one run, an edit during a run is
exactly one more, a check's own outputs are no change (issue 13, H1-H2, J3)."""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

from exporter.collectors.typecheck import TypecheckCollector
from tests.checked_project import edit, make_checked_project, runs
from tests.conftest import ExporterProcess, commit_all, git, sample, wait_for, write_config
from warden.config import load_config
from warden.runner import CommandRunner


def starts(root: Path) -> Counter[str]:
    return Counter(check for check, event, _ in runs(root) if event == "start")


def quiet(root: Path, seconds: float = 1.5, timeout: float = 30) -> Counter[str]:
    """The run counts once no run started or ended for `seconds`."""
    last = [runs(root)]
    since = [time.monotonic()]

    def settled() -> bool:
        now = runs(root)
        if now != last[0]:
            last[0], since[0] = now, time.monotonic()
            return False
        done = all(
            sum(1 for c, e, _ in now if c == check and e == "end")
            == sum(1 for c, e, _ in now if c == check and e == "start")
            for check in ("build", "tests")
        )
        return done and time.monotonic() - since[0] >= seconds

    wait_for(settled, timeout)
    return starts(root)


def test_one_edit_is_one_run_of_each_check(
    tmp_path: Path, exporter_factory: type[ExporterProcess]
) -> None:
    exp = exporter_factory(make_checked_project(tmp_path, 0.3, 0.6))
    repo = tmp_path / "project"
    # At start the tests write .coverage (untracked, not ignored) in two runs
    # in a row: it is learned as their output and stops counting as a change.
    before = quiet(tmp_path)
    stale = sample(exp.metrics(), "warden_build_stale_runs_total")
    for i in range(3):
        edit(repo)
        after = quiet(tmp_path)
        assert after - before == Counter({"build": 1, "tests": 1}), (i, after - before)
        before = after
    text = exp.metrics()
    assert sample(text, "warden_build_stale_runs_total") == stale
    assert sample(text, "warden_file_events_up") == 1


def test_an_edit_during_a_run_makes_exactly_one_more(
    tmp_path: Path, exporter_factory: type[ExporterProcess]
) -> None:
    exp = exporter_factory(make_checked_project(tmp_path, 1.5, 0.2))
    repo = tmp_path / "project"
    before = quiet(tmp_path)
    stale = sample(exp.metrics(), "warden_build_stale_runs_total")
    assert stale is not None
    edit(repo)
    wait_for(lambda: starts(tmp_path)["build"] > before["build"])
    for _ in range(3):  # three saves while the build runs
        edit(repo)
        time.sleep(0.1)
    after = quiet(tmp_path)
    assert after["build"] - before["build"] == 2
    assert sample(exp.metrics(), "warden_build_stale_runs_total") == stale + 1


def test_a_broken_save_fails_the_build_and_the_fix_mends_it_without_a_schedule(
    tmp_path: Path, exporter_factory: type[ExporterProcess]
) -> None:
    exp = exporter_factory(make_checked_project(tmp_path, 0.1, 0.1))
    repo = tmp_path / "project"
    exp.wait_until(lambda t: sample(t, "warden_build_success") == 1)
    app = repo / "src" / "app.py"
    good = app.read_text()
    app.write_text(good + "def broken(:\n")
    exp.wait_until(lambda t: sample(t, "warden_build_success") == 0, timeout=10)
    app.write_text(good)
    exp.wait_until(lambda t: sample(t, "warden_build_success") == 1, timeout=10)


def test_ignored_and_result_files_are_no_change(
    tmp_path: Path, exporter_factory: type[ExporterProcess]
) -> None:
    cfg = make_checked_project(tmp_path, 0.1, 0.1)
    cfg.write_text(
        cfg.read_text().replace("interval: 1h\n", "interval: 1h\n    ignore: [dist]\n", 1)
    )
    exporter_factory(cfg)
    repo = tmp_path / "project"
    before = quiet(tmp_path)
    (repo / "reports").mkdir(exist_ok=True)
    (repo / "reports" / "other.txt").write_text("x")  # .gitignore
    (repo / "reports" / "junit.xml").write_text("<testsuite/>")  # the tests' report
    (repo / ".git" / "info" / "exclude").write_text("*.log\n")  # git's own folder
    (repo / "dist").mkdir()
    (repo / "dist" / "out.js").write_text("x")  # the build's `ignore`
    after = quiet(tmp_path)
    assert after["build"] == before["build"]
    (repo / "new_module.py").write_text("x = 1\n")  # untracked, not ignored: a source
    assert quiet(tmp_path)["build"] == before["build"] + 1


def test_log_lines_are_read_on_file_events_not_polls(
    tmp_path: Path, exporter_factory: type[ExporterProcess]
) -> None:
    (tmp_path / "logs").mkdir()
    log = tmp_path / "logs" / "app.log"
    log.write_text("")
    cfg = write_config(
        tmp_path / "w.yml",
        """
        collectors:
          host: {enabled: false}
          logs:
            poll_interval: 1h
            offsets_save_interval: 1h
            sources: [{name: app, path: logs/app.log}]
        """,
    )
    exp = exporter_factory(cfg)
    exp.wait_until(lambda t: sample(t, "warden_log_lines_total", {"source": "app"}) == 0)
    with log.open("a") as fh:
        fh.write("ERROR one\nfine\n")
    exp.wait_until(
        lambda t: sample(t, "warden_log_error_lines_total", {"source": "app"}) == 1, timeout=5
    )
    log.rename(tmp_path / "logs" / "app.log.1")  # rotation: a new file under the name
    log.write_text("ERROR two\n")
    exp.wait_until(
        lambda t: sample(t, "warden_log_error_lines_total", {"source": "app"}) == 2, timeout=5
    )


MYPY_LIKE = """\
import sys
for i in range(232):
    print(f"src/pkg/module_{i % 40}.py:{i + 10}: error: Incompatible types in assignment "
          f"(expression has type \\"int\\", variable has type \\"str\\")  [assignment]")
    print("    " + "x" * 40)
print("Found 232 errors in 40 files (checked 97 source files)")
sys.exit(1)
"""


def test_type_errors_are_counted_over_the_whole_output(tmp_path: Path) -> None:
    (tmp_path / "mypy_like.py").write_text(MYPY_LIKE)
    cfg = write_config(
        tmp_path / "w.yml",
        f"""
        collectors:
          typecheck:
            command: [{sys.executable}, mypy_like.py]
            error_pattern: ': error:'
            output_tail_bytes: 16384
        """,
    )
    config = load_config(cfg)
    assert config.typecheck is not None
    collector = TypecheckCollector(config.typecheck, tmp_path, CommandRunner())
    families = {f.name: f for f in collector.collect()}
    assert families["warden_typecheck_errors"].samples[0].value == 232
    report = collector.report()["last_run"]
    assert report["output_bytes"] > 40_000 and len(report["output_tail"]) <= 16384

    # Without the checker's own total, every matching line of the output counts.
    (tmp_path / "mypy_like.py").write_text(MYPY_LIKE.replace('print("Found', 'print("All'))
    families = {f.name: f for f in collector.collect()}
    assert families["warden_typecheck_errors"].samples[0].value == 232


def test_the_checker_total_wins_and_a_disagreement_is_logged(
    tmp_path: Path, caplog: object
) -> None:
    import logging

    import pytest

    assert isinstance(caplog, pytest.LogCaptureFixture)
    (tmp_path / "tsc_like.py").write_text(
        "print('a.ts(1,1): error TS2322: x')\nprint('Found 3 errors in 2 files.')\n"
    )
    cfg = write_config(
        tmp_path / "w.yml",
        f"collectors:\n  typecheck: {{command: [{sys.executable}, tsc_like.py]}}\n",
    )
    config = load_config(cfg)
    assert config.typecheck is not None
    collector = TypecheckCollector(config.typecheck, tmp_path, CommandRunner())
    with caplog.at_level(logging.WARNING):
        families = {f.name: f for f in collector.collect()}
    assert families["warden_typecheck_errors"].samples[0].value == 3
    assert "reports 3 errors, error_pattern matched 1" in caplog.text


MYPY = str(Path(sys.executable).with_name("mypy"))


def _typed_project(root: Path, typecheck: str) -> Path:
    """A git project of typed modules and its warden.yml with `typecheck` as command."""
    repo = root / "project"
    (repo / "src" / "pkg").mkdir(parents=True)
    (repo / "src" / "pkg" / "__init__.py").write_text("")
    for i in range(12):
        (repo / "src" / "pkg" / f"m{i}.py").write_text(
            f"def f{i}(x: int) -> str:\n    return str(x)\n"
        )
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "initial")
    return write_config(
        root / "warden.yml",
        f"""
        project: {{dir: {repo}}}
        state_dir: {root / "state"}
        collectors:
          host: {{enabled: false}}
          build: {{command: [{sys.executable}, -c, pass], interval: 1h}}
          typecheck:
            command: {typecheck}
            interval: 1h
            run_on_change: true
            error_pattern: ': error:'
        """,
    )


def _typecheck_runs(text: str) -> float:
    return sum(
        sample(text, "warden_typecheck_runs_total", {"result": r}) or 0.0
        for r in ("success", "failure", "timeout")
    )


def _runs_settle(exp: ExporterProcess, quiet_for: float = 3.0, timeout: float = 60) -> float:
    """The typecheck's run count once it stayed the same for `quiet_for` seconds."""
    seen = [_typecheck_runs(exp.metrics()), time.monotonic()]

    def settled() -> bool:
        now = _typecheck_runs(exp.metrics())
        if now != seen[0]:
            seen[:] = [now, time.monotonic()]
        return time.monotonic() - seen[1] >= quiet_for

    wait_for(settled, timeout, 0.2)
    return seen[0]


def test_a_module_written_in_pieces_is_a_source_never_an_output(
    tmp_path: Path, exporter_factory: type[ExporterProcess]
) -> None:
    """Was: a new untracked module written in three writes 0.5 s apart, while the
    type check ran, was learned as the check's output ("typecheck writes ... on every
    run"); its later edits, with 2 type errors, started no run and the errors stayed 0."""
    slow_mypy = (
        f"import subprocess, sys, time; time.sleep(1); sys.exit(subprocess.call([{MYPY!r}, 'src']))"
    )
    exp = exporter_factory(_typed_project(tmp_path, f'[{sys.executable}, -c, "{slow_mypy}"]'))
    exp.wait_until(lambda t: sample(t, "warden_typecheck_errors") == 0, 60)
    _runs_settle(exp)
    module = tmp_path / "project" / "src" / "pkg" / "newcomer.py"
    text = ""
    for piece in ("def one(x: int) -> int:\n", "    return x + 1\n", "\n\nVALUE = one(2)\n"):
        text += piece
        module.write_text(text)  # as an agent writes a new module: in pieces
        time.sleep(0.5)
    _runs_settle(exp)
    module.write_text(text + 'WRONG: int = "a"\nALSO_WRONG: str = 3\n')
    exp.wait_until(lambda t: sample(t, "warden_typecheck_errors") == 2, 30)
    assert "on every run" not in exp.log.read_text(), "never taken for an output"


def test_files_that_come_and_go_with_new_names_start_no_runs(
    tmp_path: Path, exporter_factory: type[ExporterProcess]
) -> None:
    """Was: mypy with `num_workers` writes `.mypy_worker.<random>.json` in the project
    root for the length of a run, a new name each time, not git-ignored: every type
    check started the next (40 builds, 10 test runs, 36 type checks in 80 s)."""
    exp = exporter_factory(_typed_project(tmp_path, f"[{MYPY}, --num-workers, '2', src]"))
    exp.wait_until(lambda t: sample(t, "warden_typecheck_errors") == 0, 60)
    before = _runs_settle(exp)
    module = tmp_path / "project" / "src" / "pkg" / "m0.py"
    module.write_text(module.read_text() + "\n\nEXTRA = f0(1)\n")
    after = _runs_settle(exp)
    assert after - before == 1, f"{after - before} type checks for one edit"
    # The log names what started each run.
    assert "typecheck: running for src/pkg/m0.py" in exp.log.read_text()
