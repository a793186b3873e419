"""The store's one database layer: connections per thread, transactions, the
fleet's admission guard and the step's read view; every kind of state is
read and written through it (`responder.state.store` composes them).
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    Table,
    event,
)
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.sql import Executable
from sqlalchemy.sql.dml import Insert, UpdateBase

from responder.model import LIVE_AGENT_STATES as LIVE_STATES
from responder.state.database import (
    check_current,
    describe,
    engine_for,
    is_postgresql,
    migrate,
    unusable,
)
from responder.state.driver import DriverStatement, Tx
from responder.state.errors import StoreError, StoreUnavailable
from responder.state.fairlock import WriterLock
from responder.state.queries import ANY_TABLE, SERIALS, Q, budget_sums_query, tables_read
from responder.state.rows import AnyRow
from responder.state.schema import metadata
from responder.state.upserts import BUMP, insert_ignore_pg, insert_ignore_sqlite

Keys = tuple[str, ...] | None
"""The parameters a write names (None: a read, planned whatever it is given)."""
OWN = ("inbox",)
"""Tables an owner holds what it read of with no serial, its own write marks telling
it every change: alone on its store, only its responder writes the inbox (its
receiver stores the bodies it is sent and tells it, `inbox_added`; its owner works
them off); in a fleet the workers claim bodies with a write, never from memory."""
HELD = tuple(name for name in metadata.tables if name not in ("changes", "decisions", "leases"))
"""The tables an owner holds what it read of (responder/state/held.py). Each write of
one (but those in OWN) moves its serial in the `changes` table, in the writer's
transaction. Read afresh each time: the log of decisions (written at almost every
step, by commands too: a serial would cost more writes than the reads it saves)
and the jobs' lease (read by whoever takes it)."""


