"""The scheduled jobs (J1, J2, J5-J10), the learning loop and telling a person."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from responder.act.live import SpawnRefused
from responder.decide import wake
from responder.model import BUILD_BROKEN_ALERTS, Priority
from responder.observe.decisions import describe
from responder.rules.budget import scheduled_period
from responder.rules.modes import Situation
from responder.service.worker import Service
from tests.alerting import build_project
from tests.conftest import (
    REPO,
    ExporterProcess,
    run_cli,
    statements_run,
    wait_for,
    write_config,
)
from tests.service.test_modes import Clock, decisions, fire
from tests.service.test_responder import responder_config
from tests.service.test_runtime import marked_stray
from warden.alertspecs import ALERTS
from warden.config import load_config


def make_service(
    tmp_path: Path, extra: str = "", when: str = "2026-11-26T12:00:00+00:00"
) -> tuple[Service, Clock]:
    cfg = responder_config(tmp_path, extra)
    clock = Clock(when)
    return Service(load_config(cfg), clock=clock), clock


def hang(*types: str) -> str:
    """Swarm types (as `swarms.types` lines) whose agents hang until killed."""
    return "".join(
        f"    {t}: {{env: {{FAKE_CLAUDE: 'mode=hang'}}, stuck_after: 1h}}\n" for t in types
    )


@pytest.fixture
def hanging(tmp_path: Path) -> Iterator[tuple[Service, Clock]]:
    """A service whose recovery and improvement swarms hang until killed."""
    svc, clock = make_service(tmp_path, hang("bugfix", "coverage", "monitor", "improvement"))
    yield svc, clock
    for s in svc.runtime.store.swarms("running"):
        svc.runtime.kill_swarm(s.id, "test end")
    svc.runtime.close()


def ended(svc: Service, swarm_id: str) -> bool:
    row = svc.runtime.store.swarm(swarm_id)
    return row is not None and row.state != "running"


def running(svc: Service) -> list[tuple[str, str]]:
    return sorted((s.type, s.priority) for s in svc.runtime.store.swarms("running"))


def test_j2_refills_after_completion_and_recovers_after_deaths(tmp_path: Path) -> None:
    """J2 tells death from completion (R2): work swarms refill the minimum; when
    every swarm died, the recovery trio starts. Never more than the minimum."""
    kinds = ("bugfix", "coverage", "monitor", "improvement", "review")
    types = "".join(
        f"    {t}: {{env: {{FAKE_CLAUDE: 'mode=hang'}}, stuck_after: 1h, retries: 0}}\n"
        for t in kinds
    )
    svc, _ = make_service(tmp_path, types)
    try:
        fire(svc, "SwarmsBelowMinimum", "warning", fp="a1", component="swarms")
        work = [("coverage", "MEDIUM"), ("improvement", "MEDIUM"), ("review", "MEDIUM")]
        assert running(svc) == work
        assert decisions(svc, "J2")[0]["decision"] == "refill"
        svc.jobs.run_now("J2")
        assert len(running(svc)) == 3, "topped up, not doubled"
        # Every agent is SIGKILLed from outside: the swarms die (no retries left).
        for a in svc.runtime.live_agents():
            assert a.pid is not None
            os.killpg(a.pid, signal.SIGKILL)
        wait_for(lambda: svc.runtime.poll() is not None and not running(svc), 20)
        svc.jobs.run_now("J2")
        assert decisions(svc, "J2")[0]["decision"] == "recovery"
        assert running(svc) == [("bugfix", "HIGH"), ("coverage", "HIGH"), ("monitor", "HIGH")]
        contexts = [s.context for s in svc.runtime.store.swarms("running")]
        assert all("Every swarm died" in c and "killed" in c for c in contexts)
    finally:
        for s in svc.runtime.store.swarms("running"):
            svc.runtime.kill_swarm(s.id, "test end")
        svc.runtime.close()


def state(svc: Service) -> dict[str, Any]:
    svc.step()
    assert svc.state_file is not None
    return dict(json.loads(svc.state_file.read_text()))


def test_j1_decides_by_the_level_and_sleeps_by_the_decision(
    hanging: tuple[Service, Clock],
) -> None:
    """The seed's wake cycle: all good -> the heartbeat; improvement possible -> a
    MEDIUM swarm and 5 minutes; issues -> a swarm for the unattended alert and 2
    minutes; crisis -> a CRITICAL swarm and the mode's crisis wake. The next wake is
    the state file's `nextScheduledEvent`; between wakes J1 only looks."""
    svc, clock = hanging
    t0 = clock.now
    svc.jobs.run_now("J1")
    j1 = decisions(svc, "J1")[0]
    assert j1["decision"] == "all good"
    assert str(j1["reasons"][0]).startswith("all good: 0 swarms run, 0 agents stuck")  # type: ignore[index]
    snapshot = j1["snapshot"]
    assert isinstance(snapshot, dict) and snapshot["mode"] == "ACTIVE"
    assert snapshot["build_success"] is None, "no Prometheus here: the snapshot says so"
    st = state(svc)
    assert st["nextScheduledEvent"] == f"HEALTH_CHECK at {int((t0 + 60) * 1000)}"
    assert st["lastFullCheck"] == int(t0 * 1000)
    # A heartbeat before the wake only looks; at the wake it decides again.
    clock.now += 30
    svc.wake_cycle.run({}, None)
    assert len(decisions(svc, "J1")) == 1
    clock.now += 31
    svc.wake_cycle.run({"type_errors": 3.0, "errors_per_minute": 0.0}, None)
    j1 = decisions(svc, "J1")[0]
    assert j1["decision"] == "improvement" and j1["reasons"] == ["3 type errors"]
    assert running(svc) == [("improvement", "MEDIUM")]
    assert j1["next_wake"] == clock.now + 300
    assert (
        state(svc)["nextScheduledEvent"] == f"IMPROVEMENT_CHECK at {int((clock.now + 300) * 1000)}"
    )
    svc.wake_cycle.run({"type_errors": 3.0}, None, force=True)
    assert running(svc) == [("improvement", "MEDIUM")], "one improvement swarm of J1's at a time"
    # Issues: SlowResponse's swarm ended, the alert still fires: J1 starts another.
    fire(svc, "SlowResponse", "warning", fp="c1", component="probes")
    monitor = next(s for s in svc.runtime.store.swarms("running") if s.type == "monitor")
    svc.runtime.kill_swarm(monitor.id, "test: it ended")
    svc.reassess()
    svc.wake_cycle.run({}, None)  # the level changed: decided at once, no wake awaited
    j1 = decisions(svc, "J1")[0]
    assert j1["decision"] == "issues" and j1["next_wake"] == clock.now + 120
    assert j1["reasons"] == ["issues: SlowResponse firing"]
    assert ("monitor", "HIGH") in running(svc)
    assert any(
        s.trigger.startswith("alert:SlowResponse:wake:")
        for s in svc.runtime.store.swarms("running")
    )
    # Crisis: a CRITICAL swarm, and J1 wakes at ACTIVE's crisis wake (10 s).
    svc.policies = {}  # the alert alone starts nothing: J1 must
    fire(svc, "BuildFailing", "critical", fp="b1")
    svc.reassess()
    svc.wake_cycle.run({}, None)
    j1 = decisions(svc, "J1")[0]
    assert j1["decision"] == "crisis" and j1["next_wake"] == clock.now + 10
    assert ("bugfix", "CRITICAL") in running(svc)
    clock.now += 10
    svc.wake_cycle.run({}, None)
    assert [t for t, p in running(svc) if p == "CRITICAL"] == ["bugfix"], "one at a time"


