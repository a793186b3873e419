"""A5: recovery by command. A policy's recovery runs once per firing episode, through
the admission rule; its swarms follow only when it fails or the alert keeps
firing, and a person only after them."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from responder.service.metrics import ResponderMetrics
from responder.service.worker import Service
from responder.state.store import RecoveryRow
from tests.conftest import run_cli, wait_for, write_config
from tests.service.test_modes import Clock, decisions, fire
from tests.service.test_responder import responder_config
from warden.config import load_config


def service(tmp_path: Path, command: list[str], settle: str = "1h", extra: str = "") -> Service:
    """A responder whose OpenClawDisconnected recovery is `command`."""
    cfg = responder_config(
        tmp_path,
        "    bugfix: {env: {FAKE_CLAUDE: 'turns=1,delay=0'}}\n",
        f"""\
  recoveries:
    openclaw_restart: {{command: {json.dumps(command)}, timeout: 2s, settle: {settle}}}
{extra}""",
    )
    return Service(load_config(cfg), clock=Clock("2026-11-26T12:00:00+00:00"))


def recovery(svc: Service) -> RecoveryRow:
    [row] = svc.runtime.store.recoveries()
    return row


def step_until(svc: Service, state: str, timeout: float = 20) -> RecoveryRow:
    def reached() -> bool:
        svc.step()
        return recovery(svc).state == state

    wait_for(reached, timeout, 0.05)
    return recovery(svc)


def advance(svc: Service, seconds: float) -> None:
    clock = svc.clock
    assert isinstance(clock, Clock)
    clock.now += seconds


def stepped(svc: Service) -> bool:
    svc.step()
    return True


def swarm_types(svc: Service) -> list[str]:
    return sorted(s.type for s in svc.runtime.store.swarms())


def test_a_recovery_that_works_needs_no_swarm(tmp_path: Path) -> None:
    marker = tmp_path / "restarted"
    svc = service(tmp_path, [sys.executable, "-c", f"open({str(marker)!r}, 'w').write('1')"])
    try:
        fire(svc, "OpenClawDisconnected", "critical", component="openclaw")
        fire(svc, "OpenClawDisconnected", "critical", component="openclaw")  # a re-send
        row = step_until(svc, "waiting")
        assert (row.outcome, row.exit_code) == ("succeeded", 0) and marker.exists()
        fire(svc, "OpenClawDisconnected", "critical", "resolved", component="openclaw")
        row = step_until(svc, "done")
        assert swarm_types(svc) == [], "the command set it right: no swarm"
        steps = [d["step"] for d in decisions(svc, "recovery")]
        assert steps == ["done", "succeeded", "started"]
    finally:
        svc.runtime.close()


def test_a_failed_recovery_brings_the_swarm_with_its_output(tmp_path: Path) -> None:
    svc = service(tmp_path, [sys.executable, "-c", "print('gateway refused'); exit(3)"])
    try:
        fire(svc, "OpenClawDisconnected", "critical", component="openclaw")
        row = step_until(svc, "escalated")
        assert (row.outcome, row.exit_code) == ("failed", 3)
        assert "exit code 3: gateway refused" in row.detail
        [swarm] = svc.runtime.store.swarms()
        assert (swarm.type, swarm.priority) == ("bugfix", "CRITICAL")
        assert swarm.trigger.startswith("alert:OpenClawDisconnected:f1:")
        assert "gateway refused" in Path(swarm.context_file).read_text()
    finally:
        svc.runtime.close()


def test_a_command_that_works_but_leaves_it_firing_calls_a_person_not_a_swarm(
    tmp_path: Path,
) -> None:
    """Issue 29, item 1. Was: a gateway that dropped every hour, with a restart that
    worked, bought 61 bugfix swarms ($109): still firing after the settle, a run that
    succeeded started the policy's swarms. A timeout is killed and escalates."""
    svc = service(tmp_path, [sys.executable, "-c", "pass"], settle="5m")
    try:
        fire(svc, "OpenClawDisconnected", "critical", component="openclaw")
        step_until(svc, "waiting")
        advance(svc, 301)
        row = step_until(svc, "told")
        assert "still firing 300s after it" in row.detail
        assert swarm_types(svc) == [], "no coding swarm for a command that worked"
        assert str(decisions(svc, "recovery")[0]["detail"]).startswith("the command succeeded")
    finally:
        svc.runtime.close()
    (tmp_path / "hung").mkdir()
    hung = service(tmp_path / "hung", [sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        fire(hung, "OpenClawDisconnected", "critical", component="openclaw")
        pid = step_until(hung, "running").pid
        advance(hung, 3)  # past the 2 s timeout
        row = step_until(hung, "escalated")
        assert row.outcome == "timed_out"
        assert pid is not None and wait_for(lambda: not _alive(pid), 5)
    finally:
        hung.runtime.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not open(f"/proc/{pid}/stat").read().split(") ")[1].startswith("Z")


def _registry(svc: Service) -> CollectorRegistry:
    svc._publish()  # the view the metrics read
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ResponderMetrics(svc))
    return registry


def test_a_flap_within_the_settle_joins_the_run_that_set_it_right(tmp_path: Path) -> None:
    """Issue 29, item 1: the outage back within `settle` of a restart that worked is
    the same outage: no second run, no swarm; the alert resolving ends it again."""
    runs = tmp_path / "runs"
    svc = service(
        tmp_path, [sys.executable, "-c", f"open({str(runs)!r}, 'a').write('x')"], settle="2m"
    )
    try:
        fire(svc, "OpenClawDisconnected", "critical", fp="f1", component="openclaw")
        step_until(svc, "waiting")
        fire(svc, "OpenClawDisconnected", "critical", "resolved", fp="f1", component="openclaw")
        step_until(svc, "done")
        advance(svc, 60)
        fire(svc, "OpenClawDisconnected", "critical", fp="f2", component="openclaw")
        svc.step()
        first, second = svc.runtime.store.recoveries()
        assert (first.state, second.state, second.joined_to) == ("waiting", "joined", first.id)
        fire(svc, "OpenClawDisconnected", "critical", "resolved", fp="f2", component="openclaw")
        wait_for(lambda: stepped(svc) and svc.runtime.store.recoveries()[0].state == "done", 20)
        assert runs.read_text() == "x", "the command ran once"
        assert swarm_types(svc) == []
        # Past the settle, the next outage is a new one: the command runs again.
        advance(svc, 600)
        fire(svc, "OpenClawDisconnected", "critical", fp="f3", component="openclaw")
        wait_for(lambda: stepped(svc) and runs.read_text() == "xx", 20)
    finally:
        svc.runtime.close()


def test_a_refused_recovery_runs_nothing(tmp_path: Path) -> None:
    """At the budget's stop tier nothing runs, recoveries included (one rule)."""
    marker = tmp_path / "ran"
    svc = service(tmp_path, [sys.executable, "-c", f"open({str(marker)!r}, 'w')"])
    svc.config.budget.caps.update(ACTIVE=0.0, CRISIS=0.0)  # the stop tier at once
    try:
        svc.step()
        fire(svc, "OpenClawDisconnected", "critical", component="openclaw")
        assert recovery(svc).state == "refused" and recovery(svc).outcome == "refused"
        assert recovery(svc).pid is None, "no process was started for it"
        assert not marker.exists()
        assert svc.runtime.refusals[("recovery", "budget_tier")] == 1
    finally:
        svc.runtime.close()


def test_warden_cleanup_removes_only_what_is_old(tmp_path: Path) -> None:
    state = tmp_path / "state"
    cfg = write_config(tmp_path / "warden.yml", f"state_dir: {state}\n")
    old, new = state / "reports" / "daily-20260101.md", state / "reports" / "daily-today.md"
    for f in (old, new):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("x" * 1000)
    os.utime(old, (time.time() - 8 * 86400,) * 2)
    assert run_cli("cleanup", "-c", str(cfg), "--older-than", "7 days").returncode == 2
    done = run_cli("cleanup", "-c", str(cfg), "--older-than", "1w")
    assert done.returncode == 0, done.stderr
    assert "removed 1 files" in done.stdout
    assert new.exists() and not old.exists()
