"""Issue 28 through `warden up`: a committed break, a bugfix agent that edits as real
ones do (a half-done edit first, then the finished one) in its own worktree, the
project's checks, the landing, and the crisis ending because the build passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import commit_all, enterable, git, wait_for
from tests.stack.test_up import StackClock, stack_config, status, warden_up

BROKEN = "def broken(:\n"
HALF = "def half(:\n"


@pytest.mark.timeout(300)
def test_a_break_is_fixed_apart_verified_and_landed_through_warden_up(
    tmp_path: Path, demo_repo: Path
) -> None:
    enterable(tmp_path)
    extra = demo_repo / "src" / "extra.py"  # the build compiles it; no test imports it
    extra.write_text('"""More of the demo."""\n' + BROKEN)
    broken = commit_all(demo_repo, "a commit that breaks the build")
    go = tmp_path / "go"
    edits = [
        {"file_path": "src/extra.py", "old_string": BROKEN, "new_string": HALF},
        {"file_path": "src/extra.py", "old_string": HALF, "new_string": "", "after": str(go)},
    ]
    fake = "env: {FAKE_CLAUDE: 'turns=1'}}"
    cfg, ports = stack_config(
        tmp_path,
        demo_repo,
        bugfix="turns=1",
        isolation="worktree",
        extra=((fake, fake[:-2] + f", FAKE_CLAUDE_EDITS: '{json.dumps(edits)}'}}}}"),),
    )
    with warden_up(cfg, StackClock.at_noon(tmp_path), tmp_path / "up.log"):
        s = wait_for(
            lambda: (st := status(ports)) and st["mode"] == "CRISIS" and st["swarms"] and st,
            90,
        )
        [swarm] = [x for x in s["swarms"] if x["type"] == "bugfix"]
        tree = tmp_path / "state" / "worktrees" / swarm["id"] / "src" / "extra.py"
        # Mid-edit, the agent's half-done change is in its worktree, never in the project.
        wait_for(lambda: tree.is_file() and HALF in tree.read_text(), 60, 0.1)
        assert extra.read_text().endswith(BROKEN)
        go.touch()
        wait_for(lambda: (st := status(ports)) and st["mode"] != "CRISIS", 120, 0.5)
        assert git(demo_repo, "rev-parse", "HEAD~1") == broken
        assert "def broken" not in extra.read_text() and HALF not in extra.read_text()
        assert f"Warden-Swarm: {swarm['id']}" in git(demo_repo, "log", "-1", "--format=%B")
        assert git(demo_repo, "status", "--porcelain", "--untracked-files=no") == ""
