"""Swarms work apart, and only verified work lands (issue 28): real git
repositories, the demo project's own checks, the fake agent editing files as a
scripted agent, the runtime's real path."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from responder.act.runtime import Runtime
from responder.model import Priority
from responder.observe.metrics import RuntimeMetrics
from responder.service.worker import Service
from responder.state.store import SwarmRow
from tests.conftest import (
    AGENT_PYTHON,
    commit_all,
    enterable,
    fake_swarm_keys,
    git,
    make_demo_repo,
    run_cli,
    wait_for,
    write_config,
)
from warden.config import Config, load_config

BROKEN = "def broken(:\n"
FIX: dict[str, object] = {"file_path": "src/calc.py", "old_string": BROKEN, "new_string": ""}
TRIGGER = "alert:BuildFailing:e1:0"


def config(tmp: Path, project: Path, edits: list[dict[str, object]], **keys: str) -> Config:
    """The demo's checks as the shipped warden.yml runs them; the bugfix type's fake
    agent makes `edits`."""
    py = AGENT_PYTHON  # the checks of agents' work run as their user
    extra = "\n".join(f"  {k}: {v}" for k, v in keys.items())
    env = json.dumps({"FAKE_CLAUDE_EDITS": json.dumps(edits)})
    (tmp / "token").write_text("a-token-for-the-webhook\n")
    body = f"""\
project: {{dir: {project}}}
state_dir: {tmp / "state"}
responder:
  token_file: {tmp / "token"}
  alertmanager_url: http://127.0.0.1:1
  prometheus_url: http://127.0.0.1:1
modes:
  NIGHT: {{max_swarms: 10, priorities: [CRITICAL, HIGH, MEDIUM, LOW]}}
collectors:
  host: {{enabled: false}}
  build: {{command: [{py}, build.py]}}
  tests: {{command: [{py}, run_tests.py], junit_report: {project}/reports/junit.xml}}
  typecheck: {{command: [{py}, typecheck.py], error_pattern: 'error TS\\d+'}}
  coverage: {{path: {project}/coverage/coverage-summary.json}}
swarms:
{fake_swarm_keys()}  retries: 0
  timeout: 2m
{extra}
  types:
    bugfix: {{env: {env}}}