@pytest.mark.parametrize(
    ("when", "wake_s"), [("2026-11-26T12:00:00+00:00", 10.0), ("2026-11-26T23:30:00+00:00", 30.0)]
)
def test_a_crisis_wakes_at_the_crisis_wake_of_the_mode_it_broke_into(
    when: str, wake_s: float
) -> None:
    config = load_config(REPO / "warden.yml", check_programs=False)
    now = dt.datetime.fromisoformat(when).timestamp()
    sit = Situation(
        "CRISIS",
        3,
        scheduled_period(dt.datetime.fromtimestamp(now, dt.UTC), config.schedule, config.budget),
        1,
        None,
    )
    snapshot = {"firing": ["BuildFailing"], "budget_tier": "none"}
    decided = wake.decide(config, sit, snapshot, False, now)
    assert (decided.kind, decided.sleep) == (wake.Kind.CRISIS, wake_s)


def test_maintenance_windows_are_scheduled_and_a_crisis_in_one_wakes_at_its_wake(
    tmp_path: Path,
) -> None:
    """Issue 29, item 4. Was: windows could only be opened by hand (`warden maintenance
    start`), and MAINTENANCE's crisis wake (1 min) was never read: a crisis counted as
    breaking into the day or the night, whatever the window."""
    cfg = responder_config(tmp_path, hang("bugfix"))
    with cfg.open("a") as f:
        f.write("schedule: {maintenance: [{cron: '0 3 * * 0', duration: 2h}]}\n")
    clock = Clock("2026-11-29T03:30:00+00:00")  # a Sunday
    svc = Service(load_config(cfg), clock=clock)
    try:
        svc.reassess()
        start = dt.datetime(2026, 11, 29, 3, tzinfo=dt.UTC).timestamp()
        assert svc.situation.mode == "MAINTENANCE"
        assert svc.situation.period.key == f"maintenance:scheduled-{int(start)}"
        assert svc.situation.maintenance_until == start + 7200
        fire(svc, "BuildFailing", "critical", fp="m1")
        svc.reassess()
        svc.jobs.run_now("J1")
        assert svc.situation.mode == "CRISIS"
        assert decisions(svc, "J1")[0]["next_wake"] == clock.now + 60, "MAINTENANCE's wake"
        fire(svc, "BuildFailing", "critical", "resolved", fp="m1")
        clock.set("2026-11-29T05:00:01+00:00")
        svc.reassess()
        assert svc.situation.mode == "NIGHT", "the window is over"
    finally:
        for s in svc.runtime.store.swarms("running"):
            svc.runtime.kill_swarm(s.id, "test end")
        svc.runtime.close()
    bad = write_config(
        tmp_path / "bad.yml", "schedule: {maintenance: [{cron: 'at three', duration: 2h}]}\n"
    )
    out = run_cli("check-config", "-c", str(bad))
    assert out.returncode != 0 and "schedule.maintenance[0].cron" in out.stderr + out.stdout


