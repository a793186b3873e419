"""The exporter as a real process over a real project: /metrics, /healthz, /api/v1/checks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import (
    ExporterProcess,
    commit_all,
    http_get,
    sample,
    wait_for,
    write_config,
)


def full_config(repo: Path, build_interval: str = "1h") -> Path:
    return write_config(
        repo.parent / "warden.yml",
        f"""
        project: {{dir: {repo}}}
        state_dir: {repo.parent / "state"}
        collectors:
          build:
            command: [{sys.executable}, build.py]
            interval: {build_interval}
          tests:
            command: [{sys.executable}, run_tests.py]
            junit_report: demo/reports/junit.xml
          typecheck:
            command: [{sys.executable}, typecheck.py]
          coverage:
            path: demo/coverage/coverage-summary.json
            interval: 200ms
          git: {{interval: 500ms}}
          logs:
            poll_interval: 100ms
            sources: [{{name: app, path: demo/logs/app.log}}]
          host: {{interval: 1s}}
          probes:
            http: [{{name: openclaw, url: 'http://127.0.0.1:9/readyz', timeout: 1s}}]
          agents:
            patterns: [{{name: claude, match: 'fake_agent'}}]
    """,
    )


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: run the README's test command, which installs it")
    return path


def test_full_exporter(demo_repo: Path, exporter_factory: type[ExporterProcess]) -> None:
    exp = exporter_factory(full_config(demo_repo))
    text = exp.wait_until(
        lambda t: sample(t, "warden_collector_success", {"collector": "coverage"}) == 1
    )

    families = {
        f.name for f in text_string_to_metric_families(text) if f.name.startswith("warden_")
    }
    assert len(families) >= 20, sorted(families)
    check = subprocess.run(
        [promtool(), "check", "metrics"], input=text, text=True, capture_output=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    for collector in (
        "build",
        "tests",
        "typecheck",
        "coverage",
        "git",
        "logs",
        "host",
        "probes",
        "agents",
    ):
        assert sample(text, "warden_collector_success", {"collector": collector}) == 1, collector
    assert sample(text, "warden_build_success") == 1
    assert sample(text, "warden_tests_cases", {"result": "passed"}) == 4
    assert sample(text, "warden_coverage_lines_ratio") == pytest.approx(12 / 13)
    assert sample(text, "warden_git_unreviewed_commits") == 1
    assert sample(text, "warden_probe_success", {"probe": "openclaw", "kind": "http"}) == 0
    assert sample(text, "warden_build_info") == 1

    status, body = http_get(exp.url + "/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"

    # The build breaks: the tree watcher runs it at once (interval is 1h),
    # the error reaches /api/v1/checks and the log counter.
    calc = demo_repo / "src" / "calc.py"
    good = calc.read_text()
    calc.write_text(good + "\ndef broken(:\n")
    text = exp.wait_until(lambda t: sample(t, "warden_build_success") == 0, timeout=15)
    assert sample(text, "warden_build_consecutive_failures") == 1
    checks = json.loads(exp.get("/api/v1/checks")[1])
    assert checks["build"]["last_failure"]["exit_code"] == 1
    assert "invalid syntax" in checks["build"]["last_failure"]["output_tail"]
    assert checks["tests"]["last_run"]["ok"] is True
    exp.wait_until(lambda t: sample(t, "warden_log_error_lines_total", {"source": "app"}) == 1)

    # Committing the fix mends it, again without waiting for the interval.
    calc.write_text(good + "\n\ndef fixed() -> int:\n    return 1\n")
    commit_all(demo_repo, "fix")
    text = exp.wait_until(
        lambda t: (
            sample(t, "warden_build_success") == 1
            and sample(t, "warden_git_unreviewed_commits") == 2
        ),
        timeout=15,
    )
    assert sample(text, "warden_build_runs_total", {"result": "failure"}) == 1


def test_failing_collector_does_not_break_the_scrape(
    tmp_path: Path, exporter_factory: type[ExporterProcess]
) -> None:
    (tmp_path / "coverage.xml").write_text("<coverage><not-closed>")
    cfg = write_config(
        tmp_path / "w.yml",
        """
        collectors:
          coverage: {path: coverage.xml, interval: 200ms}
          git: {interval: 200ms}
    """,
    )
    exp = exporter_factory(cfg)
    text = exp.wait_until(
        lambda t: bool(sample(t, "warden_collector_failures_total", {"collector": "git"}))
    )
    assert sample(text, "warden_collector_success", {"collector": "coverage"}) == 0
    assert sample(text, "warden_collector_success", {"collector": "git"}) == 0
    assert sample(text, "warden_collector_success", {"collector": "host"}) == 1
    assert sample(text, "warden_coverage_lines_ratio") is None
    assert sample(text, "warden_host_memory_total_bytes") is not None
    health = json.loads(http_get(exp.url + "/healthz")[1])
    assert health["collectors"]["coverage"]["last_error"].startswith("ParseError")


def test_scrape_never_waits_and_shutdown_kills_running_commands(
    tmp_path: Path, exporter_factory: type[ExporterProcess]
) -> None:
    script = tmp_path / "slow_build.py"
    script.write_text(
        "import os, pathlib, time\n"
        "pathlib.Path('build.pid').write_text(str(os.getpid()))\n"
        "time.sleep(300)\n"
    )
    cfg = write_config(
        tmp_path / "w.yml",
        f"""
        collectors:
          build: {{command: [{sys.executable}, slow_build.py], run_on_change: false}}
    """,
    )
    exp = exporter_factory(cfg)
    pid = int(
        wait_for(lambda: (tmp_path / "build.pid").exists() and (tmp_path / "build.pid").read_text())
    )
    assert psutil.pid_exists(pid)
    # The build is still running, yet the scrape answers, without a build result.
    text = exp.metrics()
    assert sample(text, "warden_host_processes") is not None
    assert sample(text, "warden_build_success") is None
    assert sample(text, "warden_collector_success", {"collector": "build"}) is None
    assert exp.stop() == 0
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_listens_on_loopback_by_default(tmp_path: Path) -> None:
    from warden.config import load_config

    cfg = load_config(write_config(tmp_path / "w.yml", "{}\n"))
    assert str(cfg.exporter.listen) == "127.0.0.1:8947"
    assert os.environ.get("WARDEN_NEVER_SET") is None
