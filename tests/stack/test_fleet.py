"""A fleet on loopback, every part a real process (issue 14's proof).

One PostgreSQL server; `warden up` on "host A" with a Prometheus pair, two
gossiping Alertmanagers, exporter A and responder r0; exporter B standing
for a second host with its responder r1; a second responder of host A, r2.
Alertmanager sends every alert to all three responders. During a storm of
project-wide and host-bound alerts, one responder, one Alertmanager and one
Prometheus are SIGKILLed (the responder restarted as its supervisor would).
Afterwards every episode was acted on exactly once, host-bound work only on
its host, every agent ended under its own responder, and the spend stayed
within the crisis cap plus one swarm's cap.
"""

from __future__ import annotations

import json
import os
import re
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy import Row, func, select

from responder.state import schema
from responder.state.store import Store
from tests.conftest import ExporterProcess, ResponderProcess, free_port, wait_for
from tests.pgserver import PostgresServer
from tests.stack.test_up import (
    CLUSTER_FORMS_SECONDS,
    StackClock,
    _cluster_formed,
    ha_keys,
    stack_config,
    status,
    warden_up,
)
from warden.auth import fetch

CAP, SWARM_CAP = 0.6, 0.05
_E = schema.episodes.c
_STORM_EPISODES = select(_E.fingerprint, _E.alertname, _E.acted, _E.claimed_by, _E.host).where(
    _E.alertname.in_(("FleetStorm", "HostStorm"))
)
STORM = 24  # project-wide alerts
HOST_STORM = 4  # host-bound alerts per host
MONITOR = "{type: monitor, priority: CRITICAL}"


def _worker_process(cfg: Path) -> int:
    """The pid of the responder `warden up` runs with `cfg` (not its receiver)."""
    for p in psutil.process_iter(["cmdline"]):
        args = p.info["cmdline"] or []
        if "responder" in args and str(cfg) in args and "responder.service.receiver" not in args:
            return int(p.pid)
    raise AssertionError(f"no responder runs {cfg}")


def _kill_listening_on(port: int) -> None:
    """SIGKILL the process whose command line names this listen address."""
    needle = f"127.0.0.1:{port}"
    for p in psutil.process_iter(["cmdline"]):
        if any(a.endswith(needle) and "listen-address" in a for a in p.info["cmdline"] or []):
            p.kill()
            return
    raise AssertionError(f"nothing listens on {port}")


def _post(ports: Any, alerts: list[dict[str, Any]]) -> None:
    fetch(
        f"http://127.0.0.1:{ports['alertmanager']}/api/v2/alerts",
        ports.auth("alertmanager"),
        10,
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
    )