def test_memory_high_reaps_orphans_halves_the_swarms_and_then_tells_a_person(
    tmp_path: Path,
) -> None:
    """Issue 29, item 4 (W2). Was: MemoryHigh fired and nothing acted, though its
    runbook said Warden kills orphaned agents and runs fewer swarms."""
    cfg = responder_config(tmp_path, hang("improvement"))
    cfg.write_text(
        cfg.read_text().replace("ACTIVE: {max_swarms: 10000}", "ACTIVE: {max_swarms: 4}")
    )
    clock = Clock("2026-11-26T12:00:00+00:00")
    svc = Service(load_config(cfg), clock=clock)
    rt = svc.runtime
    try:
        low = [rt.start_swarm("improvement", Priority.LOW, "job", "") for _ in range(2)]
        high = [rt.start_swarm("improvement", Priority.HIGH, "job", "") for _ in range(2)]
        stray = marked_stray(rt.instance)
        fire(svc, "MemoryHigh", "warning", fp="mem1", component="memory")
        svc.reassess()
        svc.step()
        rt.wait_kills()
        assert sorted(s.id for s in rt.store.swarms("running")) == sorted(s.id for s in high)
        assert {rt.store.swarm(s.id).state for s in low} == {"killed"}  # type: ignore[union-attr]
        with pytest.raises(SpawnRefused, match="half its cap while MemoryHigh fires"):
            rt.start_swarm("improvement", Priority.HIGH, "job", "")
        svc.jobs.run_now("J1-progress")
        assert stray.wait(10) == -9, "the orphan is reaped"
        assert "1 orphaned agent process(es) reaped" in str(decisions(svc, "J1")[0]["actions"])
        for _ in range(21):  # 10.5 minutes of looks
            clock.now += 30
            fire(svc, "MemoryHigh", "warning", fp="mem1", component="memory")
            svc.jobs.run_now("J1-progress")
        told = [a for d in decisions(svc, "J1") for a in d["actions"] if "person" in a]  # type: ignore[attr-defined]
        assert told == ["could not tell a person (alert_unresolved)"], "once, no Alertmanager"
        fire(svc, "MemoryHigh", "warning", "resolved", fp="mem1", component="memory")
        svc.reassess()
        assert rt.start_swarm("improvement", Priority.HIGH, "job", ""), "the whole cap again"
    finally:
        for s in rt.store.swarms("running"):
            rt.kill_swarm(s.id, "test end")
        rt.close()


