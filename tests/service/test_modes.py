"""Modes (M1-M4), escalation (E), maintenance windows and the state file (S), with a set clock."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from responder.intake.webhook import Alert
from responder.model import Priority
from responder.service.metrics import ResponderMetrics
from responder.service.worker import QUIET_POLL_SECONDS, QUIET_SECONDS, Service
from tests.conftest import run_cli, wait_for
from tests.service.test_responder import responder_config


class Clock:
    """A clock the test sets: Unix seconds."""

    def __init__(self, text: str) -> None:
        self.now = dt.datetime.fromisoformat(text).timestamp()

    def __call__(self) -> float:
        return self.now

    def set(self, text: str) -> None:
        self.now = dt.datetime.fromisoformat(text).timestamp()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[Service, Clock]]:
    cfg = responder_config(
        tmp_path,
        """\
modes:
  NIGHT: {max_swarms: 3, priorities: [CRITICAL, HIGH]}
""",
    )
    from warden.config import load_config

    clock = Clock("2026-11-26T22:59:50+00:00")
    svc = Service(load_config(cfg), clock=clock)
    yield svc, clock
    for s in svc.runtime.store.swarms("running"):
        svc.runtime.kill_swarm(s.id, "test end")
    svc.runtime.close()


def fire(
    svc: Service,
    name: str,
    severity: str,
    status: str = "firing",
    fp: str = "f1",
    component: str = "build",
) -> None:
    svc.alerts.handle(
        Alert(
            fp,
            status,
            {"alertname": name, "severity": severity, "component": component},
            {},
            "2026-11-26T22:00:00Z",
        )
    )


def decisions(svc: Service, kind: str) -> list[dict[str, object]]:
    return [d for d in svc.runtime.store.decisions(200) if d["kind"] == kind]


def test_night_at_23_and_day_at_07(service: tuple[Service, Clock]) -> None:
    svc, clock = service
    svc.step()
    assert svc.situation.mode == "ACTIVE"
    improvement = svc.runtime.start_swarm("improvement", Priority.MEDIUM, "job", "")
    issue = svc.runtime.start_swarm("monitor", Priority.HIGH, "job", "")
    clock.set("2026-11-26T23:00:10+00:00")
    svc.step()
    assert svc.situation.mode == "NIGHT"
    assert svc.situation.period.key == "night:2026-11-26"
    assert svc.situation.period.cap_usd == 25.0
    states = {s.id: s.state for s in svc.runtime.store.swarms()}
    assert states[improvement.id] == "killed", "the night allows CRITICAL and HIGH only"
    assert states[issue.id] != "killed"
    assert decisions(svc, "mode")[0]["to"] == "NIGHT"
    # At night a MEDIUM swarm is not started; the refusal is counted by reason.
    fire(svc, "CommitsAwaitingReview", "warning", fp="c0", component="review")
    assert svc.runtime.refusals[("alert", "mode_priority")] == 1
    clock.set("2026-11-27T07:00:01+00:00")
    svc.step()
    assert (svc.situation.mode, svc.situation.period.key) == ("ACTIVE", "day:2026-11-27")


def test_crisis_lasts_while_a_critical_alert_fires(service: tuple[Service, Clock]) -> None:
    svc, clock = service
    clock.set("2026-11-26T12:00:00+00:00")
    svc.step()
    assert (svc.situation.mode, svc.situation.escalation) == ("ACTIVE", 1)
    fire(svc, "SlowResponse", "warning", fp="a1", component="probes")
    svc.step()
    assert (svc.situation.mode, svc.situation.escalation) == ("ACTIVE", 2)
    fire(svc, "BudgetNearlyExhausted", "critical", fp="b1", component="budget")
    svc.step()
    assert (svc.situation.mode, svc.situation.escalation) == ("ACTIVE", 3), (
        "a budget tier escalates but is not a crisis"
    )
    # Nor are the fleet's own troubles (third wave, M4): they wake it, not a crisis.
    fire(svc, "AgentDied", "critical", fp="d1", component="agents")
    fire(svc, "SwarmFailed", "critical", fp="f1", component="swarms")
    svc.step()
    assert (svc.situation.mode, svc.situation.escalation) == ("ACTIVE", 3)
    assert svc.runtime.store.crisis_durations() == [] and svc.situation.crisis_id is None
    fire(svc, "BuildFailing", "critical", fp="c1")
    svc.step()
    assert svc.situation.mode == "CRISIS"
    assert svc.situation.period.key == "crisis:1" and svc.situation.period.cap_usd == 200.0
    clock.now += 90
    fire(svc, "BuildFailing", "critical", status="resolved", fp="c1")
    svc.step()
    assert svc.situation.mode == "ACTIVE"
    registry = CollectorRegistry()
    registry.register(ResponderMetrics(svc))
    assert registry.get_sample_value("warden_crisis_duration_seconds_count") == 1
    assert registry.get_sample_value("warden_crisis_duration_seconds_sum") == 90
    assert registry.get_sample_value("warden_mode", {"mode": "ACTIVE"}) == 1
    assert registry.get_sample_value("warden_escalation_level") == 3


def test_maintenance_window(service: tuple[Service, Clock], tmp_path: Path) -> None:
    svc, clock = service
    clock.set("2026-11-26T12:00:00+00:00")
    svc.runtime.store.start_maintenance(clock.now, clock.now + 3600)
    svc.step()
    assert svc.situation.mode == "MAINTENANCE"
    assert (svc.situation.period.key, svc.situation.period.cap_usd) == ("maintenance:1", 50.0)
    clock.now += 3601
    svc.step()
    assert svc.situation.mode == "ACTIVE", "the window ended by itself"
    # A window past a week, or none at all, is refused by name (was: "99999999999h"
    # accepted, MAINTENANCE for good).
    for wrong, words in (("99999999999h", "from 1s to 7d"), ("0s", "from 1s to 7d"), ("2x", "2h")):
        res = run_cli("maintenance", "start", "--for", wrong, "-c", str(tmp_path / "warden.yml"))
        assert res.returncode == 2 and words in res.stderr, res.stderr
    assert svc.runtime.store.maintenance_at(clock.now) is None
    # From the command line (another process, the same state folder).
    res = run_cli("maintenance", "start", "--for", "2h", "-c", str(tmp_path / "warden.yml"))
    assert res.returncode == 0, res.stderr
    clock.set(dt.datetime.now(dt.UTC).isoformat())
    svc.step()
    assert svc.situation.mode == "MAINTENANCE"
    assert run_cli("maintenance", "stop", "-c", str(tmp_path / "warden.yml")).returncode == 0
    clock.set(dt.datetime.now(dt.UTC).isoformat())
    svc.step()
    assert svc.situation.mode != "MAINTENANCE"


def test_state_file_and_warden_status(service: tuple[Service, Clock], tmp_path: Path) -> None:
    svc, clock = service
    # The bugfix agent works on until the end: the file shows it running whatever the
    # machine's speed (the shared fake agent finishes in milliseconds, sometimes before
    # the step that writes the file).
    bugfix = svc.config.swarm_types["bugfix"]
    hang = {**bugfix.env, "FAKE_CLAUDE": "mode=hang"}
    svc.config.swarm_types["bugfix"] = dataclasses.replace(bugfix, env=hang)
    clock.set("2026-11-26T12:00:00+00:00")
    fire(svc, "BuildFailing", "critical", fp="c1")
    svc.step()
    state = json.loads((tmp_path / "state" / "state.json").read_text())
    seed_keys = {
        "version",
        "mode",
        "lastHeartbeat",
        "lastFullCheck",
        "status",
        "operationalState",
        "modeConfig",
        "escalationLevel",
        "lastCrisis",
        "recentDecisions",
        "pendingActions",
        "nightModeActive",
        "nextScheduledEvent",
    }
    assert seed_keys <= set(state)
    assert state["mode"] == "CRISIS" and state["escalationLevel"] == 3
    assert state["status"] == "CRISIS"
    assert state["operationalState"]["buildStatus"] == "FAILING"
    assert state["operationalState"]["activeSwarms"] == 1
    assert state["modeConfig"]["heartbeatMs"] == 10_000
    assert state["lastCrisis"]["endedAt"] is None
    assert any(d["kind"] == "alert" for d in state["recentDecisions"])
    cfg = str(tmp_path / "warden.yml")
    as_json = run_cli("status", "--json", "-c", cfg)
    assert json.loads(as_json.stdout) == state
    text = run_cli("status", "-c", cfg).stdout
    assert "mode CRISIS   level 3 CRISIS" in text and "firing BuildFailing" in text
    # Decisions are sentences, not the logged dicts (J1's holds a whole snapshot).
    assert "BuildFailing: started bugfix" in text
    assert "{" not in text and max(len(line) for line in text.splitlines()) <= 80
    # The mode by Warden's name, as the live view says it; the file keeps the seed's.
    clock.set("2026-11-27T12:00:00+00:00")
    fire(svc, "BuildFailing", "critical", status="resolved", fp="c1")
    svc.step()
    state = json.loads((tmp_path / "state" / "state.json").read_text())
    assert state["mode"] == "ACTIVE_DEVELOPMENT"
    text = run_cli("status", "-c", cfg).stdout
    assert "mode ACTIVE   level 1 HEALTHY" in text and "ACTIVE_DEVELOPMENT" not in text
    assert "mode CRISIS -> ACTIVE" in text
    # A state file something else broke: a clear refusal, no traceback (was one).
    state_file = tmp_path / "state" / "state.json"
    for broken in ("{not json", '{"mode": "CRISIS"}', "[1, 2]", "\udcff"):
        state_file.write_text(broken, errors="surrogateescape")
        res = run_cli("status", "-c", cfg)
        assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
        assert f"{state_file} is not a Warden state file" in res.stderr


def test_an_episode_no_longer_re_sent_expires(service: tuple[Service, Clock]) -> None:
    """Warden missed the resolution (it was down): the episode must not hold the
    crisis forever. Alertmanager re-sends a firing critical alert every 5 min."""
    svc, clock = service
    clock.set("2026-11-26T12:00:00+00:00")
    fire(svc, "BuildFailing", "critical", fp="c1")
    svc.step()
    assert svc.situation.mode == "CRISIS"
    clock.now += 11 * 60
    fire(svc, "BuildFailing", "critical", fp="c1")  # a re-send: still firing
    svc.step()
    clock.now += 11 * 60
    svc.step()
    assert svc.situation.mode == "CRISIS", "re-sent 11 minutes ago: still fresh"
    clock.now += 2 * 60
    svc.step()
    assert svc.situation.mode == "ACTIVE", "13 minutes without a re-send: resolved unseen"


def test_quiet_agents_are_looked_at_every_second_a_kill_brings_the_poll_back(
    tmp_path: Path,
) -> None:
    """Issue 30, item 3: a live agent that printed nothing for QUIET_SECONDS is looked
    at every QUIET_POLL_SECONDS, not every poll_interval (one hanging agent cost the
    idle responder 0.45 % of a core); a new agent or a kill brings poll_interval back."""
    from warden.config import load_config

    clock = Clock("2026-11-26T12:00:00+00:00")
    hang = "    coverage: {env: {FAKE_CLAUDE: 'mode=hang'}, stuck_after: 1h}\n"
    svc = Service(load_config(responder_config(tmp_path, hang)), clock=clock)
    every = svc.config.responder.poll_interval
    try:
        fire(svc, "CommitsAwaitingReview", "warning", fp="r1", component="git")  # hangs
        wait_for(lambda: heard(svc, 1), 30)  # its one line (init) read: quiet from here
        assert svc._idle_wait() == every  # it has just started
        clock.now += QUIET_SECONDS - 1
        svc.step()
        assert svc._idle_wait() == every
        clock.now += 2
        svc.step()
        assert svc._idle_wait() == QUIET_POLL_SECONDS
        fire(svc, "CoverageDecreased", "warning", fp="c1", component="coverage")
        wait_for(lambda: heard(svc, 2), 30)
        assert svc._idle_wait() == every  # the new one
        clock.now += QUIET_SECONDS + 1
        svc.step()
        assert svc._idle_wait() == QUIET_POLL_SECONDS
        for s in svc.runtime.store.swarms("running"):
            svc.runtime.kill_swarm(s.id, "test end")
        assert svc._idle_wait() == every  # the kills are watched at poll_interval
    finally:
        for s in svc.runtime.store.swarms("running"):
            svc.runtime.kill_swarm(s.id, "test end")
        svc.runtime.close()


def heard(svc: Service, n: int) -> bool:
    """After a step: `n` agents live, each of them heard from (its first line read)."""
    svc.step()
    live = svc.runtime.snapshot.live
    return len(live) == n and all(a.first_output_at is not None for a in live)
