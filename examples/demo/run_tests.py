"""The demo's test run: unittest, a JUnit report and an Istanbul coverage summary.

Coverage is measured for real with sys.settrace over src/: executed lines
against the lines the compiler marks as code.
"""

import json
import pathlib
import sys
import time
import unittest
import xml.etree.ElementTree as ET
from typing import ClassVar

ROOT = pathlib.Path(__file__).resolve().parent
SRC = ROOT / "src"
executed: dict[str, set[int]] = {}


def tracer(frame, event, arg):  # type: ignore[no-untyped-def]
    path = frame.f_code.co_filename
    if path.startswith(str(SRC)):
        executed.setdefault(path, set()).add(frame.f_lineno)
        return tracer
    return None


def code_lines(path: pathlib.Path) -> set[int]:
    lines: set[int] = set()
    todo = [compile(path.read_text(), str(path), "exec")]
    while todo:
        code = todo.pop()
        lines.update(line for _, _, line in code.co_lines() if line is not None)
        todo.extend(c for c in code.co_consts if hasattr(c, "co_lines"))
    return lines


class Recorder(unittest.TextTestResult):
    cases: ClassVar[list[tuple[str, str, float]]] = []

    def startTest(self, test):  # type: ignore[no-untyped-def]
        self._t0 = time.monotonic()
        super().startTest(test)

    def _record(self, test, outcome):  # type: ignore[no-untyped-def]
        self.cases.append((test.id(), outcome, time.monotonic() - self._t0))

    def addSuccess(self, test):  # type: ignore[no-untyped-def]
        super().addSuccess(test)
        self._record(test, "passed")

    def addFailure(self, test, err):  # type: ignore[no-untyped-def]
        super().addFailure(test, err)
        self._record(test, "failure")

    def addError(self, test, err):  # type: ignore[no-untyped-def]
        super().addError(test, err)
        self._record(test, "error")

    def addSkip(self, test, reason):  # type: ignore[no-untyped-def]
        super().addSkip(test, reason)
        self._record(test, "skipped")


def main() -> int:
    sys.path.insert(0, str(ROOT))
    sys.settrace(tracer)
    suite = unittest.defaultTestLoader.discover(str(ROOT / "tests"), top_level_dir=str(ROOT))
    result = unittest.TextTestRunner(resultclass=Recorder, verbosity=2).run(suite)
    sys.settrace(None)

    reports = ROOT / "reports"
    reports.mkdir(exist_ok=True)
    root = ET.Element("testsuite", name="demo", tests=str(len(Recorder.cases)))
    for name, outcome, seconds in Recorder.cases:
        case = ET.SubElement(root, "testcase", name=name, time=f"{seconds:.4f}")
        if outcome != "passed":
            ET.SubElement(case, outcome)
    ET.ElementTree(root).write(reports / "junit.xml", encoding="utf-8", xml_declaration=True)

    total = covered = 0
    for path in SRC.glob("*.py"):
        lines = code_lines(path)
        total += len(lines)
        covered += len(lines & executed.get(str(path), set()))
    pct = round(100 * covered / total, 2) if total else 100
    summary = {"total": {"lines": {"total": total, "covered": covered, "skipped": 0, "pct": pct}}}
    (ROOT / "coverage").mkdir(exist_ok=True)
    (ROOT / "coverage" / "coverage-summary.json").write_text(json.dumps(summary, indent=1))
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