def test_a_maintenance_window_runs_the_scheduled_tasks_once(hanging: tuple[Service, Clock]) -> None:
    svc, clock = hanging
    svc.runtime.store.start_maintenance(clock.now, clock.now + 3600)
    svc.reassess()
    svc.jobs.run_now("J1")
    j1 = decisions(svc, "J1")[0]
    assert j1["decision"] == "maintenance"
    assert (svc.config.state_dir / "context.md").exists()
    assert any("started cleanup" in a for a in j1["actions"])  # type: ignore[attr-defined]
    svc.jobs.run_now("J1")
    assert decisions(svc, "J1")[0]["decision"] == "all good", "once per window"


def test_the_fleets_own_alerts_are_not_the_projects_issues(
    hanging: tuple[Service, Clock],
) -> None:
    """Issue 29, item 2: SwarmsBelowMinimum (Warden's own refusals at night or at a
    spent budget cause it), AgentDied and SwarmFailed are the fleet's: J2, the retries
    and the breaker answer them. The progress watch neither grows swarms for them nor
    calls a person (58 such calls a simulated week, with nothing else wrong)."""
    svc, clock = hanging
    fire(svc, "SwarmsBelowMinimum", "warning", fp="m1", component="swarms")
    fire(svc, "AgentDied", "critical", fp="d1", component="agents")
    svc.reassess()
    for _ in range(30):  # 15 minutes of checks
        clock.now += 30
        svc.jobs.run_now("J1-progress")
    assert not decisions(svc, "J1")
    assert svc.wake_cycle.watching is None


def test_a_swarm_at_work_is_not_escalated_over(hanging: tuple[Service, Clock]) -> None:
    """N1: the ladder moves when the swarms on a problem end and it still fires, never
    on the clock while one works (the runtime kills stuck and overdue ones)."""
    svc, clock = hanging
    fire(svc, "CoverageDecreased", "warning", fp="e1", component="coverage")
    svc.reassess()
    assert running(svc) == [("coverage", "HIGH")]
    svc.jobs.run_now("J1-progress")
    assert state(svc)["nextScheduledEvent"] == f"PROGRESS_CHECK at {int((clock.now + 30) * 1000)}"
    for _ in range(40):  # 20 minutes of looks
        clock.now += 30
        svc.jobs.run_now("J1-progress")
    assert not decisions(svc, "J1") and running(svc) == [("coverage", "HIGH")]
    fire(svc, "CoverageDecreased", "warning", status="resolved", fp="e1", component="coverage")
    svc.reassess()
    svc.jobs.run_now("J1-progress")
    assert svc.wake_cycle.watching is None


def ladder_of(svc: Service, name: str) -> list[tuple[int, str]]:
    """(size, state) of each swarm started for the alert `name`, in order."""
    swarms = svc.runtime.store.swarms()
    return [
        (s.size, s.state)
        for s in sorted(swarms, key=lambda s: s.created_at)
        if s.trigger.startswith(f"alert:{name}:")
    ]


def told(svc: Service) -> list[str]:
    """What J1 told a person (no Alertmanager here: it could not, and says which)."""
    return [
        a
        for d in svc.runtime.store.decisions(100_000)
        if d["kind"] == "J1"
        for a in d.get("actions") or []
        if "could not tell a person" in a
    ]


