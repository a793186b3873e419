"""Issue 28 through `warden up`: a committed break, a bugfix agent that edits as real
ones do (a half-done edit first, then the finished one) in its own worktree, the
project's checks, the landing, and the crisis ending because the build passes."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import FAKE_CLAUDE, commit_all, enterable, for_agents, git, wait_for
from tests.model_server import ModelServer, Step
from tests.service.test_claude_contract import CLAUDE_BIN
from tests.stack.test_up import Ports, StackClock, stack_config, status, warden_up

BROKEN = "def broken(:\n"
HALF = "def half(:\n"
FIX_EXTRA = [
    Step.call("Read", file_path="{cwd}/src/extra.py"),
    Step.call("Edit", file_path="{cwd}/src/extra.py", old_string=BROKEN, new_string=""),
    Step.say("Fixed: src/extra.py had a broken definition."),
]
"""The scripted model's fix of BROKEN appended to src/extra.py."""


def real_cli_stack(tmp: Path, project: Path, model_url: str) -> tuple[Path, Ports]:
    """`warden up`'s config with the shipped Claude Code command (`claude` on PATH),
    swarms working apart, and every type's agents talking to the scripted model."""
    env = (
        f"{{ANTHROPIC_BASE_URL: '{model_url}', ANTHROPIC_API_KEY: sk-scripted, "
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1'}"
    )
    return stack_config(
        tmp,
        project,
        isolation="worktree",
        extra=(
            (f"  command: [python3, {FAKE_CLAUDE}, -p,", "  command: [claude, -p,"),
            ("  env: {}\n  prompt:", f"  env: {env}\n  prompt:"),  # every type's agents
        ),
    )


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


@pytest.mark.timeout(300)
def test_the_real_cli_fixes_a_break_apart_and_it_lands_through_warden_up(
    tmp_path: Path, demo_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real Claude Code CLI (2.1.332), driven by the scripted model: the crisis's
    bugfix agent reads and edits the broken file in its worktree, Warden verifies
    and lands the fix, BuildFailing resolves and the crisis ends."""
    claude = for_agents(CLAUDE_BIN / "claude")
    monkeypatch.setenv("PATH", f"{claude.parent}:{os.environ['PATH']}")
    enterable(tmp_path)
    extra = demo_repo / "src" / "extra.py"
    extra.write_text('"""More of the demo."""\n' + BROKEN)
    broken = commit_all(demo_repo, "a commit that breaks the build")
    with ModelServer(FIX_EXTRA) as model:
        cfg, ports = real_cli_stack(tmp_path, demo_repo, model.url)
        with warden_up(cfg, StackClock.at_noon(tmp_path), tmp_path / "up.log"):
            wait_for(lambda: (st := status(ports)) and st["mode"] == "CRISIS", 90)
            wait_for(lambda: (st := status(ports)) and st["mode"] != "CRISIS", 180, 0.5)
            assert git(demo_repo, "rev-parse", "HEAD~1") == broken
            assert "def broken" not in extra.read_text()
        said = json.dumps(list(model.results.values()))
        assert "has been updated" in said and '"is_error": true' not in said, said
    db = sqlite3.connect(tmp_path / "state" / "warden.db")
    swarms = db.execute("SELECT type, state, outcome, landed FROM swarms").fetchall()
    # BuildFailing's bugfix swarm, and TestsFailing's tests swarm where the break
    # failed the tests too, may both make the fix: one lands it, the other's is
    # verified as already on the branch. None failed.
    [landed] = [s for s in swarms if s[3]]
    assert landed[1:] == ("succeeded", "verified", git(demo_repo, "rev-parse", "HEAD")), swarms
    assert all(s[1] in ("succeeded", "killed") for s in swarms), swarms
    [(cost,)] = db.execute("SELECT SUM(amount_usd) FROM ledger").fetchall()
    assert 0 < cost < 0.01, "what the run reported (the scripted model's few tokens)"
