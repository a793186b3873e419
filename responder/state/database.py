"""Where the responder's state lives: one engine, SQLite or PostgreSQL, brought up to date.

SQLite (a file in `state_dir`, the default) serves one host; PostgreSQL
(`responder.database: postgresql://...`) lets the responders of many hosts
share one truth. The store's queries are SQLAlchemy Core, one text for both;
what differs between the engines lives here:

- SQLite runs in WAL mode with `synchronous=FULL`: a write transaction
  either happens whole or not at all, also when the process is SIGKILLed,
  and readers (metrics, the CLI in another process) never block the writer.
  A write transaction starts with `BEGIN IMMEDIATE`, so two writers queue
  instead of failing on a lock upgrade midway.
- PostgreSQL runs at READ COMMITTED; what must not race across responders
  (the spawn guard's budget sums) takes a row lock first, which SQLite's
  single writer gives for free.

Schema changes are Alembic revisions (`responder/state/migrations/versions/`), all
pending ones run at start in one transaction (on PostgreSQL under an
advisory lock, so responders starting together migrate once). A SQLite file
of the releases before Alembic carries its schema number in `user_version`;
it is stamped with the matching revision and upgraded, its rows kept.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, inspect, pool
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from responder.state.errors import StoreError

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
LEGACY_REVISIONS = ("0000", "0001", "0002", "0003")
"""The revision matching each `user_version` of the SQLite files made before Alembic."""
ALEMBIC_MARK = 1000
"""`user_version` of a file Alembic manages: releases before it refuse it as newer."""
MIGRATION_LOCK = 0x5741_5244_454E  # "WARDEN": the advisory lock of the migrations
SQLITE_BUSY_SECONDS = 30


def is_postgresql(target: Path | str) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def describe(target: Path | str) -> str:
    """The database as messages name it: a path, or the URL without a password."""
    if not is_postgresql(target):
        return str(target)
    return make_url(str(target)).render_as_string(hide_password=True)


def engine_for(target: Path | str, read_only: bool, password: str | None = None) -> Engine:
    """An engine for a SQLite file (a path) or a PostgreSQL server (a URL)."""
    if is_postgresql(target):
        return _postgresql(str(target), read_only, password)
    return _sqlite(Path(target), read_only)


def _sqlite(path: Path, read_only: bool) -> Engine:
    if path.exists() and path.is_file() and path.stat().st_size == 0:
        raise StoreError(
            f"{path}: the state database is empty (0 bytes), so the ledger and "
            "history are lost; restore it from a backup, or remove it to start afresh"
        )
    if read_only and not path.exists():
        raise StoreError(f"{path}: no state yet (it appears once Warden has run)")
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)

    def connect() -> sqlite3.Connection:
        target = f"file:{path}?mode=ro" if read_only else str(path)
        db = sqlite3.connect(
            target,
            uri=read_only,
            check_same_thread=False,
            isolation_level=None,  # transactions are begun below, not by the driver
            timeout=SQLITE_BUSY_SECONDS,
        )
        if not read_only:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    engine = create_engine(
        "sqlite+pysqlite://",
        creator=connect,
        poolclass=pool.QueuePool,
        pool_size=4,
        json_serializer=_json,
    )

    @event.listens_for(engine, "begin")
    def begin(conn: Connection) -> None:
        # Reads run each statement on its own (autocommit): a read transaction
        # left open would pin an old snapshot of the file.
        # The store begins its write transactions through the driver (base.py's
        # `_transaction`): a statement SQLAlchemy runs there joins the one begun.
        if conn.get_execution_options().get("write", False):
            driver = conn.connection.driver_connection
            assert driver is not None  # an open connection has its driver's
            if not driver.in_transaction:
                driver.execute("BEGIN IMMEDIATE")

    return engine


def _postgresql(url: str, read_only: bool, password: str | None) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"responder.database {url!r}: not a database URL ({exc})") from exc
    if parsed.password is not None:
        raise StoreError(
            f"responder.database {describe(url)}: the URL holds a password; put it in "
            "responder.database_password_file (or libpq's PGPASSWORD / ~/.pgpass) instead, "
            "so config files and logs never show it"
        )
    parsed = parsed.set(drivername="postgresql+psycopg")
    if password is not None:
        parsed = parsed.set(password=password)
    engine = create_engine(
        parsed,
        pool_size=4,
        pool_pre_ping=True,  # a restarted server is reconnected, not an error per query
        json_serializer=_json,
        connect_args={"connect_timeout": 10, "application_name": "warden"},
    )
    if read_only:
        engine = engine.execution_options(postgresql_readonly=True)
    return engine


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _alembic(conn: Connection) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = conn
    return cfg


def head() -> str:
    """The newest revision this release knows."""
    return str(ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head())


def current(conn: Connection) -> str | None:
    """The database's revision (a pre-Alembic SQLite file: the one its number matches)."""
    revision = MigrationContext.configure(conn).get_current_revision()
    if revision is not None or conn.dialect.name != "sqlite":
        return revision
    version = int(conn.exec_driver_sql("PRAGMA user_version").scalar_one())
    if version >= len(LEGACY_REVISIONS):
        return None if version == ALEMBIC_MARK else f"user_version {version}"
    if version == 0 and not inspect(conn).has_table("swarms"):
        return None  # a new file
    return LEGACY_REVISIONS[version]


def migrate(engine: Engine, name: str) -> None:
    """Run every pending revision in one transaction; a crash midway repeats them whole."""
    with engine.connect() as conn:
        conn.execution_options(write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            revision = current(conn)
            known = ScriptDirectory(str(MIGRATIONS_DIR))
            if revision is not None and revision not in {
                s.revision for s in known.walk_revisions()
            }:
                raise StoreError(
                    f"{name}: made by a newer release of Warden (schema {revision}, "
                    f"this one knows up to {head()})"
                )
            cfg = _alembic(conn)
            if (
                revision is not None
                and MigrationContext.configure(conn).get_current_revision() is None
            ):
                command.stamp(cfg, revision)
            command.upgrade(cfg, "head")
            if revision != head():
                log.info("%s: schema upgraded from %s to %s", name, revision or "nothing", head())
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql(f"PRAGMA user_version = {ALEMBIC_MARK}")


def check_current(engine: Engine, name: str) -> None:
    """A reader's check: the database is at this release's schema (it cannot upgrade it)."""
    with engine.connect() as conn:
        revision = current(conn)
    if revision != head():
        raise StoreError(
            f"{name}: made by another release of Warden (schema {revision}, this one "
            f"reads {head()}); start the responder once to upgrade it"
        )


def unusable(name: str, exc: SQLAlchemyError) -> str:
    """What a database the engine refused says to a person (no traceback, no password)."""
    cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    if isinstance(exc, OperationalError) and name.startswith("postgresql"):
        return f"{name}: cannot use the database server ({cause})"
    return (
        f"{name}: not a usable Warden database ({cause}); restore it from a backup, "
        "or remove it to start afresh"
    )