def test_a_problem_climbs_its_ladder_once_whatever_its_swarms_say(tmp_path: Path) -> None:
    """Issue 29, item 2 (N1). Was: a build broken for 10 hours bought 31 bigger swarms
    and 18 calls: a swarm's claim of success (the build still broken) or any alert
    resolving reset the ladder, and J1 started a CRITICAL swarm every 5 minutes of a
    crisis. Now: the usual swarm, one bigger, one call with what was tried and what it
    cost, then nothing more for that episode, until a person asks for another try
    (`warden retry`) or the problem resolves and fires again (a new ladder)."""
    svc, clock = make_service(tmp_path)  # every swarm says it succeeded, at once

    def all_ended() -> None:
        wait_for(lambda: svc.runtime.poll() is not None and not running(svc), 20)

    try:
        fire(svc, "BuildFailing", "critical", fp="b1")
        svc.reassess()
        all_ended()
        assert ladder_of(svc, "BuildFailing") == [(1, "succeeded")]
        for _ in range(3):  # within the grace the fix may yet resolve it
            clock.now += 30
            svc.jobs.run_now("J1-progress")
        assert len(ladder_of(svc, "BuildFailing")) == 1
        clock.now += 60
        svc.jobs.run_now("J1-progress")
        assert [size for size, _ in ladder_of(svc, "BuildFailing")] == [1, 2], "one bigger"
        all_ended()
        clock.now += 150
        svc.jobs.run_now("J1-progress")
        assert told(svc) == ["could not tell a person (no_progress)"]
        call = svc.runtime.store.decisions(100)[0]
        assert describe(call).startswith("ladder (J1): could not tell")
        for _ in range(120):  # 10 hours, Alertmanager repeating the alert
            clock.now += 300
            fire(svc, "BuildFailing", "critical", fp="b1")
            svc.jobs.run_now("J1")
            svc.jobs.run_now("J1-progress")
            svc.step()
        assert len(ladder_of(svc, "BuildFailing")) == 2, "nothing more spent on it"
        assert len(told(svc)) == 1, "told once: no second call when the crisis lasts"
        # A person's action: the ladder starts again, and may call them again.
        cfg = str(svc.config.file)
        nope = run_cli("retry", "TestsFailing", "-c", cfg)
        assert nope.returncode == 1 and "TestsFailing is not firing" in nope.stderr
        again = run_cli("retry", "BuildFailing", "-c", cfg)
        assert again.returncode == 0, again.stderr
        assert describe(svc.runtime.store.decisions(1)[0]).endswith("try BuildFailing again")
        svc.runtime.store.retry_problem("BuildFailing", clock.now)  # on the test's clock
        svc.jobs.run_now("J1-progress")
        assert len(ladder_of(svc, "BuildFailing")) == 3, "the usual swarm (the size learnt)"
        for _ in range(10):
            all_ended()
            clock.now += 150
            svc.jobs.run_now("J1-progress")
        assert [size for size, _ in ladder_of(svc, "BuildFailing")][3:] == [3], "one bigger"
        assert len(told(svc)) == 2, "called again, once, for what was tried since"
        # It resolves, and breaks again: a new episode, a new ladder.
        fire(svc, "BuildFailing", "critical", status="resolved", fp="b1")
        fire(svc, "BuildFailing", "critical", fp="b2")
        svc.reassess()
        assert len(ladder_of(svc, "BuildFailing")) == 5
    finally:
        svc.runtime.close()


def test_a_warning_that_swarms_cannot_clear_is_recorded_not_paged(tmp_path: Path) -> None:
    """N1: a person is called for what breaks the project; a warning's ladder ends in
    the decision log (and the review), and nothing more is spent on it."""
    svc, clock = make_service(
        tmp_path, "    coverage: {retries: 0, env: {FAKE_CLAUDE: 'mode=fail'}}\n"
    )
    try:
        fire(svc, "CoverageDecreased", "warning", fp="c1", component="coverage")
        svc.reassess()
        for _ in range(20):
            wait_for(lambda: svc.runtime.poll() is not None and not running(svc), 20)
            clock.now += 150
            fire(svc, "CoverageDecreased", "warning", fp="c1", component="coverage")
            svc.jobs.run_now("J1-progress")
        assert ladder_of(svc, "CoverageDecreased") == [(1, "failed"), (2, "failed")]
        gave_up = [d for d in decisions(svc, "J1") if "gave up" in str(d["actions"])]
        assert len(gave_up) == 1 and not told(svc)
        assert "2 swarm(s), $" in str(gave_up[0]["actions"])
    finally:
        svc.runtime.close()


