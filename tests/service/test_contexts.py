"""What agents are told (issue 13, W5, T2): TestsFailing names the failing tests
before the output; CoverageDecreased names the files that lost coverage, with
before and after. A real exporter and a real responder, through the webhook."""

from __future__ import annotations

import http.server
import json
import sys
import threading
from pathlib import Path

from tests.conftest import ExporterProcess, ResponderProcess, free_port, sample, wait_for
from tests.service.test_responder import alert, body, db, post, responder_config

FAILING_RUN = """\
import pathlib, sys
pathlib.Path("reports").mkdir(exist_ok=True)
pathlib.Path("reports/junit.xml").write_text(
    '<testsuite><testcase classname="tests.test_calc" name="test_add"/>'
    '<testcase classname="tests.test_calc" name="test_div">'
    '<failure message="ZeroDivisionError: division by zero">trace</failure></testcase>'
    '</testsuite>'
)
print("x" * 5000)
print("FAILED tests/test_calc.py::test_div - ZeroDivisionError")
sys.exit(1)
"""


def summary(files: dict[str, tuple[int, int]]) -> str:
    def lines(covered: int, total: int) -> dict[str, dict[str, int]]:
        return {"lines": {"covered": covered, "total": total}}

    doc = {name: lines(*ct) for name, ct in files.items()}
    doc["total"] = lines(sum(c for c, _ in files.values()), sum(t for _, t in files.values()))
    return json.dumps(doc)


def context_of(tmp_path: Path, trigger: str) -> str:
    def find() -> str | None:
        with db(tmp_path) as conn:
            row = conn.execute(
                "SELECT context_file FROM swarms WHERE trigger LIKE ?", (f"%{trigger}%",)
            ).fetchone()
        return row[0] if row else None

    return Path(wait_for(find)).read_text()


def test_contexts_name_the_failing_tests_and_the_files_that_lost_coverage(
    tmp_path: Path,
    exporter_factory: type[ExporterProcess],
    responder_factory: type[ResponderProcess],
) -> None:
    project = tmp_path / "project"
    (project / "coverage").mkdir(parents=True)
    (project / "run_tests.py").write_text(FAILING_RUN)
    report = project / "coverage" / "coverage-summary.json"
    report.write_text(summary({"src/calc.py": (10, 10), "src/io.py": (8, 10)}))
    port = free_port()
    cfg = responder_config(
        tmp_path,
        extra=f"""project: {{dir: {project}}}
exporter: {{listen: '127.0.0.1:{port}'}}
collectors:
  host: {{enabled: false}}
  tests:
    command: [{sys.executable}, run_tests.py]
    junit_report: project/reports/junit.xml
  coverage: {{path: project/coverage/coverage-summary.json, interval: 1h}}
""",
    )
    exp = exporter_factory(cfg, port)
    exp.wait_until(lambda t: sample(t, "warden_tests_success") == 0)
    report.write_text(summary({"src/calc.py": (5, 10), "src/io.py": (8, 10), "src/new.py": (1, 4)}))
    exp.wait_until(lambda t: sample(t, "warden_coverage_lines_ratio") == 14 / 24, timeout=10)
    resp = responder_factory(cfg)

    # Coverage first: while tests fail, R4 admits only CRITICAL work.
    code, answer = post(resp.url, body(alert("CoverageDecreased", fp="c2", severity="warning")))
    assert code == 200, answer
    text = context_of(tmp_path, "CoverageDecreased")
    assert "Line coverage fell from 90.0 % to 58.3 %" in text
    rows = [line for line in text.splitlines() if line.startswith("| src/")]
    assert rows == [
        "| src/calc.py | 100.0 % | 50.0 % | 0 | 5 |",
        "| src/new.py | new | 25.0 % | 0 | 3 |",
    ]

    code, answer = post(resp.url, body(alert("TestsFailing", fp="e1", severity="critical")))
    assert code == 200, answer
    text = context_of(tmp_path, "TestsFailing")
    failing = text.index("Failing tests (1):")
    assert "- tests.test_calc.test_div: ZeroDivisionError: division by zero" in text
    assert failing < text.index("Last failing tests output:") < text.index("FAILED tests/")


def test_a_fleets_context_comes_from_the_exporter_that_raised_the_alert(
    tmp_path: Path,
    exporter_factory: type[ExporterProcess],
    responder_factory: type[ResponderProcess],
) -> None:
    """The project's checks run on one host of a fleet: a responder elsewhere
    that claims its TestsFailing reads the failing tests from that host's
    exporter (one of `stack.other_exporters`). An instance not listed is
    never sent the scrape password."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "run_tests.py").write_text(FAILING_RUN)
    checks_port, own_port = free_port(), free_port()
    collectors = f"""project: {{dir: {project}}}
collectors:
  host: {{enabled: false}}
  tests:
    command: [{sys.executable}, run_tests.py]
    junit_report: project/reports/junit.xml
"""
    cfg = responder_config(
        tmp_path, extra=collectors + f"exporter: {{listen: '127.0.0.1:{checks_port}'}}\n"
    )
    exp = exporter_factory(cfg, checks_port)
    exp.wait_until(lambda t: sample(t, "warden_tests_success") == 0)
    asked: list[str] = []
    stranger = _recording_server(asked)
    elsewhere = tmp_path / "elsewhere.yml"
    elsewhere.write_text(
        cfg.read_text().replace(f"127.0.0.1:{checks_port}", f"127.0.0.1:{own_port}")
        + "stack: {prometheus_listen: '127.0.0.1:1', "
        + f"other_exporters: ['127.0.0.1:{checks_port}']}}\n"
    )
    resp = responder_factory(elsewhere)

    tests_failing = alert(
        "TestsFailing", fp="e1", severity="critical", instance=f"127.0.0.1:{checks_port}"
    )
    assert post(resp.url, body(tests_failing))[0] == 200
    text = context_of(tmp_path, "TestsFailing")
    assert "- tests.test_calc.test_div: ZeroDivisionError: division by zero" in text

    forged = alert("BuildFailing", fp="f1", severity="critical", instance=stranger)
    assert post(resp.url, body(forged))[0] == 200
    context_of(tmp_path, "BuildFailing")
    assert asked == [], "an instance outside the fleet's exporters is never asked"


def _recording_server(asked: list[str]) -> str:
    """A server on loopback that notes each request's Authorization header."""

    class Note(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.headers.get("Authorization", ""))
            self.send_response(404)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Note)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"127.0.0.1:{server.server_address[1]}"
