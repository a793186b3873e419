"""What only a real Alertmanager (and Prometheus) in front of Warden shows: its
credentials, its routes to a person, its deliveries and repeats."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from responder.model import Priority
from responder.service.worker import Service
from tests.alerting import Stack
from tests.conftest import (
    ResponderProcess,
    free_port,
    http_get,
    sample,
    wait_for,
    write_config,
)
from tests.service.test_auth import FORGED, post
from tests.service.test_failures import _over
from tests.service.test_jobs import ended
from tests.service.test_modes import Clock, decisions, fire
from tests.service.test_recovery import _registry, recovery, service, step_until
from tests.service.test_responder import disk_low, recoveries, responder_config, swarms
from warden import auth, clustertls
from warden.auth import Credentials, fetch
from warden.config import load_config
from warden.shell.up import Up


def test_alertmanager_and_prometheus_refuse_whoever_has_no_credentials(
    one_stack: Stack,
) -> None:
    am = f"http://127.0.0.1:{one_stack.am_port}"
    prom = f"http://127.0.0.1:{one_stack.prom_port}"
    wrong = Credentials(auth.USER, "not-the-password-0123")
    # A forged BuildFailing: refused without credentials or with wrong ones.
    for creds in (None, wrong):
        assert post(am + "/api/v2/alerts", FORGED, creds) == 401
    assert one_stack.am_alerts() == [], "nothing reached Alertmanager"
    # Nor can every alert be silenced.
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    silence = {
        "matchers": [{"name": "alertname", "value": ".+", "isRegex": True}],
        "startsAt": now,
        "endsAt": "2099-01-01T00:00:00Z",
        "createdBy": "forger",
        "comment": "quiet",
    }
    assert post(am + "/api/v2/silences", silence, None) == 401
    # Prometheus: no query, no reading of the alerts, and no stopping it.
    query = "/api/v1/query?" + urllib.parse.urlencode({"query": "up"})
    assert http_get(prom + query)[0] == 401
    assert post(prom + "/-/quit", {}, None) == 401
    # With credentials the lifecycle API is still off (it is asked for by config).
    assert post(prom + "/-/quit", {}, one_stack.prom_auth) == 403
    assert http_get(prom + "/-/ready", auth=one_stack.prom_auth)[0] == 200
    # The stack's own credentials get through.
    assert post(am + "/api/v2/alerts", FORGED, one_stack.am_auth) == 200
    assert [a["labels"]["alertname"] for a in one_stack.am_alerts()] == ["BuildFailing"]


def test_a_person_is_told_once_and_the_api_resumes(
    tmp_path: Path,
    one_stack: Stack,
) -> None:
    """Through a real Alertmanager: one HumanNeeded with the class and the agent's words;
    `POST /api/v1/swarm-types/bugfix/resume` lifts the pause."""
    stack = one_stack
    cfg = responder_config(
        tmp_path,
        "    bugfix: {pause_after: 2, env: {FAKE_CLAUDE: 'mode=auth'}}\n",
        f"  alertmanager_url: http://127.0.0.1:{stack.am_port}",
    )
    svc = Service(load_config(cfg), clock=Clock("2026-11-26T12:00:00+00:00"))
    try:
        for _ in range(2):
            s = svc.runtime.start_swarm("bugfix", Priority.CRITICAL, "t", "")
            wait_for(lambda i=s.id: svc.runtime.poll() is not None and _over(svc, i), 20)
        svc.step()
        svc.step()
        alerts = wait_for(
            lambda: [a for a in stack.am_alerts() if a["labels"]["alertname"] == "HumanNeeded"], 20
        )
        assert len(alerts) == 1
        labels, notes = alerts[0]["labels"], alerts[0]["annotations"]
        assert (labels["reason"], labels["swarm_type"], labels["failure_class"]) == (
            "swarm_type_paused",
            "bugfix",
            "authentication",
        )
        assert "Not logged in · Please run /login" in notes["description"]
        assert "warden swarm resume bugfix" in notes["description"]
        assert [p.told_at is not None for p in svc.runtime.store.pauses()] == [True]
    finally:
        svc.runtime.close()


def test_j5_tells_a_person_through_alertmanager(
    tmp_path: Path,
    one_stack: Stack,
) -> None:
    stack = one_stack
    cfg = responder_config(
        tmp_path,
        """\
    tests: {budget_usd: 0.001, env: {FAKE_CLAUDE: 'turns=1,delay=0,cost=0.001'}}
budget:
  caps: {ACTIVE: 0.002}