def test_j8_improves_only_when_healthy(hanging: tuple[Service, Clock]) -> None:
    svc, _ = hanging
    fire(svc, "SlowResponse", "warning", fp="c1", component="probes")
    svc.reassess()
    svc.jobs.run_now("J8")
    assert ("improvement", "MEDIUM") not in running(svc)
    fire(svc, "SlowResponse", "warning", status="resolved", fp="c1", component="probes")
    svc.reassess()
    svc.jobs.run_now("J8")
    assert ("improvement", "MEDIUM") in running(svc)


def test_j9_scheduler_and_heartbeat_follow_the_mode(tmp_path: Path) -> None:
    svc, clock = make_service(tmp_path, when="2026-11-26T22:59:59+00:00")
    svc.jobs.start(svc.situation.mode)
    try:
        jobs = {j.id: j for j in svc.jobs.scheduler.get_jobs()}
        assert set(jobs) == {
            "J1",
            "J1-progress",
            "J2",
            "J5",
            "J6",
            "J7",
            "J8",
            "J9-night",
            "J9-day",
            "J10",
            "reconcile",
        }
        assert jobs["J1"].trigger.interval.total_seconds() == 60
        night = jobs["J9-night"].trigger.get_next_fire_time(
            None, dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
        )
        assert night == dt.datetime(2026, 11, 26, 23, 0, tzinfo=dt.UTC)
        assert str(jobs["J10"].trigger) == "cron[hour='22', minute='0']"
        clock.set("2026-11-26T23:00:01+00:00")
        svc.jobs.run_now("J9")
        assert svc.situation.mode == "NIGHT"
        assert svc.jobs.scheduler.get_job("J1").trigger.interval.total_seconds() == 180
        fire(svc, "BuildFailing", "critical", fp="d1")
        svc.reassess()
        assert svc.jobs.scheduler.get_job("J1").trigger.interval.total_seconds() == 10
    finally:
        svc.jobs.stop()
        svc.runtime.close()


def test_reports_and_the_compressed_context(tmp_path: Path) -> None:
    svc, clock = make_service(tmp_path)
    try:
        fire(svc, "CoverageDecreased", "warning", fp="e1", component="coverage")
        wait_for(
            lambda: svc.runtime.poll() is not None and not svc.runtime.store.swarms("running"), 20
        )
        clock.now += 60
        svc.jobs.run_now("J6")
        svc.jobs.run_now("J10")
        svc.jobs.run_now("J7")
        folder = tmp_path / "state" / "reports"
        progress = next(folder.glob("progress-*.md")).read_text()
        assert "Swarms started: 1; ended: 1 (1 succeeded" in progress
        assert "alert: alert=CoverageDecreased" in progress
        daily = next(folder.glob("daily-*.md")).read_text()
        assert "| Swarm completion rate (P1: succeeded of succeeded and failed) | 100% |" in daily
        assert "| coverage | 1 | 1 | 100% |" in daily
        assert "CoverageDecreased 1" in daily
        assert "## Charts\n\nNot drawn: Prometheus did not answer" in daily
        # I1: every second J6 run rolls the hour up; I3: J10 reviews the week on Sundays.
        assert not list(folder.glob("hourly-*.md"))
        svc.jobs.run_now("J6")
        hourly = next(folder.glob("hourly-*.md")).read_text()
        assert hourly.startswith("# Hourly roll-up") and "| Spend | $" in hourly
        assert "Charts" not in hourly, "the hourly roll-up does not ask Prometheus"
        assert not list(folder.glob("weekly-*.md")), "2026-11-26 is a Thursday"
        clock.set("2026-11-29T22:00:00+00:00")  # a Sunday
        svc.jobs.run_now("J10")
        weekly = next(folder.glob("weekly-*.md")).read_text()
        assert weekly.startswith("# Weekly review 2026-11-22 22:00 to 2026-11-29 22:00")
        assert (
            "| Swarm completion rate (P1: succeeded of succeeded and failed) | 100% | - | - |"
            in weekly
        )
        context = (tmp_path / "state" / "context.md").read_text()
        assert "Swarm results today: coverage 1/1." in context
        # The next swarm is handed that summary with its alert.
        fire(svc, "SlowResponse", "warning", fp="f1", component="probes")
        swarm = svc.runtime.store.swarms("running")[0]
        assert "Swarm results today: coverage 1/1." in Path(swarm.context_file).read_text()
    finally:
        svc.runtime.close()


