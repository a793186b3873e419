"""PostgreSQL stopped and started again under a running responder.

A shared database is a server that can restart (an upgrade, a failover)
while responders run. Meanwhile nothing can be recorded, so a webhook is
refused with a 503 that names the database (Alertmanager sends it again) and
the worker does not beat; once the server is back the responder carries on
by itself, with no restart of its own, and acts on what it is sent again.
An agent that ended during the outage is recorded with what it reported.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.alerting import TOKEN
from tests.conftest import (
    ResponderProcess,
    fake_swarm_keys,
    http_get,
    sample,
    wait_for,
    write_config,
)
from tests.pgserver import PostgresServer
from tests.service.test_responder import alert, body, post


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A server of this test's own: the session's one must not go down."""
    server = PostgresServer.start()
    yield server
    server.stop()


def _heartbeat(resp: ResponderProcess) -> float:
    status, text = http_get(resp.url + "/healthz")
    assert status == 200
    return float(json.loads(text)["heartbeat"])


def _failed_steps(resp: ResponderProcess) -> float:
    """Worker steps that failed on the unreachable database (the metric needs no database)."""
    failed = "warden_responder_steps_failed_total"
    return sample(resp.metrics(), failed, {"reason": "database_unavailable"}) or 0.0


def test_a_responder_rides_out_a_postgresql_restart(
    tmp_path: Path, own_postgres: PostgresServer, responder_factory: type[ResponderProcess]
) -> None:
    pg = own_postgres
    (tmp_path / "token").write_text(TOKEN + "\n")
    cfg = write_config(
        tmp_path / "warden.yml",
        f"""\
state_dir: {tmp_path / "state"}
responder:
  token_file: {tmp_path / "token"}
  prometheus_url: http://127.0.0.1:1
  alertmanager_url: http://127.0.0.1:1
  database: {pg.database()}
  database_password_file: {pg.password_file}
swarms:
{fake_swarm_keys()}  types:
    bugfix: {{env: {{FAKE_CLAUDE: 'turns=4,delay=0.5,cost=0.37'}}}}
""",
    )
    resp = responder_factory(cfg)
    database = pg.made[-1]
    assert post(resp.url, body(alert("BuildFailing", fp="b1", severity="critical")))[0] == 200
    with pg.connect(database) as db:

        def running() -> bool:
            return bool(db.execute("SELECT 1 FROM agents WHERE state = 'running'").fetchall())

        wait_for(running, timeout=20)

    pg.halt()
    tests_failing = body(alert("TestsFailing", fp="c1", severity="critical"))
    status, answer = post(resp.url, tests_failing)
    assert status == 503, (status, answer)
    assert "postgresql://" in answer["error"] and pg.password not in answer["error"], answer
    # Steps are tried (each fails on the database) and none ends: no heartbeat.
    wait_for(lambda: _failed_steps(resp) >= 1, timeout=20)
    stalled, tried = _heartbeat(resp), _failed_steps(resp)
    wait_for(lambda: _failed_steps(resp) >= tried + 2, timeout=20)
    assert _heartbeat(resp) == stalled, "no step can end while the database is down"

    pg.launch()
    # Alertmanager's retry of the refused webhook.
    wait_for(lambda: post(resp.url, tests_failing)[0] == 200, timeout=20)
    wait_for(lambda: _heartbeat(resp) > stalled, timeout=20)
    with pg.connect(database) as db:

        def triggers() -> list[str]:
            return [str(r[0]) for r in db.execute("SELECT trigger FROM swarms ORDER BY trigger")]

        wait_for(lambda: len(triggers()) == 2, timeout=20)
        found = triggers()
        ended = db.execute(
            "SELECT a.state, l.amount_usd FROM agents a JOIN swarms s ON s.id = a.swarm_id "
            "JOIN ledger l ON l.agent_id = a.id WHERE s.type = 'bugfix'"
        ).fetchall()
    assert [t.split(":")[1] for t in found] == ["BuildFailing", "TestsFailing"], found
    assert ended and all(row == ("succeeded", 0.37) for row in ended), (
        "the agents that ended in the outage are recorded with what they reported",
        ended,
    )

    log = resp.log.read_text()
    assert log.count("Traceback") <= 2, "an outage is told once, not at every step"
    assert "database is reachable again" in log, log[-3000:]