""",
        f"  alertmanager_url: http://127.0.0.1:{stack.am_port}",
    )
    svc = Service(load_config(cfg), clock=Clock("2026-11-26T12:00:00+00:00"))
    try:
        for _ in range(2):  # two runs of $0.001: the $0.002 day is spent
            s = svc.runtime.start_swarm("tests", Priority.CRITICAL, "job", "")
            wait_for(lambda i=s.id: svc.runtime.poll() is not None and ended(svc, i), 20)
        svc.jobs.run_now("J5")
        assert decisions(svc, "J5")[0]["tier"] == "stop"
        alerts = wait_for(
            lambda: [a for a in stack.am_alerts() if a["labels"]["alertname"] == "HumanNeeded"], 20
        )
        assert alerts[0]["labels"]["reason"] == "budget_exhausted"
        assert {r["name"] for r in alerts[0]["receivers"]} == {"human", "responder-warning"}
        svc.jobs.run_now("J5")
        assert len(decisions(svc, "J5")) == 2
        assert svc.budget_watch.notified == {"day:2026-11-26"}, "told once per period"
    finally:
        svc.runtime.close()


def test_after_the_swarms_a_person_is_told_once(
    tmp_path: Path,
    one_stack: Stack,
) -> None:
    stack = one_stack
    svc = service(
        tmp_path,
        [sys.executable, "-c", "import sys; sys.exit('no gateway to restart')"],
        extra=f"  alertmanager_url: http://127.0.0.1:{stack.am_port}\n",
    )
    try:
        fire(svc, "OpenClawDisconnected", "critical", component="openclaw")
        row = step_until(svc, "escalated")
        assert row.outcome == "failed" and "no gateway to restart" in row.detail
        row = step_until(svc, "told")  # the bugfix swarm succeeded; the alert still fires
        alerts = wait_for(
            lambda: [a for a in stack.am_alerts() if a["labels"]["alertname"] == "HumanNeeded"], 20
        )
        assert [a["labels"]["reason"] for a in alerts] == ["alert_unresolved"]
        assert alerts[0]["labels"]["unresolved"] == "OpenClawDisconnected"
        assert "openclaw_restart" in alerts[0]["annotations"]["description"]
        svc.step()
        assert recovery(svc).state == "told"
        text = generate_latest(_registry(svc)).decode()
        assert 'warden_recoveries_total{outcome="failed",recovery="openclaw_restart"} 1.0' in text
        assert (
            'warden_recovery_escalations_total{recovery="openclaw_restart",to="person"} 1.0' in text
        )
    finally:
        svc.runtime.close()


def test_real_alertmanager_delivers_to_the_responder(
    tmp_path: Path, responder_factory: type[ResponderProcess]
) -> None:
    resp = responder_factory(responder_config(tmp_path))
    # Alertmanager delivers a firing alert again at the route's repeat_interval
    # (the shipped 5m for critical ones; 2s here), whatever changed in its annotations.
    stack = Stack(
        tmp_path / "stack",
        1,
        resp.port,
        secrets=tmp_path / "state" / "secrets",
        critical_repeat="2s",
        responder_port=resp.port,
    )
    stack.start()
    try:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        stack.post_alerts([disk_low(now, "19% free")])
        # DiskSpaceLow's default action: the disk_cleanup recovery (`warden cleanup`).
        wait_for(lambda: recoveries(tmp_path) == [("disk_cleanup", "succeeded")], 30)
        # The human route delivered it to the responder's log for a person too. The
        # stack scrapes this responder: without it, the rules' ResponderHeartbeatMissing
        # would reach the person as well, and its repeats count as duplicates below.
        wait_for(lambda: for_a_person(resp) == ["DiskSpaceLow"], 60)
        # Alertmanager sends the same alert again (its repeat): the responder counts it
        # a duplicate and does nothing again.
        dedup = "warden_responder_alerts_deduplicated_total"
        before = sample(resp.metrics(), dedup) or 0.0
        stack.post_alerts([disk_low(now, "18% free")])
        resp.wait_until(lambda text: (sample(text, dedup) or 0.0) > before, 60)
        assert recoveries(tmp_path) == [("disk_cleanup", "succeeded")]
        assert swarms(tmp_path) == [], "the cleanup swarm waits on the recovery's settle"
        assert for_a_person(resp) == ["DiskSpaceLow"], "told once"
        assert stack.query('up{job="warden-responder"} == 1'), "the heartbeat is scraped"
        assert "ResponderHeartbeatMissing" not in {
            a["labels"]["alertname"] for a in stack.am_alerts()
        }
    finally:
        stack.stop()


def for_a_person(resp: ResponderProcess) -> list[str]:
    """The alerts in the responder's log for a person, oldest first."""
    status = json.loads(resp.get("/api/v1/status")[1])
    return [entry["alert"] for entry in status["for_a_person"]]


