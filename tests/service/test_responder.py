"""The responder as a real process: webhooks in, one action per firing episode, swarms out."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.alerting import TOKEN
from tests.conftest import (
    ResponderProcess,
    enterable,
    fake_swarm_keys,
    sample,
    wait_for,
    write_config,
)
from tests.docs_table import documented_metrics, served_metrics
from tests.service.test_exporter import promtool


def responder_config(tmp_path: Path, extra: str = "", responder_extra: str = "") -> Path:
    (tmp_path / "token").write_text(TOKEN + "\n")
    return write_config(
        tmp_path / "warden.yml",
        f"""\
state_dir: {tmp_path / "state"}
responder:
  token_file: {tmp_path / "token"}
  max_body_bytes: 65536
  poll_interval: 50ms
  prometheus_url: http://127.0.0.1:1   # none: reports say their charts were not drawn
{responder_extra}
  policies:
    StormAlert:
      spawn: [{{type: tests, priority: LOW}}]
      max_running: 10000
modes:
  ACTIVE: {{max_swarms: 10000}}
  NIGHT: {{max_swarms: 10000, priorities: [CRITICAL, HIGH, MEDIUM, LOW]}}
swarms:
{fake_swarm_keys()}  budget_usd: 0.01
  kill_grace: 500ms
  env: {{FAKE_CLAUDE: 'turns=1,delay=0.01,cost=0.001'}}
  types:
    review: {{env: {{FAKE_CLAUDE: 'mode=hang'}}, stuck_after: 1h}}
{extra}""",
    )


def alert(
    name: str,
    status: str = "firing",
    fp: str = "a1",
    starts: str = "2026-11-26T20:00:00Z",
    **labels: str,
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, **labels},
        "annotations": {"summary": f"{name} happened", "description": "details"},
        "startsAt": starts,
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": fp,
        "generatorURL": "",
    }


def body(*alerts: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "version": "4",
            "groupKey": "{}",
            "status": "firing",
            "receiver": "r",
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "",
            "truncatedAlerts": 0,
            "alerts": list(alerts),
        }
    ).encode()


def post(
    url: str, data: bytes, token: str | None = TOKEN, path: str = "/api/v1/alerts"
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url + path, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status), json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def db(tmp_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "state" / "warden.db")


def swarms(tmp_path: Path) -> list[tuple[str, str, str, str]]:
    with db(tmp_path) as conn:
        return list(
            conn.execute("SELECT type, priority, state, trigger FROM swarms ORDER BY created_at")
        )


def recoveries(tmp_path: Path) -> list[tuple[str, str]]:
    with db(tmp_path) as conn:
        return list(conn.execute("SELECT name, outcome FROM recoveries ORDER BY id"))


def test_webhook_is_authenticated_limited_and_validated(
    tmp_path: Path, responder_factory: type[ResponderProcess]
) -> None:
    resp = responder_factory(responder_config(tmp_path))
    ok = body(alert("BuildFailing"))
    assert post(resp.url, ok, token=None)[0] == 401
    assert post(resp.url, ok, token=TOKEN[::-1])[0] == 401
    assert post(resp.url, b"x" * 70000)[0] == 413
    cases = [
        (b"not json", "body is not JSON"),
        (b"[]", "body must be a JSON object"),
        (json.dumps({"version": "3", "alerts": []}).encode(), 'version must be "4"'),
        (body({**alert("X"), "status": "pending"}), "alerts[0].status must be firing or resolved"),
        (body({**alert("X"), "labels": {}}), "alerts[0].labels.alertname is missing"),
        (body({**alert("X"), "fingerprint": "; rm -rf /"}), "alerts[0].fingerprint"),
        (body({**alert("X"), "startsAt": "yesterday"}), "alerts[0].startsAt"),
    ]
    for data, reason in cases:
        status, answer = post(resp.url, data)
        assert status == 400 and reason in answer["error"], (data, answer)
    with db(tmp_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM inbox").fetchone()[0] == 0, "a 4xx stores nothing"
    text = resp.get("/metrics")[1]
    check = subprocess.run(
        [promtool(), "check", "metrics"], input=text, text=True, capture_output=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert served_metrics(text) == documented_metrics("Responder")
    assert sample(text, "warden_responder_webhooks_rejected_total", {"reason": "unauthorized"}) == 2
    assert sample(text, "warden_responder_webhooks_rejected_total", {"reason": "bad_body"}) == 7
    assert sample(text, "warden_responder_webhooks_rejected_total", {"reason": "too_large"}) == 1


def test_one_action_per_firing_episode(
    tmp_path: Path, responder_factory: type[ResponderProcess]
) -> None:
    resp = responder_factory(responder_config(tmp_path))
    first = body(alert("CoverageDecreased", fp="c1"))
    for _ in range(3):  # Alertmanager re-sends the group
        assert post(resp.url, first) == (200, {"accepted": 1})
    # One body mixing a new firing alert and a resolved one, with group status
    # "firing": each is handled on its own.
    mixed = body(
        alert("CoverageDecreased", status="resolved", fp="c1"), alert("SlowResponse", fp="5a1")
    )
    assert post(resp.url, mixed)[0] == 200
    # A resolved alert that never fired here starts nothing.
    assert post(resp.url, body(alert("ErrorLogSpike", status="resolved", fp="e1")))[0] == 200
    wait_for(
        lambda: len(swarms(tmp_path)) == 2 and all(s[2] != "running" for s in swarms(tmp_path)), 20
    )
    assert [(t, p) for t, p, _, _ in swarms(tmp_path)] == [
        ("coverage", "HIGH"),
        ("monitor", "HIGH"),
    ]
    # The same alert firing again is a new episode (a new startsAt): a new action.
    post(resp.url, body(alert("CoverageDecreased", fp="c1", starts="2026-11-26T21:00:00Z")))
    wait_for(lambda: len(swarms(tmp_path)) == 3, 20)
    text = resp.get("/metrics")[1]
    # Each repeat is either a copy of the body still waiting (not stored) or, once that
    # was worked off, a duplicate of its episode; the resolution that never fired is one.
    repeats = sample(text, "warden_responder_alerts_deduplicated_total") or 0
    assert repeats + (sample(text, "warden_responder_webhook_copies_total") or 0) == 3
    assert (
        sample(text, "warden_responder_alert_episodes_total", {"alertname": "CoverageDecreased"})
        == 2
    )
    assert (
        sample(text, "warden_responder_actions_total", {"action": "spawn", "outcome": "done"}) == 3
    )


def test_a_break_refused_while_the_last_fix_worked_gets_its_swarm_when_that_ends(
    tmp_path: Path, responder_factory: type[ResponderProcess]
) -> None:
    """The crisis bench's 10 s tail (issue 30, item 2): the build broke again while the
    last break's bugfix swarm still worked. BuildFailing's max_running (1) refused the
    new episode, and J1 started its swarm at its next beat, up to 10 s later in a crisis.
    Now the end of a swarm in a crisis brings J1 forward."""
    working = "    bugfix: {env: {FAKE_CLAUDE: 'turns=30,delay=0.1'}}\n"
    resp = responder_factory(responder_config(tmp_path, working))
    later = "2026-11-26T21:00:00Z"
    crisis = {"severity": "critical", "component": "build"}
    assert post(resp.url, body(alert("BuildFailing", fp="b1", **crisis)))[0] == 200
    wait_for(lambda: [s[:3] for s in swarms(tmp_path)] == [("bugfix", "CRITICAL", "running")])
    with db(tmp_path) as conn:
        [(created,)] = conn.execute("SELECT created_at FROM swarms")
    # Mended and broken again 1.5 s into the fix's 3 s of work: a new episode whose
    # problem began after that swarm (J1's ladder counts swarms from then on).
    wait_for(lambda: time.time() > created + 1.5, 10, 0.05)
    fixed_and_broken = body(
        alert("BuildFailing", status="resolved", fp="b1", **crisis),
        alert("BuildFailing", fp="b1", starts=later, **crisis),
    )
    assert post(resp.url, fixed_and_broken)[0] == 200

    def decided(kind: str) -> list[tuple[float, str]]:
        with db(tmp_path) as conn:
            rows = conn.execute(
                "SELECT at, detail FROM decisions WHERE kind = ? ORDER BY id", (kind,)
            )
            return list(rows)

    refused = wait_for(lambda: [d for d in decided("alert") if "max_running" in d[1]])
    assert later in refused[0][1]
    with db(tmp_path) as conn:
        [(ended,)] = wait_for(
            lambda: list(conn.execute("SELECT ended_at FROM swarms WHERE ended_at IS NOT NULL"))
        )
    spawns = wait_for(lambda: decided("spawn")[1:], 20, 0.1, lambda: decided("J1"))
    assert spawns[0][0] - ended < 2.0, f"the second bugfix {spawns[0][0] - ended:.1f} s after"
    assert [s[:2] for s in swarms(tmp_path)] == [("bugfix", "CRITICAL")] * 2


def test_a_prometheus_pairs_startsat_skew_is_one_episode(
    tmp_path: Path, responder_factory: type[ResponderProcess]
) -> None:
    """Two Prometheus replicas evaluate the same rule a moment apart: their alerts
    carry the same labels (the replica label is dropped) and startsAt values a
    second or so apart. Alertmanager merges them keeping the earliest startsAt, so
    the webhooks of one firing switch startsAt midway. Was: two episodes, two
    bugfix swarms for one broken build."""
    resp = responder_factory(responder_config(tmp_path))
    later, earlier = "2026-11-26T20:00:01.250000000Z", "2026-11-26T20:00:00.130000000Z"
    for starts in (later, earlier, earlier):  # replica B's alert reached Alertmanager first
        post(resp.url, body(alert("CoverageDecreased", fp="c9", starts=starts)))
    wait_for(lambda: len(swarms(tmp_path)) == 1 and swarms(tmp_path)[0][2] != "running", 20)
    # Its resolution (with the merged startsAt) ends the one episode...
    post(resp.url, body(alert("CoverageDecreased", status="resolved", fp="c9", starts=earlier)))
    # ...and the next firing, minutes later, is a new one.
    post(resp.url, body(alert("CoverageDecreased", fp="c9", starts="2026-11-26T20:10:00Z")))
    wait_for(lambda: len(swarms(tmp_path)) == 2, 20)
    # Every body handled (4 firing, 1 resolved; the second `earlier` may have come
    # while the first still waited: a copy, not stored), and still the two.
    received, copies = (
        "warden_responder_alerts_received_total",
        "warden_responder_webhook_copies_total",
    )
    text = resp.wait_until(
        lambda t: (
            (sample(t, received, {"status": "firing"}) or 0) + (sample(t, copies) or 0) == 4
            and sample(t, received, {"status": "resolved"}) == 1
        )
    )
    assert len(swarms(tmp_path)) == 2
    episodes = {"alertname": "CoverageDecreased"}
    assert sample(text, "warden_responder_alert_episodes_total", episodes) == 2


def test_default_policies_and_r4_on_every_path(
    tmp_path: Path, responder_factory: type[ResponderProcess]
) -> None:
    hangs = "    bugfix: {env: {FAKE_CLAUDE: 'mode=hang'}, stuck_after: 1h}\n"
    resp = responder_factory(responder_config(tmp_path, hangs))
    try:
        _r4_on_every_path(tmp_path, resp)
    finally:
        # Agents outlive their responder by design: end them with the test.
        resp.stop()
        for (pid,) in db(tmp_path).execute("SELECT pid FROM agents WHERE state = 'running'"):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def _r4_on_every_path(tmp_path: Path, resp: ResponderProcess) -> None:
    post(resp.url, body(alert("CommitsAwaitingReview", fp="7e1")))
    wait_for(lambda: [s[2] for s in swarms(tmp_path)] == ["running"], 20)
    # R4: the build breaks: non-critical work is killed, a CRITICAL bugfix swarm starts.
    post(resp.url, body(alert("BuildFailing", fp="b1", severity="critical")))
    wait_for(lambda: len(swarms(tmp_path)) == 2 and swarms(tmp_path)[0][2] == "killed", 20)
    review, bugfix = swarms(tmp_path)
    assert review[:3] == ("review", "MEDIUM", "killed")
    assert bugfix[:2] == ("bugfix", "CRITICAL")
    # R4 on every path: J2 (run by SwarmsBelowMinimum) wants two more swarms and
    # is refused while the build is broken, and the refusals are counted.
    post(resp.url, body(alert("SwarmsBelowMinimum", fp="3b1")))

    def refused() -> float | None:
        text = resp.get("/metrics")[1]
        labels = {"path": "J2", "reason": "build_broken"}
        return sample(text, "warden_admission_refusals_total", labels)

    wait_for(lambda: refused() == 2, 20)
    assert len(swarms(tmp_path)) == 2
    # Policies only record what the runtime handles itself.
    post(resp.url, body(alert("AgentDied", fp="d1")))
    wait_for(
        lambda: any(
            d["kind"] == "alert" and d["alert"] == "AgentDied"
            for d in json.loads(resp.get("/api/v1/status")[1])["decisions"]
        ),
        20,
    )
    assert len(swarms(tmp_path)) == 2


def disk_low(starts: str, description: str) -> dict[str, Any]:
    """DiskSpaceLow as Prometheus would post it to Alertmanager."""
    labels = {
        "alertname": "DiskSpaceLow",
        "severity": "critical",
        "component": "disk",
        "notify": "human",
        "path": "/",
    }
    return {
        "labels": labels,
        "annotations": {"summary": "disk", "description": description},
        "startsAt": starts,
    }


def test_sigkill_in_a_storm_loses_and_doubles_nothing(
    tmp_path: Path, responder_factory: type[ResponderProcess]
) -> None:
    cfg = responder_config(tmp_path)
    resp = responder_factory(cfg)
    accepted: list[bytes] = []
    stop = threading.Event()

    def storm() -> None:
        i = 0
        while not stop.is_set():
            data = body(*(alert("StormAlert", fp=f"{(i * 5 + k) % 60:x}") for k in range(5)))
            try:
                if post(resp.url, data)[0] == 200:
                    accepted.append(data)
            except OSError:
                return  # the responder is gone
            i += 1

    thread = threading.Thread(target=storm)
    thread.start()
    wait_for(lambda: len(accepted) >= 40, 30)
    resp.kill()
    stop.set()
    thread.join()

    again = responder_factory(cfg)
    episodes = {a["fingerprint"] for d in accepted for a in json.loads(d)["alerts"]}

    def pending() -> int:
        with db(tmp_path) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM inbox WHERE done = 0").fetchone()[0])

    wait_for(lambda: pending() == 0, 60)  # every acknowledged body is handled
    with db(tmp_path) as conn:
        triggers = [t for (t,) in conn.execute("SELECT trigger FROM swarms")]
    fingerprints = [t.split(":")[2] for t in triggers]
    assert sorted(fingerprints) == sorted(episodes), "every acknowledged episode acted on once"
    assert again.proc.poll() is None


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "version",
                        "alerts",
                        "status",
                        "labels",
                        "fingerprint",
                        "startsAt",
                        "annotations",
                        "alertname",
                        "x",
                    ]
                ),
                children,
                max_size=5,
            )
        ),
        max_leaves=20,
    )
)
def test_fuzzed_bodies_never_get_a_5xx(fuzz_responder: ResponderProcess, value: Any) -> None:
    data = json.dumps(value).encode()
    status, _ = post(fuzz_responder.url, data)
    assert status in (200, 400, 413)


# Alert-shaped bodies whose fields are the hard cases: any Unicode (lone surrogates
# included, as JSON escapes allow), times in every shape, fingerprints of any text.
awkward = st.text(st.characters() | st.characters(categories=["Cs"]), max_size=30)
shaped = st.builds(
    lambda name, starts, fp, labels: {
        "version": "4",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": name, **labels},
                "annotations": {"summary": name},
                "startsAt": starts,
                "fingerprint": fp,
            }
        ],
    },
    awkward,
    st.one_of(
        awkward,
        st.datetimes().map(lambda d: d.isoformat()),
        st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat().replace("+00:00", "Z")),
    ),
    st.one_of(st.text("0123456789abcdef", min_size=1, max_size=16), awkward),
    st.dictionaries(awkward, awkward, max_size=3),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(
        shaped.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=200),  # bad encodings, not JSON at all
        st.integers(1, 20_000).map(
            lambda n: b'{"version": "4", "alerts": ' + b"[" * n + b"]" * n + b"}"
        ),
    ),
    st.one_of(st.none(), st.binary(max_size=40).filter(lambda b: not set(b) & set(b"\r\n"))),
)
def test_fuzzed_requests_never_get_a_5xx(
    fuzz_responder: ResponderProcess, data: bytes, auth: bytes | None
) -> None:
    """Malformed requests of every kind get a 4xx: odd text, times that are not
    RFC 3339, bytes that are not UTF-8, deep nesting, Authorization headers of any
    bytes (None: the right token)."""
    conn = http.client.HTTPConnection("127.0.0.1", fuzz_responder.port, timeout=10)
    conn.putrequest("POST", "/api/v1/alerts")
    right = f"Bearer {TOKEN}".encode()
    conn.putheader("Authorization", right if auth is None else auth)
    conn.putheader("Content-Length", str(len(data)))
    conn.endheaders(data)
    status = conn.getresponse().status
    conn.close()
    if auth is not None and auth != right:
        assert status in (400, 401)  # 400: aiohttp's parser refuses control bytes itself
    else:
        assert status in (200, 400, 413)


@pytest.fixture(scope="module")
def fuzz_responder(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = enterable(tmp_path_factory.mktemp("fuzz"))  # agents run in it, as nobody
    resp = ResponderProcess(responder_config(tmp))
    yield resp
    assert resp.proc.poll() is None
    resp.stop()


def test_a_storm_of_resends_takes_fewer_steps_than_bodies(
    tmp_path: Path, responder_factory: type[ResponderProcess]
) -> None:
    """Issue 30, item 1: every webhook body woke a worker step of its own, whose fixed
    part (the situation, the agents, the view, the state file) cost more than the
    body, so in a storm of re-sends the worker held the interpreter half the time for
    one body a step and the webhook's threads waited on it. Now a step woken sooner
    than four times its own cost waits (at most 20 ms more), and takes the bodies
    that came meanwhile. Over one kept-alive connection, as Alertmanager sends; each
    body's bytes differ (its group key), since a copy of a waiting body is not stored."""
    resp = responder_factory(responder_config(tmp_path))
    alerts = [alert("StormAlert", fp=f"{k:x}") for k in range(5)]
    data = body(*alerts)
    assert post(resp.url, data)[0] == 200  # the five episodes, acted on once
    # Their agents end: a live agent has the worker look every poll_interval besides.
    wait_for(lambda: [s[2] != "running" for s in swarms(tmp_path)] == [True] * 5, 60)
    steps, dups = "warden_responder_steps_total", "warden_responder_alerts_deduplicated_total"
    text = resp.metrics()
    before, seen = sample(text, steps) or 0.0, sample(text, dups) or 0.0
    conn = http.client.HTTPConnection("127.0.0.1", resp.port, timeout=10)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    for i in range(300):
        resent = json.dumps({**json.loads(body(*alerts)), "groupKey": str(i)}).encode()
        conn.request("POST", "/api/v1/alerts", body=resent, headers=headers)
        reply = conn.getresponse()
        reply.read()
        assert reply.status == 200
    conn.close()
    text = resp.wait_until(lambda t: (sample(t, dups) or 0.0) - seen == 1500, 60)
    taken = (sample(text, steps) or 0.0) - before
    assert taken < 150, f"{taken:.0f} steps for 300 bodies"
    assert len(swarms(tmp_path)) == 5, "re-sends start nothing"
