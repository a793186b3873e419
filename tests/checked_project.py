"""A small git project whose build and tests take a set time and log their runs.

Each check appends `<check> start <time>` and `<check> end <time>` to a log
outside the project (so the log is no change of the project). The tests write
an ignored report and, like pytest-cov in a project without a .gitignore
entry for it, an untracked `.coverage` that nothing ignores. The build fails
while any `src/*.py` does not compile. Shared by the file-event tests and
bench/file_events.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.conftest import commit_all, git, write_config

CHECK = """\
import pathlib, sys, time
log = pathlib.Path({log!r})
def mark(event):
    with log.open("a") as fh:
        fh.write(f"{{sys.argv[1]}} {{event}} {{time.time()}}\\n")
mark("start")
time.sleep(float(sys.argv[2]))
ok = True
for src in pathlib.Path("src").glob("*.py"):
    try:
        compile(src.read_text(), str(src), "exec")
    except SyntaxError as exc:
        print(f"{{src}}:{{exc.lineno}}: {{exc.msg}}")
        ok = False
if sys.argv[1] == "tests":
    pathlib.Path("reports").mkdir(exist_ok=True)
    pathlib.Path("reports/junit.xml").write_text('<testsuite><testcase name="t"/></testsuite>')
    pathlib.Path(".coverage").write_text(str(time.time()))
mark("end")
sys.exit(0 if ok else 1)
"""


def make_checked_project(root: Path, build_seconds: float, tests_seconds: float) -> Path:
    """The project, committed, and its warden.yml (returned); runs go to root/runs.log."""
    repo = root / "project"
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "app.py").write_text("def answer() -> int:\n    return 42\n")
    (repo / ".gitignore").write_text("reports/\n")
    (repo / "check.py").write_text(CHECK.format(log=str(root / "runs.log")))
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "initial")
    py = sys.executable
    return write_config(
        root / "warden.yml",
        f"""
        project: {{dir: {repo}}}
        state_dir: {root / "state"}
        collectors:
          host: {{enabled: false}}
          build:
            command: [{py}, check.py, build, '{build_seconds}']
            interval: 1h
          tests:
            command: [{py}, check.py, tests, '{tests_seconds}']
            junit_report: project/reports/junit.xml
            interval: 1h
            run_on_change: true
        """,
    )


def runs(root: Path) -> list[tuple[str, str, float]]:
    """(check, "start" or "end", time) of every run so far."""
    log = root / "runs.log"
    if not log.exists():
        return []
    out = []
    for line in log.read_text().splitlines():
        check, event, at = line.split()
        out.append((check, event, float(at)))
    return out


def edit(repo: Path, text: str = "") -> None:
    """One save of a source file, as an editor makes it."""
    app = repo / "src" / "app.py"
    app.write_text(app.read_text() + (text or "\n"))