@pytest.mark.timeout(180)
def test_a_rogue_alertmanager_cannot_join_the_cluster_nor_silence_it(tmp_path: Path) -> None:
    """F3: the two Alertmanagers `warden up` clusters gossip over mutual TLS. A rogue
    started by a local user (no certificate, or one of its own CA) on the gossip
    port is not let in, and a silence of every alert posted to its open API never
    becomes active on the cluster, while the members' own silences do spread."""
    ports = _gossiping_ports(4)
    web, rogue_ports = ports[:2], ports[2:]
    cfg = write_config(
        tmp_path / "warden.yml",
        f"project: {{dir: {tmp_path}}}\nstate_dir: {tmp_path / 'state'}\n"
        f"stack:\n  alertmanager_listen: 127.0.0.1:{web[0]}\n"
        f"  alertmanager_peer_listen: 127.0.0.1:{web[1]}\n",
    )
    up = Up(load_config(cfg), cfg)
    up.prepare()
    members = [s for s in up.supervisors if s.name.startswith("alertmanager")]
    assert all(any(a.startswith("--cluster.tls-config=") for a in s.argv) for s in members)
    am_auth = up.credentials["alertmanager"]
    (tmp_path / "rogue.yml").write_text("route: {receiver: r}\nreceivers: [{name: r}]\n")
    own_ca = clustertls.ensure(tmp_path / "rogue-certs")  # a certificate, of another CA
    rogues = []
    for i, tls in enumerate(([], [f"--cluster.tls-config={own_ca}"])):
        port = rogue_ports[i]
        argv = [
            shutil.which("prometheus-alertmanager") or "alertmanager",
            f"--config.file={tmp_path / 'rogue.yml'}",
            f"--storage.path={tmp_path / f'rogue{i}'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--cluster.listen-address=127.0.0.1:{port + 1}",
            f"--cluster.peer=127.0.0.1:{web[0] + 1}",
            *tls,
        ]
        rogues.append((port, subprocess.Popen(argv, stderr=subprocess.DEVNULL)))
    try:
        for s in members:
            s.start()

        def peers(port: int, credentials: Credentials | None) -> int:
            try:
                return len(_am_json(port, "/api/v2/status", credentials)["cluster"]["peers"])
            except OSError:
                return 0

        for port in web:
            wait_for(
                lambda p=port: peers(p, am_auth) == 2,
                60,
                why=lambda: (
                    f"peers seen: {[peers(p, am_auth) for p in web]}; logs: "
                    + " | ".join(
                        s.log_path.read_text()[-1500:]
                        for s in members
                        if s.log_path and s.log_path.exists()
                    )
                ),
            )
        for port, _ in rogues:
            wait_for(lambda p=port: peers(p, None) == 1, 30)
            assert post(f"http://127.0.0.1:{port}/api/v2/silences", _silence("rogue"), None) == 200
        # The members' own gossip works: a silence made on one reaches the other.
        assert (
            post(f"http://127.0.0.1:{web[0]}/api/v2/silences", _silence("warden"), am_auth) == 200
        )
        wait_for(
            lambda: (
                [s["createdBy"] for s in _am_json(web[1], "/api/v2/silences", am_auth)]
                == ["warden"]
            ),
            30,
        )
        for port in web:
            silences = _am_json(port, "/api/v2/silences", am_auth)
            assert [s["createdBy"] for s in silences] == ["warden"], port
            assert peers(port, am_auth) == 2, "nobody else joined"
        for port, _ in rogues:
            assert peers(port, None) == 1, "the rogue stayed alone"
    finally:
        for _, proc in rogues:
            proc.kill()
            proc.wait()
        for s in members:
            s.stop()


def _gossiping_ports(n: int) -> list[int]:
    """`n` free web ports whose gossip ports (the next ones) are free too, none of them
    the other's: the members' and the rogues' ports were drawn one at a time, and a
    rogue's web port could be a member's gossip port, free until the member binds it
    (the cluster then never formed: CI, once)."""
    ports: list[int] = []
    while len(ports) < n:
        port = free_port()
        if {port, port + 1} & {q + i for q in ports for i in (0, 1)}:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        ports.append(port)
    return ports


def _am_json(port: int, path: str, credentials: Credentials | None) -> Any:
    return json.loads(fetch(f"http://127.0.0.1:{port}{path}", credentials, 5))


def _silence(creator: str) -> dict[str, Any]:
    return {
        "matchers": [{"name": "alertname", "value": ".+", "isRegex": True}],
        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "endsAt": "2099-01-01T00:00:00Z",
        "createdBy": creator,
        "comment": "quiet",
    }