"""
    return load_config(write_config(tmp / "warden.yml", textwrap.dedent(body)))


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """The demo as a git project of its own whose last commit broke the build."""
    repo = make_demo_repo(enterable(tmp_path) / "demo")
    with (repo / "src" / "calc.py").open("a") as fh:
        fh.write(BROKEN)
    commit_all(repo, "a broken commit")
    return repo


@pytest.fixture
def made() -> Iterator[list[Runtime]]:
    out: list[Runtime] = []
    yield out
    for rt in out:
        for s in rt.store.swarms("running"):
            rt.kill_swarm(s.id, "test teardown")
        rt.close()


def polled(
    rt: Runtime, swarm_id: str, until: Callable[[SwarmRow], bool] = lambda r: not r.live
) -> SwarmRow:
    """The swarm's row once `until` holds of it (by default: it ended), the runtime
    polled meanwhile as its owner does."""

    def holds() -> SwarmRow | None:
        rt.poll()
        row = rt.store.swarm(swarm_id)
        return row if row is not None and until(row) else None

    row: SwarmRow = wait_for(holds, 120, 0.05)
    return row


def run(made: list[Runtime], cfg: Config, trigger: str = TRIGGER) -> tuple[Runtime, SwarmRow]:
    """A bugfix swarm, polled until it has ended."""
    rt = Runtime(cfg)
    made.append(rt)
    swarm = rt.start_swarm("bugfix", Priority.CRITICAL, trigger, "the build fails")
    return rt, polled(rt, swarm.id)


def test_a_fix_made_in_its_worktree_is_verified_and_lands(
    tmp_path: Path, broken: Path, made: list[Runtime]
) -> None:
    before = git(broken, "rev-parse", "HEAD")
    rt, swarm = run(made, config(tmp_path, broken, [FIX]))
    assert (swarm.state, swarm.outcome) == ("succeeded", "verified"), swarm.reason
    head = git(broken, "rev-parse", "HEAD")
    assert swarm.landed == head and head != before
    assert git(broken, "rev-parse", "HEAD~1") == before  # a fast-forward of one commit
    assert BROKEN not in (broken / "src" / "calc.py").read_text()  # the project has the fix
    assert git(broken, "status", "--porcelain", "--untracked-files=no") == ""
    message = git(broken, "log", "-1", "--format=%an%n%B")
    assert f"warden bugfix {swarm.id}" in message
    assert f"Warden-Swarm: {swarm.id}" in message and f"Warden-Trigger: {TRIGGER}" in message
    # The agent worked in the swarm's worktree, on its branch, from the broken commit.
    assert swarm.worktree == str(tmp_path / "state" / "worktrees" / swarm.id)
    assert (swarm.branch, swarm.base) == (f"warden/{swarm.id}", before)
    [agent] = rt.store.agents(swarm.id)
    init = json.loads(Path(agent.log_path).read_text().splitlines()[0])
    assert init["cwd"] == swarm.worktree
    [decision] = [d for d in rt.store.decisions() if d["kind"] == "verified"]
    assert decision["checked"] == ["build", "tests", "typecheck", "coverage"]
    assert decision["landed"] == head
    registry = CollectorRegistry()
    registry.register(RuntimeMetrics(rt))
    outcomes = {
        o: registry.get_sample_value(
            "warden_swarm_outcomes_total", {"type": "bugfix", "outcome": o}
        )
        for o in ("verified", "regressed")
    }
    assert outcomes == {"verified": 1.0, "regressed": 0.0}
    took = registry.get_sample_value("warden_swarm_verification_seconds_sum", {"type": "bugfix"})
    assert took is not None and took > 0
    assert took == pytest.approx(decision["seconds"], abs=0.01)


def test_warden_swarm_run_and_list_show_the_outcome(tmp_path: Path, broken: Path) -> None:
    cfg = config(tmp_path, broken, [FIX])
    done = run_cli("swarm", "run", "bugfix", "-c", str(cfg.file), "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert (out["state"], out["outcome"]) == ("succeeded", "verified")
    assert out["landed"] == git(broken, "rev-parse", "HEAD")
    assert out["branch"] == f"warden/{out['id']}" and out["worktree"].endswith(out["id"])
    listed = run_cli("swarm", "list", "--all", "--json", "-c", str(cfg.file))
    [row] = json.loads(listed.stdout)
    assert (row["outcome"], row["landed"]) == ("verified", out["landed"])


def test_deleting_the_failing_test_is_a_regression_and_nothing_lands(
    tmp_path: Path, demo_repo: Path, made: list[Runtime]
) -> None:
    """A test that fails at the base and is deleted has not been fixed: regressed,
    the watched branch does not move, and one retry is told why."""
    test_file = demo_repo / "tests" / "test_calc.py"
    test_file.write_text(test_file.read_text().replace("add(2, 3), 5", "add(2, 3), 6"))
    before = commit_all(demo_repo, "a failing test")
    cheat: dict[str, object] = {
        "file_path": "tests/test_calc.py",
        "old_string": "    def test_add(self) -> None:\n        self.assertEqual(add(2, 3), 6)\n",
        "new_string": "",
    }
    rt, swarm = run(made, config(tmp_path, demo_repo, [cheat]), "alert:TestsFailing:e1:0")
    assert (swarm.state, swarm.outcome, swarm.landed) == ("failed", "regressed", None)
    assert "tests of the base are gone: tests.test_calc.CalcTest.test_add" in swarm.reason
    assert git(demo_repo, "rev-parse", "HEAD") == before
    [retry] = [s for s in rt.store.swarms() if s.retry_of == swarm.id]
    assert "test_add" in retry.context and swarm.id in retry.context


def test_a_swarm_that_changed_nothing_did_not_do_its_work(
    tmp_path: Path, broken: Path, made: list[Runtime]
) -> None:
    before = git(broken, "rev-parse", "HEAD")
    rt, swarm = run(made, config(tmp_path, broken, []))
    assert (swarm.state, swarm.outcome, swarm.landed) == ("failed", "no_change", None)
    assert git(broken, "rev-parse", "HEAD") == before
    assert not [s for s in rt.store.swarms() if s.retry_of == swarm.id]  # nothing to retry


def test_a_persons_uncommitted_change_is_never_overwritten(
    tmp_path: Path, broken: Path, made: list[Runtime]
) -> None:
    readme = broken / "README.md"
    readme.write_text(readme.read_text() + "\nwork in progress\n")
    before = git(broken, "rev-parse", "HEAD")
    _, swarm = run(made, config(tmp_path, broken, [FIX]))
    assert (swarm.state, swarm.outcome, swarm.landed) == ("failed", "conflict", None)
    assert "uncommitted changes" in swarm.reason
    assert git(broken, "rev-parse", "HEAD") == before
    assert readme.read_text().endswith("work in progress\n")
    assert BROKEN in (broken / "src" / "calc.py").read_text()


def test_work_verified_on_a_moved_branch_is_rebased_checked_again_and_lands(
    tmp_path: Path, broken: Path, made: list[Runtime]
) -> None:
    """A person commits while the agent works: the fix lands on top of that commit."""
    go = tmp_path / "go"
    rt = Runtime(config(tmp_path, broken, [{**FIX, "after": str(go)}]))
    made.append(rt)
    swarm = rt.start_swarm("bugfix", Priority.CRITICAL, TRIGGER, "the build fails")

    polled(rt, swarm.id, lambda r: r.base is not None)
    (broken / "NOTES.md").write_text("a person's note\n")
    moved = commit_all(broken, "a person's commit")
    go.touch()  # the agent edits only now
    row = polled(rt, swarm.id)
    assert (row.state, row.outcome) == ("succeeded", "verified"), row.reason
    assert git(broken, "rev-parse", "HEAD~1") == moved
    assert row.landed == git(broken, "rev-parse", "HEAD")
    assert (broken / "NOTES.md").exists() and BROKEN not in (broken / "src" / "calc.py").read_text()


def test_branch_leaves_verified_work_for_a_person(
    tmp_path: Path, broken: Path, made: list[Runtime]
) -> None:
    before = git(broken, "rev-parse", "HEAD")
    _, swarm = run(made, config(tmp_path, broken, [FIX], land="branch"))
    assert (swarm.state, swarm.outcome, swarm.landed) == ("succeeded", "verified", None)
    assert git(broken, "rev-parse", "HEAD") == before
    assert git(broken, "rev-parse", f"warden/{swarm.id}~1") == before


def test_cleanup_removes_ended_swarms_worktrees_and_merged_branches(
    tmp_path: Path, broken: Path, made: list[Runtime]
) -> None:
    """J7 and `warden cleanup`: a landed swarm's worktree and branch go; a swarm's
    branch the watched branch has not merged stays for a person."""
    cfg = config(tmp_path, broken, [FIX], land="branch")
    _, kept = run(made, cfg)
    cfg = config(tmp_path, broken, [FIX])
    _, landed = run(made, cfg)
    assert landed.landed is not None and kept.worktree and landed.worktree
    assert Path(kept.worktree).is_dir() and Path(landed.worktree).is_dir()
    done = run_cli("cleanup", "-c", str(cfg.file))
    assert done.returncode == 0, done.stderr
    assert "2 worktrees of ended swarms, 1 merged branches" in done.stdout
    assert not Path(kept.worktree).exists() and not Path(landed.worktree).exists()
    branches = git(broken, "branch", "--format=%(refname:short)").split()
    assert sorted(branches) == ["main", f"warden/{kept.id}"]
    assert git(broken, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_work_the_checks_refuse_twice_is_told_to_a_person_once(
    tmp_path: Path, demo_repo: Path
) -> None:
    """The swarm regressed, its retry (told why) regressed too: J1 tells a person
    once, naming both swarms and what failed."""
    test_file = demo_repo / "tests" / "test_calc.py"
    test_file.write_text(test_file.read_text().replace("add(2, 3), 5", "add(2, 3), 6"))
    commit_all(demo_repo, "a failing test")
    cheat: dict[str, object] = {"file_path": "tests/test_calc.py", "delete": True}
    svc = Service(config(tmp_path, demo_repo, [cheat]), state_file=False)
    rt = svc.runtime
    try:
        first = rt.start_swarm("bugfix", Priority.CRITICAL, "alert:TestsFailing:e1:0", "")

        def both_ended() -> bool:
            svc.step()
            retries = [s for s in rt.store.swarms() if s.retry_of == first.id]
            return bool(retries) and all(s.state == "failed" for s in retries)

        wait_for(both_ended, 120, 0.05)
        [retry] = [s for s in rt.store.swarms() if s.retry_of == first.id]
        assert [s.outcome for s in rt.store.swarms()] == ["regressed", "regressed"]
        assert retry.context.startswith(
            f"A swarm before you ({first.id}) did this work; regressed:"
        )
        for _ in range(2):
            svc.jobs.run_now("J1")
        told = [d for d in rt.store.decisions() if d["kind"] == "work_not_landed"]
        assert [(d["swarm"], d["retry_of"]) for d in told] == [(retry.id, first.id)]
        assert told[0]["action"] == "could not tell a person (work_not_landed)"  # no Alertmanager
        assert not [s for s in rt.store.swarms() if s.retry_of == retry.id], "one retry only"
    finally:
        rt.close()


def test_verification_a_crash_interrupted_is_done_again_and_lands_once(
    tmp_path: Path, broken: Path, made: list[Runtime]
) -> None:
    """The responder died while its swarm was being verified (its verdict never
    recorded): the next one takes the swarm over, judges it again and records
    the landing that happened, without landing twice."""
    before = git(broken, "rev-parse", "HEAD")
    cfg = config(tmp_path, broken, [FIX])
    first = Runtime(cfg)
    swarm = first.start_swarm("bugfix", Priority.CRITICAL, TRIGGER, "the build fails")

    polled(first, swarm.id, lambda r: r.state == "verifying")
    workshop = first.apart.workshop
    first.drop()  # a SIGKILL: nothing more is written; the landing under way goes on
    wait_for(lambda: not workshop.busy(swarm.id), 60, 0.05)
    second = Runtime(cfg)
    made.append(second)
    row = polled(second, swarm.id)
    assert (row.state, row.outcome) == ("succeeded", "verified"), row
    assert row.landed == git(broken, "rev-parse", "HEAD")
    assert git(broken, "rev-parse", "HEAD~1") == before, "landed once"


def test_an_uncommitted_break_is_fixed_apart_and_left_to_its_author(
    tmp_path: Path, demo_repo: Path, made: list[Runtime]
) -> None:
    """The build breaks in a change a person has not committed: the swarm starts from
    what the collectors see (that change, as a commit of its own on the head), fixes
    it in its worktree, and lands nothing over the person's work: conflict, the fix
    on its branch."""
    calc = demo_repo / "src" / "calc.py"
    calc.write_text(calc.read_text() + BROKEN)
    before = git(demo_repo, "rev-parse", "HEAD")
    _, swarm = run(made, config(tmp_path, demo_repo, [FIX]))
    assert (swarm.state, swarm.outcome, swarm.landed) == ("failed", "conflict", None)
    assert git(demo_repo, "rev-parse", "HEAD") == before and calc.read_text().endswith(BROKEN)
    assert git(demo_repo, "rev-parse", f"{swarm.base}~1") == before  # the snapshot's parent
    fixed = git(demo_repo, "show", f"warden/{swarm.id}:src/calc.py")
    assert "def broken" not in fixed and "def mean" in fixed


def test_a_swarm_sent_for_a_break_already_mended_had_nothing_to_do(
    tmp_path: Path, demo_repo: Path, made: list[Runtime]
) -> None:
    """Started while BuildFailing was on its way out (the build passes at its base):
    it changed nothing, which is neither a success nor a failure of its type."""
    _, swarm = run(made, config(tmp_path, demo_repo, []))
    assert (swarm.state, swarm.outcome) == ("killed", "no_change"), swarm.reason
    assert "nothing to fix" in swarm.reason


def test_the_same_fix_twice_lands_once_and_both_did_their_work(
    tmp_path: Path, broken: Path, made: list[Runtime]
) -> None:
    """Two swarms on one break (BuildFailing's and TestsFailing's) make the same fix:
    the first lands; the second's, rebased, is already on the watched branch."""
    before = git(broken, "rev-parse", "HEAD")
    rt = Runtime(config(tmp_path, broken, [FIX]))
    made.append(rt)
    ids = [
        rt.start_swarm("bugfix", Priority.CRITICAL, f"alert:BuildFailing:e{i}:0", "").id
        for i in range(2)
    ]
    rows = [polled(rt, i) for i in ids]
    assert sorted((r.state, r.outcome) for r in rows) == [("succeeded", "verified")] * 2
    assert [bool(r.landed) for r in rows].count(True) == 1
    assert git(broken, "rev-parse", "HEAD~1") == before, "one commit landed"
    [second] = [r for r in rows if not r.landed]
    assert "already holds this change" in second.reason
