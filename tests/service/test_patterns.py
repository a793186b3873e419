"""The patterns that cause issues (L2): files named by failing swarms' contexts,
failure classes and recurring alerts, counted from the store."""

from __future__ import annotations

from pathlib import Path

from responder.model import Priority
from responder.observe import patterns
from tests.conftest import wait_for
from tests.service.test_jobs import make_service
from tests.service.test_modes import fire

PYTEST = """\
FAILED tests/test_db.py::test_save - AssertionError: assert 1 == 2
src/app/db.py:42: in save
E   KeyError: 'id'
"""
TSC = "src/components/Nav.tsx(12,5): error TS2322: Type 'string' is not assignable."
NOT_FILES = "see https://example.com/docs/page.html, version 1.2.3, e.g. this, node.js itself"


def test_files_are_read_as_tools_print_them() -> None:
    assert patterns.files_in(PYTEST) == {"tests/test_db.py", "src/app/db.py"}
    assert patterns.files_in(TSC) == {"src/components/Nav.tsx"}
    assert patterns.files_in(NOT_FILES) == set()
    assert patterns.files_in("./lib/a.go:3 and /srv/app/b.rs:9") == {"lib/a.go", "/srv/app/b.rs"}


def test_failing_swarms_files_classes_and_alerts_are_counted(tmp_path: Path) -> None:
    svc, clock = make_service(
        tmp_path, "    bugfix: {env: {FAKE_CLAUDE: 'mode=fail'}, retries: 0}\n"
    )
    try:
        start = clock.now
        for i in range(2):
            svc.runtime.start_swarm("bugfix", Priority.CRITICAL, f"t{i}", PYTEST + TSC * i)
        fire(svc, "CoverageDecreased", "warning", fp="a1", component="coverage")
        fire(svc, "CoverageDecreased", "warning", status="resolved", fp="a1", component="coverage")
        fire(svc, "CoverageDecreased", "warning", fp="a2", component="coverage")
        wait_for(
            lambda: (
                svc.runtime.poll() is not None
                and not [s for s in svc.runtime.store.swarms("running") if s.type == "bugfix"]
            ),
            20,
        )
        found = patterns.count(svc.runtime.store, start, clock.now + 1)
        assert found.files == {
            "tests/test_db.py": 2,
            "src/app/db.py": 2,
            "src/components/Nav.tsx": 1,
        }
        assert found.alerts["CoverageDecreased"] == 2
        assert found.classes.total() == 2 and set(found.classes) <= {"other", "crashed"}
        text = "\n".join(patterns.section(found))
        assert (
            "Files named by failing swarms' contexts: src/app/db.py 2, tests/test_db.py 2,"
            " src/components/Nav.tsx 1." in text
        )
    finally:
        for s in svc.runtime.store.swarms("running"):
            svc.runtime.kill_swarm(s.id, "test end")
        svc.runtime.close()
