"""One store, two engines: the same behaviour on SQLite and on a real PostgreSQL server,
migrations that keep the rows of files made by earlier releases, and clear refusals."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

from responder.state.database import ALEMBIC_MARK, head
from responder.state.schema import ledger, metadata
from responder.state.store import AgentRow, LedgerEntry, Store, StoreError, SwarmRow, open_store
from tests.conftest import REPO, Database, run_cli, write_config
from tests.pgserver import PostgresServer
from warden.config import ConfigError, load_config

DATA = REPO / "tests" / "data"


def swarm(sid: str, state: str = "running", owner: str = "o") -> SwarmRow:
    return SwarmRow(
        sid,
        "bugfix",
        "HIGH",
        1,
        f"alert:{sid}",
        "ctx",
        "c.md",
        2.0,
        "day:x",
        state,
        "",
        1.0,
        None,
        owner,
    )


def agent(aid: str, sid: str, state: str = "running") -> AgentRow:
    return AgentRow(
        aid, sid, 0, 0, state, None, None, "l", 0, None, None, None, None, None, None, None, None,
        None, "o",
    )  # fmt: skip


def test_every_kind_of_row_round_trips(database: Database) -> None:
    store = database.store()
    store.add_swarm(swarm("s1"), [agent("s1-0-0", "s1")])
    assert store.budget_sums("day:x", []) == (0.0, 2.0, []) and store.running_by_type() == {
        "bugfix": 1
    }
    store.end_agent(
        "s1-0-0",
        LedgerEntry("s1-0-0", "s1", "bugfix", "day:x", 1.25, 0, 5.0),
        state="succeeded",
        ended_at=5.0,
    )
    # A ledger entry is written once, however often the end is recorded.
    store.end_agent("s1-0-0", LedgerEntry("s1-0-0", "s1", "bugfix", "day:x", 1.25, 0, 5.0))
    assert store.end_swarm("s1", "succeeded", "done", 6.0)
    assert not store.end_swarm("s1", "succeeded", "done", 6.0)
    assert store.spend("day:x") == 1.25 and store.spend_between(5.0, 6.0) == 1.25
    assert store.budget_sums("day:x", [(0.0, 5.0), (5.0, 9.0)]) == (1.25, 0.0, [0.0, 1.25])
    assert store.swarm_results() == [("bugfix", 1, 1, 1, 1.25)]
    assert store.finished((1.0, 10.0)) == [("bugfix", 1, "succeeded", 1, 5.0, [0, 1])]
    assert store.last_runs("bugfix", 3) == [("succeeded", None, None)]

    body_id = store.add_inbox(b'{"alerts": []}', 1.0, "r1")
    assert body_id is not None
    assert store.add_inbox(b"{}", 1.0, "r2") != body_id
    assert store.add_inbox(b'{"alerts": []}', 1.5, "r1") is None, "a copy of a waiting body"
    assert store.pending_inbox("r1", 5) == [(body_id, b'{"alerts": []}')]
    store.inbox_done([body_id])
    assert store.pending_inbox("r1") == []
    again = store.add_inbox(b'{"alerts": []}', 2.0, "r1")
    assert again is not None and again > body_id, "a copy of a body worked off is a re-send"
    store.inbox_done([again])

    labels = {"alertname": "BuildFailing", "severity": "critical"}
    assert store.open_episode("fp", "t0", labels, 1.0, alert='{"a": 1}', reserved_until=31.0)
    assert not store.open_episode("fp", "t0", labels, 2.0)
    assert store.unclaimed("r2", "", 30.0) == []  # reserved for its receiver
    assert store.unclaimed("r2", "", 32.0) == [("", '{"a": 1}')]
    assert store.claim("fp", "t0", "r1", "", 2.0, 40.0)
    assert not store.claim("fp", "t0", "r2", "", 39.0, 69.0)  # r1's lease holds
    store.renew_claims("r1", 50.0)
    assert store.unclaimed("r2", "", 45.0) == []
    assert store.unclaimed("r2", "", 51.0) == [("r1", '{"a": 1}')]  # r1 died
    assert store.claim("fp", "t0", "r2", "", 51.0, 81.0)
    store.episode_acted("fp", "t0", "spawned")
    state = store.claim_state("fp", "t0")
    assert state is not None and state.acted and state.claimed_by == "r2"
    assert not store.claim("fp", "t0", "r2", "", 52.0, 82.0)  # acted on: nobody claims it
    assert store.unclaimed("r1", "", 1000.0) == []
    store.open_episode("disk", "t0", {"alertname": "DiskSpaceLow"}, 1.0, host="h2:9464")
    assert not store.claim("disk", "t0", "r1", "h1:9464", 1.0, 31.0)  # another host's work
    assert store.claim("disk", "t0", "r2", "h2:9464", 1.0, 31.0)
    store.close_episode("disk", "t0", 2.0)
    assert store.firing() == [("BuildFailing", "critical", "")]
    assert store.expire_episodes(1000.0, {"": 100.0}) == 1 and store.firing() == []

    assert store.pause("review", "authentication", "Not logged in", 1.0)
    assert not store.pause("review", "authentication", "again", 2.0)
    assert store.tell_once_about_pause("review", 1.0, 3.0)
    assert not store.tell_once_about_pause("review", 1.0, 4.0)
    lifted = store.resume("review")
    assert lifted is not None and lifted.error == "Not logged in" and store.pauses() == []

    first = store.add_recovery("fp", "t0", "BuildFailing", "restart", "c", "log", 1.0)
    assert first is not None and first.state == "starting"
    assert store.add_recovery("fp", "t0", "BuildFailing", "restart", "c", "log", 2.0) is None

    crisis = store.open_crisis(10.0)
    assert store.open_crisis(11.0) == crisis
    assert store.tell_once_about_crisis(crisis, 12.0)
    assert store.close_crisis(15.0) == 5.0 and store.close_crisis(16.0) is None
    window = store.start_maintenance(20.0, 30.0)
    assert store.maintenance_at(25.0) == (window, 30.0)
    assert store.stop_maintenance(26.0) and store.maintenance_at(27.0) is None

    store.log_decision("refused", {"reason": "budget_cap", "path": "J2"}, 1.0)
    counted = store.log_decision("refused", {"reason": "budget_cap", "path": "alert"}, 2.0)
    store.update_decision(counted, {"reason": "budget_cap", "path": "alert", "count": 4}, 2.5)
    store.log_decision("mode", {"to": "CRISIS"}, 3.0)
    assert store.refusal_counts() == {"budget_cap": 5}, "a row counts its window's refusals"
    assert store.decisions(1) == [{"at": 3.0, "kind": "mode", "to": "CRISIS"}]
    store.dead_letter(body_id, 4.0, "ValueError: x", "{}")
    assert store.dead_letter_count() == 1
    assert store.prune(before=1e9, keep_decisions=1) == ["s1"]
    assert len(store.decisions()) == 1
    store.close()


def test_two_stores_on_one_database_see_one_truth(database: Database) -> None:
    """Responders (two stores, eight threads) racing to open the same episode, then
    to claim it: exactly one opens it and exactly one claims it."""
    stores = [database.store() for _ in range(2)]
    labels = {"alertname": "BuildFailing"}
    opened: list[bool] = []
    claimed: list[str] = []
    barrier = threading.Barrier(8)

    def race(store: Store, me: str) -> None:
        barrier.wait()
        opened.append(store.open_episode("fp", "t0", labels, 1.0))
        barrier.wait()
        if store.claim("fp", "t0", me, "", 1.0, 31.0):
            claimed.append(me)

    threads = [threading.Thread(target=race, args=(stores[i % 2], f"r{i}")) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(opened) == [False] * 7 + [True]
    assert len(claimed) == 1
    for s in stores:
        s.close()


def test_responders_entering_a_crisis_together_open_one(database: Database) -> None:
    """Was: on PostgreSQL, responders of a fleet entering a crisis in the same instant
    each opened one (none saw the other's before it committed), so each admitted
    against its own crisis budget: a fleet test spent $2.62 against a $0.60 cap."""
    stores = [database.store() for _ in range(4)]
    rounds = 10
    barrier = threading.Barrier(len(stores))
    ids: list[list[int]] = [[] for _ in range(rounds)]
    left_open: list[int | None] = []

    def responder(store: Store, me: int) -> None:
        for n in range(rounds):
            barrier.wait()
            ids[n].append(store.open_crisis(1.0 + n))
            barrier.wait()
            if me == 0:  # the crisis ends; was a second one left open?
                store.close_crisis(1.5 + n)
                left_open.append(store.open_crisis_id())

    threads = [threading.Thread(target=responder, args=(st, i)) for i, st in enumerate(stores)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for st in stores:
        st.close()
    assert [len(set(r)) for r in ids] == [1] * rounds, ids
    assert left_open == [None] * rounds


@pytest.mark.parametrize("amount", [float("nan"), float("-inf"), float("inf"), -1000.0])
def test_the_ledger_itself_refuses_what_is_not_a_cost(database: Database, amount: float) -> None:
    """B6: whatever path tries it, NaN, an infinity or a negative amount is not stored
    (SQLite once failed every step on NaN; PostgreSQL stored it and every cap passed):
    the entry refuses it by name, and the table's CHECK refuses a write that skips it."""
    store = database.store()
    store.add_swarm(swarm("s1"), [agent("s1-0-0", "s1")])
    row: dict[str, Any] = {
        "agent_id": "a",
        "swarm_id": "s1",
        "type": "bugfix",
        "period": "day:x",
        "at": 5.0,
    }
    for field in ("amount_usd", "reported_usd"):
        with pytest.raises(ValueError, match=f"ledger {field} .* of agent a: not a cost"):
            LedgerEntry(**{**row, "amount_usd": 1.0, "estimated": 0, field: amount})
    written = [{**row, "amount_usd": amount, "estimated": 0}]
    if amount == amount:  # SQLite binds NaN as NULL: a nullable column takes that as no report
        written.append({**row, "amount_usd": 1.0, "estimated": 0, "reported_usd": amount})
    for values in written:
        with pytest.raises(IntegrityError), store.engine.begin() as conn:
            conn.execute(ledger.insert().values(**values))
    assert store.spend("day:x") == 0.0
    store.close()


def test_an_amount_an_earlier_release_booked_from_a_bad_report_is_charged_its_cap(
    tmp_path: Path,
) -> None:
    """A file of the release before: its ledger row of -$1,000 (an agent's report) is
    the run's cap after the upgrade, marked estimated."""
    path = tmp_path / "warden.db"
    shutil.copy(DATA / "state-schema3.db", path)
    Store(path).close()
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE ledger")  # back to release 0004's ledger, without the checks
        db.execute(
            "CREATE TABLE ledger (agent_id TEXT PRIMARY KEY, swarm_id TEXT NOT NULL, "
            "type TEXT NOT NULL, period TEXT NOT NULL, amount_usd FLOAT NOT NULL, "
            "estimated INTEGER NOT NULL, at FLOAT NOT NULL, reported_usd FLOAT)"
        )
        [(sid, size, budget)] = db.execute("SELECT id, size, budget_usd FROM swarms").fetchall()
        db.execute(
            "INSERT INTO ledger VALUES ('a', ?, 'tests', 'day:x', -1000, 0, 1, NULL), "
            "('b', ?, 'tests', 'day:x', 0.5, 0, 1, -9e999)",
            (sid, sid),
        )
        db.execute("ALTER TABLE agents DROP COLUMN cost_refused")
        db.execute("ALTER TABLE episodes DROP COLUMN closed_by")  # 0006
        db.execute("DROP TABLE changes")  # 0007
        db.execute("ALTER TABLE agents DROP COLUMN session_id")  # 0008
        for column in ("worktree", "branch", "base", "outcome", "landed", "retry_of"):  # 0009
            db.execute(f"ALTER TABLE swarms DROP COLUMN {column}")
        for column in ("verify_seconds",):
            db.execute(f"ALTER TABLE swarms DROP COLUMN {column}")
        db.execute("ALTER TABLE episodes DROP COLUMN told_at")  # 0010
        db.execute("ALTER TABLE episodes DROP COLUMN retried_at")  # 0012
        for index in ("swarms_ended", "swarms_work", "episodes_alert_open", "episodes_alertname"):
            db.execute(f"DROP INDEX {index}")  # 0013
        db.execute("DROP INDEX decisions_at")
        db.execute("DROP INDEX inbox_waiting")  # 0015
        for column in ("digest", "claimed_by", "lease_until"):
            db.execute(f"ALTER TABLE inbox DROP COLUMN {column}")
        db.execute("DROP INDEX inbox_next")  # 0014
        db.execute("DROP INDEX inbox_aged")
        db.execute("CREATE INDEX inbox_pending ON inbox (done)")
        db.execute("ALTER TABLE swarms DROP COLUMN work")
        db.execute("UPDATE alembic_version SET version_num = '0004'")
    store = Store(path)
    assert store.spend("day:x") == pytest.approx(budget / size + 0.5)
    store.close()
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT agent_id, estimated, reported_usd, basis FROM ledger").fetchall()
    assert sorted(rows) == [("a", 1, None, "cap"), ("b", 0, None, "reported")]


def test_the_migrations_build_exactly_the_schema_the_queries_use(database: Database) -> None:
    """A column added to the schema without a migration (or the reverse) fails here."""
    store = database.store()
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    store.close()
    assert diffs == []


@pytest.mark.parametrize(
    ("made_by", "swarms", "spend"),
    [("state-schema0.db", 1, 1.5), ("state-schema3.db", 1, None)],
)
def test_a_file_of_an_earlier_release_is_upgraded_with_its_rows(
    tmp_path: Path, made_by: str, swarms: int, spend: float | None
) -> None:
    """Real files: schema 0 as the first release made it, schema 3 written by the last
    release before Alembic (a swarm run to its end, an episode, a crisis, a pause...)."""
    path = tmp_path / "warden.db"
    shutil.copy(DATA / made_by, path)
    before = _counts(path)
    store = Store(path)
    assert len(store.swarms()) == swarms
    if spend is not None:
        assert store.spend("day:2026-11-26") == spend
    assert store.refusal_counts() == {"budget_cap": 1}
    store.close()
    after = _counts(path)
    assert {t: after[t] for t in before} == before, "every row kept"
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == ALEMBIC_MARK
        assert db.execute("SELECT version_num FROM alembic_version").fetchone()[0] == head()
    # Opened again: nothing left to do, nothing changed.
    Store(path).close()
    assert _counts(path) == after


def _counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            t: db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]  # noqa: S608
            for t in tables
            if t not in ("alembic_version", "sqlite_sequence")
        }


