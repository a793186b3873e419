"""`warden swarm run|list|kill` and `warden budget` as a person runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli, wait_for
from tests.service.test_runtime import config


def warden(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, "-c", str(cfg))


def test_run_list_budget_and_kill(tmp_path: Path) -> None:
    config(
        tmp_path,
        """
        bugfix: {env: {FAKE_CLAUDE: 'cost=0.125'}}
        monitor: {stuck_after: 1h, env: {FAKE_CLAUDE: 'mode=hang'}}
        tests: {retries: 0, env: {FAKE_CLAUDE: 'mode=fail'}}
    """,
    )
    cfg = tmp_path / "warden.yml"
    res = warden(
        cfg, "swarm", "run", "bugfix", "--json", "--priority", "CRITICAL", "--context", "boom"
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert (out["state"], out["priority"], out["spend_usd"]) == ("succeeded", "CRITICAL", 0.125)
    failed = warden(cfg, "swarm", "run", "tests")
    assert failed.returncode == 1
    assert "failed" in failed.stdout

    budget = json.loads(warden(cfg, "budget", "--json").stdout)
    assert budget["spend_usd"] == pytest.approx(0.125 + 0.01)  # a failed run reports its cost
    assert budget["cap_usd"] in (100.0, 25.0)
    assert budget["mode"] in ("ACTIVE", "NIGHT")

    runner = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "warden.shell.cli",
            "swarm",
            "run",
            "monitor",
            "--json",
            "-c",
            str(cfg),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    listed = wait_for(lambda: json.loads(warden(cfg, "swarm", "list", "--json").stdout))
    assert [s["type"] for s in listed] == ["monitor"]
    kill = warden(cfg, "swarm", "kill", listed[0]["id"])
    assert kill.returncode == 0, kill.stderr
    stdout, _ = runner.communicate(timeout=30)
    assert runner.returncode == 1
    ended = json.loads(stdout)
    assert ended["state"] == "killed"
    assert [a["state"] for a in ended["agents"]] == ["killed"]
    assert warden(cfg, "swarm", "kill", listed[0]["id"]).returncode == 1
    all_swarms = json.loads(warden(cfg, "swarm", "list", "--all", "--json").stdout)
    assert sorted(s["state"] for s in all_swarms) == ["failed", "killed", "succeeded"]


def test_refused_and_unknown(tmp_path: Path) -> None:
    config(tmp_path)
    res = warden(tmp_path / "warden.yml", "swarm", "run", "nosuchtype")
    assert res.returncode == 3
    assert "unknown swarm type 'nosuchtype'" in res.stderr
