"""What agents are told (issue 13, W5, T2): TestsFailing names the failing tests
before the output; CoverageDecreased names the files that lost coverage, with
before and after. A real exporter and a real responder, through the webhook."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.conftest import ExporterProcess, ResponderProcess, free_port, sample, wait_for
from tests.test_responder import alert, body, db, post, responder_config

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