def test_a_silent_watchdog_makes_the_responder_look_for_itself(
    tmp_path: Path, exporter_factory: type[ExporterProcess]
) -> None:
    cfg = build_project(tmp_path, "import sys\nprint('boom')\nsys.exit(1)\n")
    exporter = exporter_factory(cfg)
    (tmp_path / "r").mkdir()
    svc, _ = make_service(
        tmp_path / "r",
        f"""\
    bugfix: {{env: {{FAKE_CLAUDE: 'mode=hang'}}, stuck_after: 1h}}
exporter: {{listen: "127.0.0.1:{exporter.port}"}}
secrets_dir: {load_config(cfg, check_programs=False).secrets_dir}
""",
    )
    try:
        wait_for(
            lambda: (
                json.loads(exporter.get("/api/v1/checks")[1]).get("build", {}).get("last_failure")
            ),
            20,
        )
        assert not svc.watchdog.silent()
        svc.watchdog.seen -= 91  # no Watchdog for 91 s (monotonic)
        assert svc.watchdog.silent()
        svc.jobs.run_now("J1")
        svc.reassess()
        assert svc.situation.mode == "CRISIS"
        assert running(svc) == [("bugfix", "CRITICAL")]
        j1 = decisions(svc, "J1")[0]
        assert j1["decision"] == "all good"
        assert j1["reasons"] == [
            "all good: 0 swarms run, 0 agents stuck, 0% of the budget spent",
            "the Watchdog is silent: the exporter is asked directly",
        ]
        svc.jobs.run_now("J1")
        assert running(svc) == [("bugfix", "CRITICAL")], "the same failure is one episode"
    finally:
        for s in svc.runtime.store.swarms("running"):
            svc.runtime.kill_swarm(s.id)
        svc.runtime.close()


SPAWNS = {
    "BuildFailing": [("bugfix", "CRITICAL")],
    "TestsFailing": [("tests", "CRITICAL")],
    "ErrorLogSpike": [("bugfix", "CRITICAL")],
    # A5: a recovery first (here openclaw_restart fails, so its swarm follows at
    # once; disk_cleanup succeeds, so its swarm waits on the settle).
    "OpenClawDisconnected": [("bugfix", "CRITICAL")],
    "SlowResponse": [("monitor", "HIGH")],
    "CoverageDecreased": [("coverage", "HIGH")],
    "CommitsAwaitingReview": [("review", "MEDIUM")],
}
RECOVERS = {"OpenClawDisconnected": "openclaw_restart", "DiskSpaceLow": "disk_cleanup"}
SAFE_RECOVERIES = """\
  recoveries:
    openclaw_restart: {command: ["false"]}
    disk_cleanup: {command: ["true"]}
"""