class StoreBase:
    """The state, on the engine `target` names: a SQLite file (a path) or a
    PostgreSQL URL.

    Safe to share between threads, with no Python lock held while the
    database works: each thread has a connection of its own for reads (each
    statement on its own, no transaction left open) and one for its write
    transactions. The responder's threads are few and long-lived (the worker,
    the jobs, the HTTP executor), so these are few.
    """

    def __init__(
        self, target: Path | str, read_only: bool = False, password: str | None = None
    ) -> None:
        self.name = describe(target)
        self.shared = is_postgresql(target)
        """On a server that responders of other hosts may share (PostgreSQL)."""
        self.identity = self.name if self.shared else str(Path(target).resolve())
        """What tells this database from another: the file, or the server and database."""
        self.read_only = read_only
        self._marks = itertools.count(1)
        self._written: dict[str, int] = {}
        self.last_write = 0
        """The newest of the marks in `_written`."""
        """Table -> a mark new at each committed write to it (an owner's held reads)."""
        self._own_bumps: dict[str, list[int]] = {kind: [] for kind in HELD}
        """Per held table, the serials this process's writes moved it to, not yet taken."""
        self.engine = engine_for(target, read_only, password)
        try:
            if read_only:
                check_current(self.engine, self.name)
            else:
                migrate(self.engine, self.name)
        except SQLAlchemyError as exc:
            self.engine.dispose()
            raise StoreError(unusable(self.name, exc)) from exc
        except StoreError:
            self.engine.dispose()
            raise
        self._dialect = self.engine.dialect.name
        self._local = threading.local()
        # SQLite has one writer at a time: this process's writers queue here, in
        # the order they came, then on a file lock with the responder's other
        # process (fairlock.py), and are woken at once, instead of polling the
        # file lock in SQLite's busy handler (which sleeps up to 100 ms between
        # tries). PostgreSQL locks rows.
        self._writer = None if self.shared or read_only else WriterLock(Path(target))
        self._outages = 0
        """Outages seen: a connection opened before the latest is opened again."""
        self._opened: list[Connection] = []
        self._plans: dict[tuple[int, Keys], tuple[Executable, DriverStatement | None]] = {}
        """Statements planned for the driver (`_plan`), by the statement's id and the
        parameters named, with the statement itself: the id of one built for a call
        and gone may be another's later."""
        self._opened_lock = threading.Lock()  # held only to list a new connection
        self._contexts_dropped_before = -math.inf
        """The contexts of swarms that ended before this were dropped (`prune`); none
        yet in this process: its first prune looks at every swarm."""

    def close(self) -> None:
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()
        self.engine.dispose()
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    def _writing(self) -> AbstractContextManager[None]:
        """A write transaction's turn: PostgreSQL locks rows, and needs none."""
        return nullcontext() if self._writer is None else self._writer.held()

    def _connection(self, kind: str) -> Connection:
        """This thread's connection for `kind` ("read" or "write"), opened on first use,
        and again after an outage seen by any thread: the server that came back
        cut every connection of before, idle ones too."""
        conn: Connection | None = getattr(self._local, kind, None)
        opened_in = getattr(self._local, f"{kind}_outages", 0)
        if conn is None or conn.closed:
            pass
        elif opened_in != self._outages and not conn.in_transaction():
            conn.invalidate()  # no rollback tried on a connection the server dropped
            conn.close()
        if conn is None or conn.closed:
            setattr(self._local, f"{kind}_outages", self._outages)
            conn = self.engine.connect()
            if kind == "read":
                conn.execution_options(isolation_level="AUTOCOMMIT")
            else:
                conn.execution_options(write=True)
                event.listen(conn, "before_execute", self._note_write)
            setattr(self._local, kind, conn)
            with self._opened_lock:
                self._opened = [c for c in self._opened if not c.closed] + [conn]
        return conn

    @contextmanager
    def _reaching(self, kind: str) -> Iterator[Connection]:
        """This thread's `kind` connection, with a lost server told as StoreUnavailable.

        A server that went away (a restart, a failover) invalidates the
        connection. A write transaction is rolled back by its `begin()`; a
        reader's connection (autocommit, but begun all the same) is rolled back
        here, so that the next statement connects afresh instead of every later
        one failing on the invalid transaction."""
        conn: Connection | None = None
        try:
            conn = self._connection(kind)
            yield conn
        except DBAPIError as exc:
            if kind == "read" and conn is not None:
                conn.rollback()
            if self.shared and (exc.connection_invalidated or isinstance(exc, OperationalError)):
                self._outages += 1
                raise StoreUnavailable(unusable(self.name, exc)) from exc
            raise

    @contextmanager
    def _tx(self, flushed: bool = True) -> Iterator[Tx]:
        """One atomic write transaction; rolled back whole if anything in it fails.
        Inside `spawn_guard` (on the same thread) it joins the guard's transaction.
        Not `flushed`: on PostgreSQL its commit does not wait for the disk (a server
        crash may lose it, never half of it): for writes whose loss costs only work
        done again (a claim of bodies, bodies marked worked off)."""
        with self._reaching("write") as conn:
            tx = Tx(conn, None if self.shared else self._driver(conn), self._plan, self._note_write)
            if self.writing():
                self._local.bumped = {}  # the outer transaction moves the serials, at its end
                yield tx
                return
            writing: set[str] = set()
            with self._writing(), self._transaction(conn):
                self._local.writing = writing
                if not flushed and self.shared:
                    tx.execute(Q.unflushed, {})
                try:
                    yield tx
                    self._local.bumped = {
                        kind: int(tx.execute(BUMP[self._dialect], {"kind": kind}).scalar_one())
                        for kind in HELD
                        if (kind in writing or ANY_TABLE in writing) and kind not in OWN
                    }
                finally:
                    self._local.writing = None  # no transaction open (`writing`)
                for kind, serial in self._local.bumped.items():
                    self._own_bumps[kind].append(serial)
        for name in writing:
            self._written[name] = self.last_write = next(self._marks)

    @contextmanager
    def _transaction(self, conn: Connection) -> Iterator[None]:
        """A transaction on the write connection. On SQLite it is begun and ended
        through the driver, as its statements run (SQLAlchemy's transaction cost more
        than SQLite's BEGIN and COMMIT; the webhook's accepted body is one); a statement
        SQLAlchemy runs in it joins it (database.py's `begin`)."""
        if self.shared:
            with conn.begin():
                yield
            return
        raw = self._driver(conn)
        raw.execute("BEGIN IMMEDIATE")
        try:
            yield
            raw.execute("COMMIT")
        except BaseException:
            if raw.in_transaction:
                raw.execute("ROLLBACK")
            if conn.in_transaction():
                conn.rollback()  # SQLAlchemy's record of the transaction it joined
            raise
        if conn.in_transaction():
            conn.commit()  # the same; the driver's transaction is committed already

    def _note_write(self, conn: Connection, clause: Any, *_: Any) -> None:
        """What a write transaction writes, by table (its statements' `table`); a
        statement of another kind than a DML or a SELECT may write anything."""
        if isinstance(clause, UpdateBase):
            self._local.writing.add(getattr(clause.table, "name", ANY_TABLE))
        elif not isinstance(clause, Select):
            self._local.writing.add(ANY_TABLE)

    def serials(self) -> dict[str, int]:
        """Each held kind's serial as committed now (always from the database: it is
        how an owner learns of the writes of others)."""
        return {str(kind): int(serial) for kind, serial in self._rows(SERIALS)}

    def write_mark(self, table: str) -> int:
        """A mark new at each write of `table` this process committed (any thread)."""
        return max(self._written.get(table, 0), self._written.get(ANY_TABLE, 0))

    def take_own_bumps(self, kind: str) -> list[int]:
        """The serials this process's writes moved `kind` to since the last take: an
        owner tells its own writes from another's by them."""
        taken, self._own_bumps[kind] = self._own_bumps[kind], []
        return sorted(taken)

    def bumped(self) -> dict[str, int]:
        """The serials this thread's latest write transaction moved its held kinds to."""
        return dict(getattr(self._local, "bumped", {}))

    @contextmanager
    def spawn_guard(self) -> Iterator[None]:
        """The fleet-wide admission lock, for a check and the start it allows.

        Every responder sharing this database admits work one at a time: the
        check reads what is spent and committed, and the swarm (or retry) it
        admits is written live before the lock is let go, so the next check
        counts it. On SQLite the write lock (BEGIN IMMEDIATE) is the guard;
        on PostgreSQL a transaction-scoped advisory lock. The store's writes
        made inside join the guard's transaction; an exception undoes them."""
        with self._tx() as db:
            if self._dialect == "postgresql":
                db.execute(Q.spawn_lock)
            yield

    def budget_sums(
        self, period: str, windows: list[tuple[float, float]]
    ) -> tuple[float, float, list[float]]:
        """(the period's spend, what live agents may still spend, the spend in each
        [start, end) window), read in one statement: one snapshot, so an agent
        ending in between is counted in one sum or the other, never in neither."""
        params: dict[str, Any] = {"period": period, "states": list(LIVE_STATES)}
        for i, (start, end) in enumerate(windows):
            params[f"start{i}"], params[f"end{i}"] = start, end
        row = self._rows(budget_sums_query(len(windows)), **params)[0]
        return float(row[0]), float(row[1]), [float(v) for v in tuple(row)[2:]]

    def writing(self) -> bool:
        """This thread is inside a write transaction (reads there see its writes):
        one `_tx` opened and not yet ended (asked at every held read)."""
        return getattr(self._local, "writing", None) is not None

    def next_mark(self) -> int:
        """A mark below every write mark of a commit still to come."""
        return next(self._marks)

    @contextmanager
    def recording(self) -> Iterator[set[str]]:
        """Within it, the tables this thread reads are added to the set it gives."""
        tables: set[str] = set()
        outer = getattr(self._local, "recording", None)
        self._local.recording = tables
        try:
            yield tables
        finally:
            self._local.recording = outer
            if outer is not None:
                outer |= tables

    def _rows(self, query: Executable, **params: Any) -> list[AnyRow]:
        recording: set[str] | None = getattr(self._local, "recording", None)
        if recording is not None:
            recording.update(tables_read(query))
        plan = self._read_plan(query)
        if plan is not None:  # SQLite: no lost server to tell (`_reaching`)
            return plan.run(self._driver(self._connection("read")), params)
        with self._reaching("read") as conn:
            return list(conn.execute(query, params))

    def _driver(self, conn: Connection) -> Any:
        """SQLite's own connection under `conn`, looked up once for it (through
        SQLAlchemy's pool, a lookup cost a tenth of a read)."""
        drivers: dict[int, tuple[Connection, Any]] = self._local.__dict__.setdefault("drivers", {})
        known = drivers.get(id(conn))
        if known is None or known[0] is not conn:
            raw = conn.connection.driver_connection
            assert raw is not None  # an open connection has its driver's
            known = drivers[id(conn)] = (conn, raw)
        return known[1]

    def _read_plan(self, query: Executable) -> DriverStatement | None:
        """How the read `query` runs through the driver, or None: only SELECTs are run
        on the read connection that way (writes go through a transaction). On SQLite a
        read through SQLAlchemy's execution cost about 100 us of CPU more than through
        the driver: most of a simulated step, and of the webhook's worker."""
        return self._plan(query) if isinstance(query, Select) else None

    def _plan(self, statement: Executable, keys: Keys = None) -> DriverStatement | None:
        """How `statement` runs through SQLite's driver with the parameters named `keys`
        (None: a read, whatever it is given), planned once; None on PostgreSQL
        (SQLAlchemy's execution tells a lost server) or if only SQLAlchemy can run it
        (a column it converts, such as JSON; a default it computes)."""
        if self.shared:
            return None
        key = (id(statement), keys)
        planned = self._plans.get(key)
        if planned is None or planned[0] is not statement:
            planned = self._plans[key] = (
                statement,
                DriverStatement.of(statement, self.engine.dialect, keys),
            )
        return planned[1]

    def _value(self, query: Executable, **params: Any) -> Any:
        rows = self._rows(query, **params)
        return rows[0][0] if rows else None

    def _insert_ignore(self, table: Table) -> Insert:
        """INSERT that skips a row whose key exists (SQLite's OR IGNORE, PostgreSQL's
        ON CONFLICT DO NOTHING): the idempotent writes rely on it."""
        if self._dialect == "postgresql":
            return insert_ignore_pg(table)
        return insert_ignore_sqlite(table)

    def _insert_new(self, db: Tx, table: Table, **values: Any) -> bool:
        """Insert a row unless its key exists; True if it was new. Told by RETURNING:
        drivers do not all count the rows of an INSERT."""
        return db.execute(self._insert_ignore(table), values).first() is not None