def test_the_schema3_file_keeps_what_its_release_recorded(tmp_path: Path) -> None:
    path = tmp_path / "warden.db"
    shutil.copy(DATA / "state-schema3.db", path)
    store = Store(path)
    [s] = store.swarms()
    assert s.type == "tests" and s.state == "succeeded"
    assert store.spend(s.period) > 0
    assert [p.type for p in store.pauses()] == ["review"]
    assert store.episode_counts() == {"BuildFailing": 1}
    assert store.crisis_durations() == [6.0]
    assert store.dead_letter_count() == 1 and len(store.recoveries()) == 1
    store.close()


def test_a_reader_refuses_a_file_it_would_have_to_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "warden.db"
    shutil.copy(DATA / "state-schema0.db", path)
    with pytest.raises(StoreError, match="start the responder once to upgrade it"):
        Store(path, read_only=True)
    Store(path).close()
    Store(path, read_only=True).close()


def test_a_database_of_a_newer_release_is_refused(database: Database) -> None:
    database.store().close()
    store = database.store()
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    store.close()
    with pytest.raises(StoreError, match="newer release of Warden"):
        database.store()


def test_responders_starting_together_migrate_once(postgres: PostgresServer) -> None:
    url = postgres.database()
    errors: list[BaseException] = []

    def start() -> None:
        try:
            Store(url, password=postgres.password).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    with postgres.connect(url.rsplit("/", 1)[1]) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(head(),)]