@pytest.mark.parametrize("name", sorted({a.name for a in ALERTS} | {"HumanNeeded"}))
def test_every_default_policy(tmp_path: Path, name: str) -> None:
    cfg = responder_config(
        tmp_path,
        hang("tests", "cleanup", "bugfix", "coverage", "monitor", "improvement"),
        SAFE_RECOVERIES,
    )
    svc = Service(load_config(cfg), clock=Clock("2026-11-26T12:00:00+00:00"))
    try:
        before = svc.runtime.start_swarm("improvement", Priority.LOW, "job", "")
        spec = next((a for a in ALERTS if a.name == name), None)
        severity = spec.severity if spec else "warning"
        fire(svc, name, severity, fp="aa", component=spec.component if spec else "responder")
        svc.step()  # the runtime stops what the new situation does not admit

        # A recovery's command runs until it exits: false escalates, true waits.
        def settled() -> bool:
            svc.step()
            return all(r.state != "running" for r in svc.runtime.store.recoveries())

        wait_for(settled, 10)
        started = sorted(
            (s.type, s.priority) for s in svc.runtime.store.swarms() if s.id != before.id
        )
        expected = sorted(SPAWNS.get(name, []))
        if name == "SwarmsBelowMinimum":
            # J2 refills to 3 with work swarms (none died), counting the LOW one running.
            expected = [("coverage", "MEDIUM"), ("improvement", "MEDIUM")]
        assert started == expected
        assert [r.name for r in svc.runtime.store.recoveries()] == (
            [RECOVERS[name]] if name in RECOVERS else []
        )
        low = svc.runtime.store.swarm(before.id)
        assert low is not None
        # R4: while the build or the tests are broken only CRITICAL work runs: less
        # urgent work stops at once. Another crisis keeps what runs (third wave, M4).
        assert (low.state == "killed") == (name in BUILD_BROKEN_ALERTS), low.reason
        assert any(
            d["kind"] == "alert" and d["alert"] == name for d in svc.runtime.store.decisions()
        )
    finally:
        for s in svc.runtime.store.swarms("running"):
            svc.runtime.kill_swarm(s.id)
        svc.runtime.close()


def test_refusals_are_counted_in_one_row_per_window(tmp_path: Path) -> None:
    """Issue 29, item 6: with the budget spent, J2's refill is refused at every look;
    the decision log keeps one row per path, reason and type in each 10 minutes, with
    its count, where it kept a row per refusal (thousands a simulated week)."""
    svc, clock = make_service(tmp_path, "budget:\n  caps: {ACTIVE: 0.01}\n")
    try:
        for _ in range(6):  # at 0, 2, 4, 6, 8 minutes, and 10: a new window
            svc.jobs.run_now("J2")
            clock.now += 120
        refused = [d for d in svc.runtime.store.decisions() if d["kind"] == "refused"]
        counted = sum(svc.runtime.refusals.values())
        assert counted >= 6 and sum(d["count"] for d in refused) == counted, refused
        windows = Counter((d["path"], d["reason"], d.get("type")) for d in refused)
        assert set(windows.values()) == {2}, windows  # each key: its first window, then one
        assert all(d["path"] == "J2" and d["reason"] == "budget_cap" for d in refused)
        assert svc.runtime.store.refusal_counts() == {"budget_cap": counted}
        assert len(refused) < counted, "counted, not written one by one"
    finally:
        svc.runtime.close()


def test_a_storm_of_resends_is_told_from_memory(tmp_path: Path) -> None:
    """Issue 30, item 1: a re-send of an episode acted on read the store three times
    (its episode's name, its last sight, its claim) to find it had nothing to do:
    most of a storm, where Alertmanager re-sends each firing alert of a group. Now
    the owner holds the episodes acted on; a re-send reads nothing, and one whose
    last sight is older than a minute still moves it (what expiry goes by)."""
    svc, clock = make_service(tmp_path, hang("coverage"))
    try:
        fire(svc, "CoverageDecreased", "warning", fp="c1", component="coverage")
        assert running(svc) == [("coverage", "HIGH")]
        svc.step()
        with statements_run(svc.runtime.store) as statements:
            for _ in range(100):
                fire(svc, "CoverageDecreased", "warning", fp="c1", component="coverage")
        assert len(statements) <= 1, statements  # the held episodes, read once
        assert svc.counts.duplicates == 100
        clock.now += 61  # a minute on: the re-send moves its last sight
        before = svc.runtime.store.open_episodes_seen()[0][3]
        fire(svc, "CoverageDecreased", "warning", fp="c1", component="coverage")
        assert svc.runtime.store.open_episodes_seen()[0][3] == before + 61
        assert svc.counts.duplicates == 101 and running(svc) == [("coverage", "HIGH")]
    finally:
        for s in svc.runtime.store.swarms("running"):
            svc.runtime.kill_swarm(s.id, "test end")
        svc.runtime.close()
