"""The real Claude Code CLI (2.1.332), driven by the scripted model, working apart:
what it claims is not what lands (issue 28 item 7's two more scripts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from responder.act.runtime import Runtime
from responder.model import Priority
from responder.state.store import SwarmRow
from tests.conftest import AGENT_PYTHON, AGENT_USER, commit_all, enterable, git
from tests.model_server import ModelServer, Step
from tests.service.test_apart import polled
from tests.service.test_claude_contract import real_claude  # noqa: F401 (a fixture)
from warden.config import Config, load_config

FAILING = "        self.assertEqual(add(2, 3), 6)\n"


def config(tmp: Path, project: Path, model: str) -> Config:
    """The shipped command (the real CLI) as the agent user, the model scripted."""
    py = AGENT_PYTHON
    (tmp / "warden.yml").write_text(
        f"""\
project: {{dir: {project}}}
state_dir: {tmp / "state"}
modes:
  NIGHT: {{max_swarms: 10, priorities: [CRITICAL, HIGH, MEDIUM, LOW]}}
collectors:
  host: {{enabled: false}}
  build: {{command: [{py}, build.py]}}
  tests: {{command: [{py}, run_tests.py], junit_report: {project}/reports/junit.xml}}
swarms:
  user: {AGENT_USER}
  retries: 0
  timeout: 2m
  env: {{ANTHROPIC_BASE_URL: '{model}', ANTHROPIC_API_KEY: sk-scripted,
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1'}}
"""
    )
    return load_config(tmp / "warden.yml")


@pytest.fixture
def failing_test(tmp_path: Path, demo_repo: Path) -> Path:
    enterable(tmp_path)
    test_file = demo_repo / "tests" / "test_calc.py"
    test_file.write_text(test_file.read_text().replace("add(2, 3), 5", "add(2, 3), 6"))
    commit_all(demo_repo, "a failing test")
    return demo_repo


def run(cfg: Config) -> tuple[Runtime, SwarmRow]:
    rt = Runtime(cfg)
    swarm = rt.start_swarm("tests", Priority.CRITICAL, "alert:TestsFailing:e1:0", "test_add")
    return rt, polled(rt, swarm.id)


@pytest.mark.usefixtures("real_claude")
def test_a_model_that_deletes_the_failing_test_lands_nothing(
    tmp_path: Path, failing_test: Path
) -> None:
    before = git(failing_test, "rev-parse", "HEAD")
    cheat = "    def test_add(self) -> None:\n" + FAILING
    script = [
        Step.call("Read", file_path="{cwd}/tests/test_calc.py"),
        Step.call("Edit", file_path="{cwd}/tests/test_calc.py", old_string=cheat, new_string=""),
        Step.say("All tests pass now."),
    ]
    with ModelServer(script) as model:
        rt, swarm = run(config(tmp_path, failing_test, model.url))
        try:
            said = json.dumps(list(model.results.values()))
            assert "has been updated" in said, said  # the CLI did edit, and said success
            [agent] = rt.store.agents(swarm.id)
            assert agent.state == "succeeded"
            assert (swarm.state, swarm.outcome, swarm.landed) == ("failed", "regressed", None)
            assert "tests.test_calc.CalcTest.test_add" in swarm.reason
            assert git(failing_test, "rev-parse", "HEAD") == before
            assert FAILING in (failing_test / "tests" / "test_calc.py").read_text()
        finally:
            for s in rt.store.swarms("running"):
                rt.kill_swarm(s.id, "test end", wait=True)
            rt.close()


@pytest.mark.usefixtures("real_claude")
def test_a_model_denied_its_tool_is_a_permission_failure_and_lands_nothing(
    tmp_path: Path, failing_test: Path
) -> None:
    """Bash outside --allowedTools is denied; the CLI carries on and says success
    (exit 0): Warden classes the run `permission`, and nothing is judged or lands."""
    before = git(failing_test, "rev-parse", "HEAD")
    script = [
        Step.call("Bash", command="perl -pi -e s/6/5/ tests/test_calc.py", description="fix"),
        Step.say("Fixed the test."),
    ]
    with ModelServer(script) as model:
        rt, swarm = run(config(tmp_path, failing_test, model.url))
        try:
            [agent] = rt.store.agents(swarm.id)
            assert (agent.state, agent.failure_class, agent.exit_code) == (
                "failed",
                "permission",
                0,
            )
            assert "Bash" in (agent.failure_text or "")
            assert (swarm.state, swarm.outcome, swarm.landed) == ("failed", None, None)
            assert git(failing_test, "rev-parse", "HEAD") == before
        finally:
            rt.close()