def test_a_wrong_password_is_a_clear_error_that_never_shows_it(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    url = postgres.database()
    with pytest.raises(StoreError) as caught:
        Store(url, password="not-the-password-4242")
    message = str(caught.value)
    assert url in message and "password authentication failed" in message
    assert "not-the-password-4242" not in message and postgres.password not in message


def test_the_config_names_the_database_and_keeps_passwords_out_of_urls(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    url = postgres.database()
    cfg = write_config(
        tmp_path / "warden.yml",
        f"""\
state_dir: {tmp_path / "state"}
responder:
  id: host-a
  database: {url}
  database_password_file: {postgres.password_file}
""",
    )
    config = load_config(cfg, check_programs=False)
    assert config.responder.id == "host-a" and config.responder.database == url
    store = open_store(config)
    assert store.shared and not store.running_by_type()
    store.close()
    # Commands that only look read the same database.
    out = run_cli("budget", "--json", "-c", str(cfg))
    assert out.returncode == 0, out.stderr
    assert not (tmp_path / "state" / "warden.db").exists(), "nothing on SQLite"

    for value, words in (
        ("postgresql://warden:secret@db/warden", "holds a password"),
        ("mysql://warden@db/warden", "expected a URL such as postgresql://"),
    ):
        write_config(tmp_path / "bad.yml", f"responder:\n  database: {value}\n")
        with pytest.raises(ConfigError) as caught:
            load_config(tmp_path / "bad.yml", check_programs=False)
        assert "responder.database" in str(caught.value) and words in str(caught.value)
        assert "secret" not in str(caught.value)
    write_config(tmp_path / "bad.yml", "responder:\n  id: 'two words'\n")
    with pytest.raises(ConfigError, match=r"responder\.id"):
        load_config(tmp_path / "bad.yml", check_programs=False)


def test_a_lease_is_held_by_one_until_it_lapses(database: Database) -> None:
    """The scheduled jobs' lease: one holder at a time, renewed by it, taken over
    by another only once it lapsed."""
    stores = [database.store() for _ in range(2)]
    a, b = stores
    assert a.take_lease("jobs", "r1", 0.0, 30.0)
    assert not b.take_lease("jobs", "r2", 10.0, 40.0)
    assert a.take_lease("jobs", "r1", 20.0, 50.0)  # renewed
    assert not b.take_lease("jobs", "r2", 45.0, 75.0)
    assert b.take_lease("jobs", "r2", 51.0, 81.0)  # r1 died
    assert not a.take_lease("jobs", "r1", 60.0, 90.0)
    assert a.take_lease("other", "r1", 60.0, 90.0)
    for s in stores:
        s.close()
