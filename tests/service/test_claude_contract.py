"""Contract: the shipped Claude Code command against the real CLI (npm, pinned by
scripts/npm-tools.sh), without credentials, as the agent user when the tests run
as root. What the fake agent imitates is checked here against the real thing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from responder.act.runtime import Runtime
from responder.act.spawning import session_id
from responder.model import Priority
from tests.conftest import AGENT_USER, REPO, for_agents, wait_for, write_config
from tests.service.test_runtime import ended, marked_processes, run_until
from warden.config import load_config
from warden.config.swarms import CLAUDE_COMMAND

CLAUDE_BIN = REPO / ".cache" / "npm" / "claude" / "node_modules" / ".bin"


@pytest.fixture
def real_claude(monkeypatch: pytest.MonkeyPatch) -> Path:
    assert (CLAUDE_BIN / "claude").exists(), "the test command installs it: npm-tools.sh claude"
    program = for_agents(CLAUDE_BIN / "claude")  # where the agent user can run it
    monkeypatch.setenv("PATH", f"{program.parent}{os.pathsep}{os.environ['PATH']}")
    for key in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    return program


def test_the_shipped_command_runs_the_real_cli_and_its_failure_is_understood(
    tmp_path: Path, real_claude: Path
) -> None:
    cfg = load_config(
        write_config(
            tmp_path / "warden.yml",
            f"""\
state_dir: {tmp_path / "state"}
swarms:
  user: {AGENT_USER}
  retries: 3
  retry_backoff: 100ms
  spawn_timeout: 2m
""",
        )
    )
    stype = cfg.swarm_types["bugfix"]
    assert stype.command == tuple(CLAUDE_COMMAND), "the shipped command, unchanged"
    rt = Runtime(cfg)
    try:
        swarm = rt.start_swarm("bugfix", Priority.CRITICAL, "alert:BuildFailing", "npm test")
        run_until(rt, ended(rt, swarm.id), timeout=120)
        row = rt.store.swarm(swarm.id)
        assert row is not None
        agents = rt.store.agents(swarm.id)
        log = Path(agents[0].log_path).read_text()
        # The flags were accepted together: the CLI started its session with them.
        assert '"permissionMode":"acceptEdits"' in log, log[-2000:]
        assert "unknown option" not in log and "requires --verbose" not in log
        assert (row.state, row.failure_class) == ("failed", "authentication"), row.reason
        assert "Not logged in" in row.reason, row.reason
        assert len(agents) == 1, "a permanent failure is not retried"
        assert agents[0].failure_class == "authentication"
        # Issue 28: the run is the session Warden named (the agent's id as a UUID),
        # recorded as the CLI's first event named it.
        assert agents[0].session_id == session_id(agents[0].id), log[-2000:]
        assert rt.store.swarm_spend(swarm.id) == 0
        wait_for(lambda: not marked_processes(rt), 10)
    finally:
        rt.close()