def _alert(name: str, i: int, instance: str) -> dict[str, Any]:
    return {
        "labels": {
            "alertname": name,
            "severity": "critical",
            "component": "fleet",
            "n": str(i),
            "instance": instance,
        },
        "annotations": {"summary": f"{name} {i}"},
    }


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_fleet_acts_once_through_kills(
    tmp_path: Path, demo_repo: Path, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres.database()
    p_exp_b, p_r1, p_r2 = (free_port() for _ in range(3))
    p_prom_b, p_am_b, ha = ha_keys(p_exp_b, p_r1, p_r2)
    cfg, ports = stack_config(
        tmp_path,
        demo_repo,
        probes=False,
        extra=(
            *ha,
            ("  other_exporters: []", f"  other_exporters: [127.0.0.1:{p_exp_b}]"),
            ("  other_responders: []", f"  other_responders: [127.0.0.1:{p_r1}, 127.0.0.1:{p_r2}]"),
            ("  id: null", "  id: r0"),
            ("  database: null", f"  database: {url}"),
            (
                "  database_password_file: null",
                f"  database_password_file: {postgres.password_file}",
            ),
            ("  claim_lease: 30s", "  claim_lease: 5s"),
            (
                "  recoveries:\n",
                "  policies:\n"
                f"    FleetStorm: {{spawn: [{MONITOR}], max_running: 1000}}\n"
                f"    HostStorm: {{spawn: [{MONITOR}], max_running: 1000, host_bound: true}}\n"
                "  recoveries:\n",
            ),
            (
                "    coverage: {size: 1}",
                "    coverage: {size: 1}\n"
                f"    monitor: {{size: 1, retries: 0, budget_usd: {SWARM_CAP},"
                f" env: {{FAKE_CLAUDE: 'turns=2,delay=0.5,cost={SWARM_CAP}'}}}}",
            ),
            ("    CRISIS: 200", f"    CRISIS: {CAP}"),
        ),
    )
    text = cfg.read_text()
    exporter_a = f"127.0.0.1:{ports['exporter']}"
    exporter_b = f"127.0.0.1:{p_exp_b}"

    def host_config(rid: str, exporter: str) -> Path:
        out = text.replace("  id: r0", f"  id: {rid}")
        out = out.replace(f"state_dir: {tmp_path / 'state'}", f"state_dir: {tmp_path / rid}")
        out = out.replace("secrets_dir: null", f"secrets_dir: {tmp_path / 'state' / 'secrets'}")
        out = out.replace(exporter_a, exporter)
        path = tmp_path / f"{rid}.yml"
        path.write_text(out)
        return path

    started: list[Any] = []
    clock = StackClock.at_noon(tmp_path)
    for key, value in clock.env.items():  # the other hosts' parts on the stack's clock
        monkeypatch.setenv(key, value)
    with warden_up(cfg, clock, tmp_path / "up.log"):
        try:
            wait_for(lambda: status(ports), 60)
            started.append(ExporterProcess(host_config("r1", exporter_b), p_exp_b))
            r1 = ResponderProcess(host_config("r1", exporter_b), p_r1)
            r2_cfg = host_config("r2", exporter_a)
            r2 = ResponderProcess(r2_cfg, p_r2)
            started += [r1, r2]
            wait_for(lambda: _cluster_formed(ports, "alertmanager"), CLUSTER_FORMS_SECONDS)
            half = STORM // 2
            first = [_alert("FleetStorm", i, exporter_a) for i in range(half)]
            first += [_alert("HostStorm", i, exporter_a) for i in range(HOST_STORM // 2)]
            first += [_alert("HostStorm", 100 + i, exporter_b) for i in range(HOST_STORM // 2)]
            # r2 dies mid-storm, holding claims of its own: bodies and episodes. The
            # fleet's workers claim the bodies they work, so the others' are stopped
            # until r2 holds some (their receivers store the bodies meanwhile).
            others = [_worker_process(cfg), r1.proc.pid]
            for pid in others:
                os.kill(pid, signal.SIGSTOP)
            try:
                _post(ports, first)
                store = Store(url, read_only=True, password=postgres.password)
                started.append(store)
                wait_for(lambda: any(r.claimed_by == "r2" for r in _episodes(store)), 60, 0.1)
                r2.kill()
            finally:
                for pid in others:
                    os.kill(pid, signal.SIGCONT)
            _kill_listening_on(p_am_b)
            _kill_listening_on(p_prom_b)
            second = [_alert("FleetStorm", i, exporter_a) for i in range(half, STORM)]
            second += [
                _alert("HostStorm", i, exporter_a) for i in range(HOST_STORM // 2, HOST_STORM)
            ]
            second += [
                _alert("HostStorm", 100 + i, exporter_b) for i in range(HOST_STORM // 2, HOST_STORM)
            ]
            _post(ports, second)
            # Its supervisor restarts it once the rest of the fleet has the whole storm.
            total = STORM + 2 * HOST_STORM
            wait_for(lambda: len(_episodes(store)) == total, 60, 0.2)
            started.append(ResponderProcess(r2_cfg, p_r2))
            try:
                wait_for(lambda: _acted(store) == total, 90, 0.5)
            except AssertionError as exc:
                raise AssertionError(f"{exc}; {_by_state(store)}") from None
            wait_for(lambda: not store.live_agent_ids(), 120, 0.5, why=store.live_agent_ids)
            _check(store, exporter_a, exporter_b)
        finally:
            for part in started:
                if isinstance(part, Store):
                    part.close()
                else:
                    part.stop()


def _episodes(store: Store) -> list[Row[Any]]:
    """The storm's episodes, read from the table itself."""
    with store.engine.connect() as conn:
        return list(conn.execute(_STORM_EPISODES))


def _acted(store: Store) -> int:
    return sum(1 for r in _episodes(store) if r.acted)


def _by_state(store: Store) -> str:
    """What a failure shows: the episodes counted by (alert, acted, claimer, host)."""
    return str(Counter((r.alertname, r.acted, r.claimed_by, r.host) for r in _episodes(store)))


def _spend_by_period(store: Store) -> dict[str, tuple[int, float]]:
    """What a failure shows: the runs charged and their spend, by budget period (one
    crisis is one period: more than one means responders admitted against several)."""
    ledger = schema.ledger.c
    query = select(ledger.period, func.count(), func.sum(ledger.amount_usd)).group_by(ledger.period)
    with store.engine.connect() as conn:
        return {str(r[0]): (int(r[1]), float(r[2])) for r in conn.execute(query)}


def _check(store: Store, exporter_a: str, exporter_b: str) -> None:
    rows = _episodes(store)
    decisions = [d for d in store.decisions(5000) if d["kind"] == "alert"]
    per_episode = Counter(str(d["fingerprint"]) for d in decisions)
    twice = [d for d in decisions if per_episode[str(d["fingerprint"])] > 1]
    assert all(per_episode[r.fingerprint] == 1 for r in rows), twice
    assert store.duplicate_triggers() == []
    allowed = {exporter_a: {"r0", "r2"}, exporter_b: {"r1"}}
    for r in rows:
        if r.alertname == "HostStorm":
            assert r.claimed_by in allowed[r.host], (r.fingerprint, r.host, r.claimed_by)
    hosts = {r.fingerprint: r.claimed_by for r in rows}
    # A responder killed after starting an episode's swarm and before recording the
    # episode acted on leaves the episode to the one that takes it over, which finds
    # the swarm started: the swarm is its starter's (the taker's decision names it).
    started_by = {
        str(d["fingerprint"]): m.group(1)
        for d in decisions
        if "already started" in str(d["outcome"])
        and (m := re.search(r"taken over from ([^;\s]+)", str(d["outcome"])))
    }
    for swarm in store.swarms():
        fp = swarm.trigger.split(":")[2]
        if fp in hosts:
            starter = started_by.get(fp, hosts[fp])
            assert swarm.owner.partition("/")[0] == starter, (swarm.id, swarm.owner)
    assert all(a.state not in ("spawning", "running", "stuck", "waiting") for a in store.agents())
    spent = sum(store.spend_by_type().values())
    assert spent <= CAP + SWARM_CAP + 1e-9, (spent, _spend_by_period(store))
