"""Durable state of the swarm runtime in SQLite: swarms, agents, spend ledger, decisions.

Why SQLite in WAL mode: every change is one transaction that either happens
whole or not at all, also when the process is SIGKILLed mid-write; readers
(metrics, the CLI in another process) never block the writer. Every write
here is a single `with self._tx()` block.

The schema grows by numbered migrations (`PRAGMA user_version`), run when the
store opens, so a database made by an earlier release is upgraded in place
with its rows kept. A file that is not a Warden database, or is empty (a
0-byte file is what a failed copy or a full disk leaves), is refused with a
message naming it: starting afresh would forget the day's spend.

Readers that only look (`warden swarm list`, `warden budget`, the reports)
open the store read-only and can change nothing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from responder.model import LIVE_AGENT_STATES as LIVE_STATES

SCHEMA = """
CREATE TABLE IF NOT EXISTS swarms (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    priority TEXT NOT NULL,
    size INTEGER NOT NULL,
    trigger TEXT NOT NULL,
    context TEXT NOT NULL,
    context_file TEXT NOT NULL,
    budget_usd REAL NOT NULL,
    period TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    ended_at REAL
);
CREATE TABLE IF NOT EXISTS agents (
    id TEXT PRIMARY KEY,
    swarm_id TEXT NOT NULL REFERENCES swarms(id),
    slot INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    state TEXT NOT NULL,
    pid INTEGER,
    start_time REAL,
    log_path TEXT NOT NULL,
    log_offset INTEGER NOT NULL DEFAULT 0,
    started_at REAL,
    first_output_at REAL,
    last_progress_at REAL,
    ended_at REAL,
    retry_at REAL,
    exit_code INTEGER,
    death_reason TEXT,
    result_error INTEGER,
    cost_usd REAL
);
CREATE INDEX IF NOT EXISTS agents_state ON agents(state);
CREATE TABLE IF NOT EXISTS ledger (
    agent_id TEXT PRIMARY KEY,
    swarm_id TEXT NOT NULL,
    type TEXT NOT NULL,
    period TEXT NOT NULL,
    amount_usd REAL NOT NULL,
    estimated INTEGER NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_period ON ledger(period);
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at REAL NOT NULL,
    body BLOB NOT NULL,
    done INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS inbox_pending ON inbox(done);
CREATE TABLE IF NOT EXISTS episodes (
    fingerprint TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    alertname TEXT NOT NULL,
    severity TEXT NOT NULL DEFAULT '',
    component TEXT NOT NULL DEFAULT '',
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL DEFAULT 0,
    acted INTEGER NOT NULL DEFAULT 0,
    outcome TEXT NOT NULL DEFAULT '',
    resolved_at REAL,
    PRIMARY KEY (fingerprint, starts_at)
);
CREATE TABLE IF NOT EXISTS crises (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at REAL NOT NULL,
    ended_at REAL
);
CREATE TABLE IF NOT EXISTS maintenance (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    starts_at REAL NOT NULL,
    ends_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""
"""The schema of the first release (user_version 0); MIGRATIONS take it to today's."""

MIGRATIONS = (
    # 1: who owns each swarm and agent (a runtime in one process: responder,
    # `warden swarm run`); why Warden ended an agent; what an agent reported
    # when it was charged less (its cap); poison alerts set aside; a person
    # told once per crisis; indexes for the queries that run on every cycle.
    """
    ALTER TABLE swarms ADD COLUMN owner TEXT NOT NULL DEFAULT '';
    ALTER TABLE agents ADD COLUMN owner TEXT NOT NULL DEFAULT '';
    ALTER TABLE agents ADD COLUMN end_reason TEXT;
    ALTER TABLE ledger ADD COLUMN reported_usd REAL;
    ALTER TABLE crises ADD COLUMN told_at REAL;
    CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        inbox_id INTEGER NOT NULL,
        at REAL NOT NULL,
        error TEXT NOT NULL,
        alert TEXT NOT NULL
    );
    CREATE INDEX swarms_state ON swarms(state);
    CREATE INDEX swarms_trigger ON swarms(trigger);
    CREATE INDEX swarms_created ON swarms(created_at);
    CREATE INDEX agents_swarm ON agents(swarm_id);
    CREATE INDEX ledger_at ON ledger(at);
    CREATE INDEX ledger_swarm ON ledger(swarm_id);
    CREATE INDEX episodes_open ON episodes(resolved_at);
    """,
    # 2: why a run failed (a class from responder.failures, and the agent's
    # own words) and the swarm types the circuit breaker paused.
    """
    ALTER TABLE agents ADD COLUMN failure_class TEXT;
    ALTER TABLE agents ADD COLUMN failure_text TEXT;
    ALTER TABLE swarms ADD COLUMN failure_class TEXT;
    CREATE TABLE pauses (
        type TEXT PRIMARY KEY,
        class TEXT NOT NULL,
        error TEXT NOT NULL,
        since REAL NOT NULL,
        told_at REAL
    );
    CREATE INDEX agents_ended ON agents(ended_at);
    """,
    # 3: recovery commands run for alerts before (or instead of) swarms.
    """
    CREATE TABLE recoveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        fingerprint TEXT NOT NULL,
        starts_at TEXT NOT NULL,
        alertname TEXT NOT NULL,
        name TEXT NOT NULL,
        state TEXT NOT NULL,
        context TEXT NOT NULL,
        log_path TEXT NOT NULL,
        started_at REAL NOT NULL,
        pid INTEGER,
        start_time REAL,
        ended_at REAL,
        exit_code INTEGER,
        outcome TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '',
        joined_to INTEGER,
        UNIQUE (fingerprint, starts_at, name)
    );
    CREATE INDEX recoveries_state ON recoveries(state);
    """,
)


LAST_SEEN_EVERY = 60.0
"""An episode's `last_seen` is written at most this often (expiry takes 12 minutes)."""


class StoreError(Exception):
    """The database cannot be used; the message names the file and what to do."""


@dataclass
class SwarmRow:
    id: str
    type: str
    priority: str
    size: int
    trigger: str
    context: str
    context_file: str
    budget_usd: float
    period: str
    state: str
    reason: str
    created_at: float
    ended_at: float | None
    owner: str = ""
    failure_class: str | None = None
    """The class of the failure that failed it (responder.failures)."""


@dataclass
class AgentRow:
    id: str
    swarm_id: str
    slot: int
    attempt: int
    state: str
    pid: int | None
    start_time: float | None
    log_path: str
    log_offset: int
    started_at: float | None
    first_output_at: float | None
    last_progress_at: float | None
    ended_at: float | None
    retry_at: float | None
    exit_code: int | None
    death_reason: str | None
    result_error: int | None
    cost_usd: float | None
    owner: str = ""
    end_reason: str | None = None
    failure_class: str | None = None
    failure_text: str | None = None


@dataclass
class RecoveryRow:
    """A recovery command run for one firing episode, and how far it got."""

    id: int
    fingerprint: str
    starts_at: str
    alertname: str
    name: str
    state: str
    context: str
    log_path: str
    started_at: float
    pid: int | None = None
    start_time: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    outcome: str = ""
    """How the command ended: responder.recovery.OUTCOMES."""
    detail: str = ""
    joined_to: int | None = None
    """Another episode's run of the same recovery, under way when this one fired."""


@dataclass(frozen=True)
class Pause:
    """A swarm type the circuit breaker stopped, and why."""

    type: str
    cls: str
    error: str
    since: float
    told_at: float | None


class Store:
    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self.writes = 0
        """Committed write transactions: readers rebuild what they derive only when it moved."""
        self._lock = threading.RLock()
        if path.exists() and path.is_file() and path.stat().st_size == 0:
            raise StoreError(
                f"{path}: the state database is empty (0 bytes), so the ledger and "
                "history are lost; restore it from a backup, or remove it to start afresh"
            )
        if read_only and not path.exists():
            raise StoreError(f"{path}: no state yet (it appears once Warden has run)")
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            target = f"file:{path}?mode=ro" if read_only else str(path)
            self._db = sqlite3.connect(
                target,
                uri=read_only,
                check_same_thread=False,
                isolation_level=None,
                timeout=30,
            )
            self._db.row_factory = sqlite3.Row
            if not read_only:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.execute("PRAGMA foreign_keys=ON")
                self._migrate()
            elif self._version() != len(MIGRATIONS):
                raise StoreError(
                    f"{path}: made by another release of Warden (schema {self._version()}, "
                    f"this one reads {len(MIGRATIONS)}); start the responder once to upgrade it"
                )
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{path}: not a usable Warden database ({exc}); restore it from a backup, "
                "or remove it to start afresh"
            ) from exc

    def _version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        """Create the first schema, then run each migration not yet run, each in one
        transaction with its new version number, so a crash midway repeats it whole."""
        version = self._version()
        if version == 0:
            self._db.executescript(SCHEMA)
        if version > len(MIGRATIONS):
            raise StoreError(
                f"{self.path}: made by a newer release of Warden (schema {version}, "
                f"this one knows {len(MIGRATIONS)})"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            statements = [s.strip() for s in script.split(";") if s.strip()]
            with self._tx() as db:
                for statement in statements:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One atomic transaction; rolled back whole if anything in it fails."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self.writes += 1

    def _rows(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._db.execute(sql, args))

    def _where(self, table: str, order: str, *conditions: tuple[str, Any]) -> list[sqlite3.Row]:
        """Rows of `table` meeting each condition whose value is given (None: no
        condition); a tuple value fills the condition's several placeholders."""
        used = [
            (sql, v if isinstance(v, tuple) else (v,)) for sql, v in conditions if v is not None
        ]
        where = " AND ".join(sql for sql, _ in used) or "1=1"
        args = [a for _, values in used for a in values]
        return self._rows(f"SELECT * FROM {table} WHERE {where} ORDER BY {order}", *args)  # noqa: S608  (our names)

    # -- swarms -----------------------------------------------------------
    def add_swarm(self, swarm: SwarmRow, agents: list[AgentRow]) -> None:
        """A swarm and its first agents appear together or not at all."""
        with self._tx() as db:
            db.execute(_insert("swarms", swarm), vars(swarm))
            for a in agents:
                self._insert_agent(db, a)

    def swarm(self, swarm_id: str) -> SwarmRow | None:
        rows = self._rows("SELECT * FROM swarms WHERE id = ?", swarm_id)
        return SwarmRow(**dict(rows[0])) if rows else None

    def swarms(
        self, state: str | None = None, since: float | None = None, owner: str | None = None
    ) -> list[SwarmRow]:
        """Swarms in `state` (every state if None), created at `since` or later, of `owner`."""
        rows = self._where(
            "swarms",
            "created_at",
            ("owner = ?", owner),
            ("state = ?", state),
            ("created_at >= ?", since),
        )
        return [SwarmRow(**dict(r)) for r in rows]

    def count_running(self) -> int:
        return int(self._rows("SELECT COUNT(*) FROM swarms WHERE state = 'running'")[0][0])

    def committed(self) -> float:
        """What live agents, whoever started them, may still spend: their runs' caps."""
        marks = ", ".join("?" * len(LIVE_STATES))
        rows = self._rows(
            "SELECT COALESCE(SUM(s.budget_usd), 0) FROM agents a JOIN swarms s"  # noqa: S608
            f" ON a.swarm_id = s.id WHERE a.state IN ({marks})",
            *LIVE_STATES,
        )
        return float(rows[0][0])

    def end_counts(self) -> dict[tuple[str, str], int]:
        """(swarm type, end reason) -> agents Warden ended so, ever."""
        rows = self._rows(
            "SELECT s.type, a.end_reason, COUNT(*) FROM agents a JOIN swarms s"
            " ON a.swarm_id = s.id WHERE a.end_reason IS NOT NULL GROUP BY 1, 2"
        )
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def release(self, owner: str) -> None:
        """`owner` stops watching its agents (they keep running): any runtime may adopt them."""
        with self._tx() as db:
            db.execute("UPDATE swarms SET owner = '' WHERE owner = ?", (owner,))
            db.execute("UPDATE agents SET owner = '' WHERE owner = ?", (owner,))

    def take_over(self, swarm_ids: list[str], owner: str) -> None:
        """Make `owner` the runtime of these swarms and their agents (their own died)."""
        with self._tx() as db:
            for sid in swarm_ids:
                db.execute("UPDATE swarms SET owner = ? WHERE id = ?", (owner, sid))
                db.execute("UPDATE agents SET owner = ? WHERE swarm_id = ?", (owner, sid))

    def live_agent_ids(self) -> set[str]:
        """Agents that may have a process now, whoever owns them."""
        marks = ", ".join("?" * len(LIVE_STATES))
        sql = f"SELECT id FROM agents WHERE state IN ({marks})"  # noqa: S608  (placeholders)
        return {r[0] for r in self._rows(sql, *LIVE_STATES)}

    def end_swarm(
        self, swarm_id: str, state: str, reason: str, at: float, failure: str | None = None
    ) -> bool:
        """Mark a running swarm ended; False if it had already ended (idempotent)."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE swarms SET state = ?, reason = ?, ended_at = ?, failure_class = ?"
                " WHERE id = ? AND state = 'running'",
                (state, reason, at, failure, swarm_id),
            )
            return cur.rowcount == 1

    # -- agents -----------------------------------------------------------
    @staticmethod
    def _insert_agent(db: sqlite3.Connection, a: AgentRow) -> None:
        db.execute(_insert("agents", a), vars(a))

    def add_agent(self, a: AgentRow) -> None:
        with self._tx() as db:
            self._insert_agent(db, a)

    def agent(self, agent_id: str) -> AgentRow | None:
        rows = self._rows("SELECT * FROM agents WHERE id = ?", agent_id)
        return AgentRow(**dict(rows[0])) if rows else None

    def agents(
        self, swarm_id: str | None = None, states: tuple[str, ...] = (), owner: str | None = None
    ) -> list[AgentRow]:
        rows = self._where(
            "agents",
            "slot, attempt",
            ("owner = ?", owner),
            ("swarm_id = ?", swarm_id),
            (f"state IN ({', '.join('?' * len(states))})", states or None),
        )
        return [AgentRow(**dict(r)) for r in rows]

    def update_agent(self, agent_id: str, **fields: Any) -> None:
        self._update("agents", agent_id, fields)

    def _update(self, table: str, row_id: object, fields: dict[str, Any]) -> None:
        cols = ", ".join(f"{k} = :{k}" for k in fields)
        with self._tx() as db:
            db.execute(f"UPDATE {table} SET {cols} WHERE id = :id", {**fields, "id": row_id})  # noqa: S608  (our names)

    def end_agent(self, agent_id: str, ledger: LedgerEntry | None, **fields: Any) -> None:
        """The agent's end and its spend are written in one transaction."""
        cols = ", ".join(f"{k} = :{k}" for k in fields)
        with self._tx() as db:
            db.execute(f"UPDATE agents SET {cols} WHERE id = :id", {**fields, "id": agent_id})  # noqa: S608  (column names are ours)
            if ledger is not None:
                db.execute(_insert("ledger", ledger, "OR IGNORE"), vars(ledger))

    def death_counts(self) -> dict[tuple[str, str], int]:
        """(swarm type, death reason) -> agents that died so, ever."""
        rows = self._rows(
            "SELECT s.type, a.death_reason, COUNT(*) FROM agents a JOIN swarms s"
            " ON a.swarm_id = s.id WHERE a.death_reason IS NOT NULL GROUP BY 1, 2"
        )
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def failure_counts(self) -> dict[tuple[str, str], int]:
        """(swarm type, failure class) -> agent runs that failed so, ever."""
        rows = self._rows(
            "SELECT s.type, a.failure_class, COUNT(*) FROM agents a JOIN swarms s"
            " ON a.swarm_id = s.id WHERE a.failure_class IS NOT NULL GROUP BY 1, 2"
        )
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def last_runs(self, swarm_type: str, n: int) -> list[tuple[str, str | None, str | None]]:
        """(state, failure class, failure text) of the type's last `n` runs that
        succeeded or failed, newest first (runs Warden killed say nothing)."""
        rows = self._rows(
            "SELECT a.state, a.failure_class, a.failure_text FROM agents a JOIN swarms s"
            " ON a.swarm_id = s.id WHERE s.type = ? AND a.state IN ('succeeded', 'failed')"
            " ORDER BY a.ended_at DESC LIMIT ?",
            swarm_type,
            n,
        )
        return [(r[0], r[1], r[2]) for r in rows]

    # -- recoveries -----------------------------------------------------------
    def add_recovery(
        self,
        fingerprint: str,
        starts_at: str,
        alertname: str,
        name: str,
        context: str,
        log_path: str,
        at: float,
    ) -> RecoveryRow | None:
        """Record a recovery about to start; None if this episode has run it already."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO recoveries (fingerprint, starts_at, alertname, name,"
                " state, context, log_path, started_at) VALUES (?, ?, ?, ?, 'starting', ?, ?, ?)",
                (fingerprint, starts_at, alertname, name, context, log_path, at),
            )
            if cur.rowcount != 1:
                return None
            row = db.execute("SELECT * FROM recoveries WHERE id = ?", (cur.lastrowid,)).fetchone()
        return RecoveryRow(**dict(row))

    def update_recovery(self, recovery_id: int, **fields: Any) -> None:
        self._update("recoveries", recovery_id, fields)

    def recovery(self, recovery_id: int) -> RecoveryRow | None:
        rows = self._rows("SELECT * FROM recoveries WHERE id = ?", recovery_id)
        return RecoveryRow(**dict(rows[0])) if rows else None

    def recovery_counts(self) -> dict[tuple[str, str, str], int]:
        """(recovery, outcome, state) -> runs, ever."""
        rows = self._rows("SELECT name, outcome, state, COUNT(*) FROM recoveries GROUP BY 1, 2, 3")
        return {(r[0], r[1], r[2]): int(r[3]) for r in rows}

    def recoveries(self, states: tuple[str, ...] | None = None) -> list[RecoveryRow]:
        marks = ", ".join("?" for _ in states or ())
        rows = self._where("recoveries", "id", (f"state IN ({marks})", states))
        return [RecoveryRow(**dict(r)) for r in rows]

    def episode_open(self, fingerprint: str, starts_at: str) -> bool:
        rows = self._rows(
            "SELECT 1 FROM episodes WHERE fingerprint = ? AND starts_at = ?"
            " AND resolved_at IS NULL",
            fingerprint,
            starts_at,
        )
        return bool(rows)

    # -- the circuit breaker's pauses ----------------------------------------
    def pause(self, swarm_type: str, cls: str, error: str, at: float) -> bool:
        """Pause the type; False if it was paused already (idempotent)."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO pauses (type, class, error, since) VALUES (?, ?, ?, ?)",
                (swarm_type, cls, error, at),
            )
            return cur.rowcount == 1

    def resume(self, swarm_type: str) -> Pause | None:
        """Lift the type's pause; the pause lifted, or None if it was not paused."""
        with self._tx() as db:
            row = db.execute("SELECT * FROM pauses WHERE type = ?", (swarm_type,)).fetchone()
            db.execute("DELETE FROM pauses WHERE type = ?", (swarm_type,))
        return None if row is None else _pause(row)

    def pauses(self) -> list[Pause]:
        return [_pause(r) for r in self._rows("SELECT * FROM pauses ORDER BY since")]

    def tell_once_about_pause(self, swarm_type: str, since: float, at: float) -> bool:
        """True only the first time it is asked for this pause: a person is told once."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE pauses SET told_at = ? WHERE type = ? AND since = ? AND told_at IS NULL",
                (at, swarm_type, since),
            )
            return cur.rowcount == 1

    def ended_swarms(self, since: float = 0.0) -> list[SwarmRow]:
        """Swarms that ended at `since` or later (reports over a day or half an hour)."""
        rows = self._rows("SELECT * FROM swarms WHERE state != 'running' AND ended_at >= ?", since)
        return [SwarmRow(**dict(r)) for r in rows]

    def finished(
        self, buckets: tuple[float, ...]
    ) -> list[tuple[str, int, str, int, float, list[int]]]:
        """Ended swarms by (type, size, state): count, total duration, and how many
        lasted at most each bucket, counted by SQL (the cost does not grow in Python)."""
        cols = ", ".join(
            f"SUM(CASE WHEN ended_at - created_at <= {float(b)!r} THEN 1 ELSE 0 END)"
            for b in buckets
        )
        rows = self._rows(
            f"SELECT type, size, state, COUNT(*), COALESCE(SUM(ended_at - created_at), 0), {cols}"  # noqa: S608  (numbers are ours)
            " FROM swarms WHERE state != 'running' GROUP BY type, size, state"
        )
        return [
            (r[0], int(r[1]), r[2], int(r[3]), float(r[4]), [int(v) for v in tuple(r)[5:]])
            for r in rows
        ]

    def swarm_results(self, since: float = 0.0) -> list[tuple[str, int, int, int, float]]:
        """(type, size, runs, succeeded, spend) of swarms that ended since `since` (L1, L3, L5)."""
        rows = self._rows(
            "SELECT s.type, s.size, COUNT(*), SUM(s.state = 'succeeded'),"
            " COALESCE(SUM(l.spent), 0) FROM swarms s LEFT JOIN"
            " (SELECT swarm_id, SUM(amount_usd) AS spent FROM ledger GROUP BY swarm_id) l"
            " ON l.swarm_id = s.id WHERE s.state != 'running' AND s.created_at >= ?"
            " GROUP BY s.type, s.size ORDER BY s.type, s.size",
            since,
        )
        return [(r[0], int(r[1]), int(r[2]), int(r[3]), float(r[4])) for r in rows]

    # -- ledger -----------------------------------------------------------
    def spend(self, period: str) -> float:
        rows = self._rows(
            "SELECT COALESCE(SUM(amount_usd), 0) FROM ledger WHERE period = ?", period
        )
        return float(rows[0][0])

    def spend_between(self, start: float, end: float) -> float:
        """Everything charged in [start, end): a day's, week's or month's ceiling."""
        rows = self._rows(
            "SELECT COALESCE(SUM(amount_usd), 0) FROM ledger WHERE at >= ? AND at < ?", start, end
        )
        return float(rows[0][0])

    def spend_by_type(self) -> dict[str, float]:
        rows = self._rows("SELECT type, SUM(amount_usd) FROM ledger GROUP BY type")
        return {r[0]: float(r[1]) for r in rows}

    def spend_by_swarm(self) -> dict[str, float]:
        rows = self._rows("SELECT swarm_id, SUM(amount_usd) FROM ledger GROUP BY swarm_id")
        return {r[0]: float(r[1]) for r in rows}

    def prune(self, before: float, keep_decisions: int = 1000) -> list[str]:
        """J7: drop handled webhook bodies, old decisions (keeping the newest) and the
        contexts of swarms that ended before `before`; returns those swarms' ids, whose
        files may go too. Rows and the ledger stay: every sum is still exact."""
        with self._tx() as db:
            db.execute("DELETE FROM inbox WHERE done = 1 AND received_at < ?", (before,))
            db.execute(
                "DELETE FROM decisions WHERE at < ? AND id NOT IN"
                " (SELECT id FROM decisions ORDER BY id DESC LIMIT ?)",
                (before, keep_decisions),
            )
            ids = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM swarms WHERE state != 'running' AND ended_at < ?"
                    " AND context_file != ''",
                    (before,),
                )
            ]
            db.execute(
                "UPDATE swarms SET context = '', context_file = '' WHERE state != 'running'"
                " AND ended_at < ? AND context_file != ''",
                (before,),
            )
        return ids

    def swarm_spend(self, swarm_id: str) -> float:
        rows = self._rows(
            "SELECT COALESCE(SUM(amount_usd), 0) FROM ledger WHERE swarm_id = ?", swarm_id
        )
        return float(rows[0][0])

    # -- webhook inbox and firing episodes ---------------------------------
    def add_inbox(self, body: bytes, at: float) -> int:
        """Keep an accepted webhook body; it is answered 2xx only after this returns."""
        with self._tx() as db:
            cur = db.execute("INSERT INTO inbox (received_at, body) VALUES (?, ?)", (at, body))
            return int(cur.lastrowid or 0)

    def pending_inbox(self, limit: int = -1) -> list[tuple[int, bytes]]:
        """The oldest bodies not yet handled, at most `limit` (-1: all)."""
        return [
            (r[0], bytes(r[1]))
            for r in self._rows(
                "SELECT id, body FROM inbox WHERE done = 0 ORDER BY id LIMIT ?", limit
            )
        ]

    def dead_letter(self, inbox_id: int, at: float, error: str, alert: str) -> None:
        """Set aside an alert whose handling raised, with the error, so the next goes on."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO dead_letters (inbox_id, at, error, alert) VALUES (?, ?, ?, ?)",
                (inbox_id, at, error, alert),
            )

    def dead_letters(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = self._rows(
            "SELECT id, inbox_id, at, error, alert FROM dead_letters ORDER BY id DESC LIMIT ?",
            limit,
        )
        return [dict(r) for r in rows]

    def dead_letter_count(self) -> int:
        return int(self._rows("SELECT COUNT(*) FROM dead_letters")[0][0])

    def inbox_done(self, inbox_ids: list[int]) -> None:
        """Mark bodies handled, a batch in one transaction: a crash before it handles
        them again, which the episode and trigger records make harmless."""
        with self._tx() as db:
            db.executemany(
                "UPDATE inbox SET done = 1, body = x'' WHERE id = ?", [(i,) for i in inbox_ids]
            )

    def open_episode(
        self, fingerprint: str, starts_at: str, labels: dict[str, str], at: float
    ) -> bool:
        """Remember a firing episode; True the first time it is seen. Re-sends move
        its `last_seen` (what expiry goes by), at most once a minute: a storm of
        repeats costs reads, not a write each."""
        seen = self._rows(
            "SELECT last_seen FROM episodes WHERE fingerprint = ? AND starts_at = ?",
            fingerprint,
            starts_at,
        )
        if seen and at - float(seen[0][0]) < LAST_SEEN_EVERY:
            return False
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO episodes (fingerprint, starts_at, alertname, severity,"
                " component, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    fingerprint,
                    starts_at,
                    labels["alertname"],
                    labels.get("severity", ""),
                    labels.get("component", ""),
                    at,
                    at,
                ),
            )
            if cur.rowcount == 0:
                db.execute(
                    "UPDATE episodes SET last_seen = ? WHERE fingerprint = ? AND starts_at = ?",
                    (at, fingerprint, starts_at),
                )
            return cur.rowcount == 1

    def expire_episodes(self, now: float, stale_after: dict[str, float]) -> int:
        """Close episodes that stopped being re-sent: their resolution was missed
        (Warden was down when it came). `stale_after` is per severity, with
        "" for any other; Alertmanager re-sends firing alerts every
        repeat_interval, so twice that is safe. Writes only when one expired."""
        open_ = self._rows(
            "SELECT fingerprint, starts_at, severity, last_seen FROM episodes"
            " WHERE resolved_at IS NULL"
        )
        stale = [
            (fp, starts, seen)
            for fp, starts, severity, seen in open_
            if seen < now - stale_after.get(severity, stale_after[""])
        ]
        if not stale:
            return 0
        with self._tx() as db:
            # Only if not seen again since: a re-send may have landed in between.
            db.executemany(
                "UPDATE episodes SET resolved_at = ? WHERE fingerprint = ? AND starts_at = ?"
                " AND last_seen = ? AND resolved_at IS NULL",
                [(now, fp, starts, seen) for fp, starts, seen in stale],
            )
        return len(stale)

    def firing(self) -> list[tuple[str, str, str]]:
        """(alertname, severity, component) of every episode not yet resolved."""
        return [
            (r[0], r[1], r[2])
            for r in self._rows(
                "SELECT alertname, severity, component FROM episodes WHERE resolved_at IS NULL"
            )
        ]

    # -- crises and maintenance windows -------------------------------------
    def open_crisis_id(self) -> int | None:
        rows = self._rows("SELECT id FROM crises WHERE ended_at IS NULL")
        return int(rows[0][0]) if rows else None

    def open_crisis(self, at: float) -> int:
        """The open crisis' id, opening one at `at` if none is open."""
        rows = self._rows("SELECT id FROM crises WHERE ended_at IS NULL")
        if rows:
            return int(rows[0][0])
        with self._tx() as db:
            row = db.execute("SELECT id FROM crises WHERE ended_at IS NULL").fetchone()
            if row is not None:
                return int(row[0])
            cur = db.execute("INSERT INTO crises (started_at) VALUES (?)", (at,))
            return int(cur.lastrowid or 0)

    def close_crisis(self, at: float) -> float | None:
        """End the open crisis; its duration, or None if none was open."""
        if not self._rows("SELECT 1 FROM crises WHERE ended_at IS NULL"):
            return None
        with self._tx() as db:
            row = db.execute("SELECT id, started_at FROM crises WHERE ended_at IS NULL").fetchone()
            if row is None:
                return None
            db.execute("UPDATE crises SET ended_at = ? WHERE id = ?", (at, row[0]))
            return at - float(row[1])

    def tell_once_about_crisis(self, crisis_id: int, at: float) -> bool:
        """True only the first time it is asked for this crisis: a person is told once."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE crises SET told_at = ? WHERE id = ? AND told_at IS NULL", (at, crisis_id)
            )
            return cur.rowcount == 1

    def crisis_durations(self) -> list[float]:
        return [
            float(r[0])
            for r in self._rows(
                "SELECT ended_at - started_at FROM crises WHERE ended_at IS NOT NULL"
            )
        ]

    def last_crisis(self) -> tuple[float, float | None] | None:
        rows = self._rows("SELECT started_at, ended_at FROM crises ORDER BY id DESC LIMIT 1")
        return (float(rows[0][0]), rows[0][1]) if rows else None

    def start_maintenance(self, starts_at: float, ends_at: float) -> int:
        with self._tx() as db:
            db.execute(
                "UPDATE maintenance SET ends_at = ? WHERE ends_at > ?", (starts_at, starts_at)
            )
            cur = db.execute(
                "INSERT INTO maintenance (starts_at, ends_at) VALUES (?, ?)", (starts_at, ends_at)
            )
            return int(cur.lastrowid or 0)

    def stop_maintenance(self, at: float) -> bool:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE maintenance SET ends_at = ? WHERE starts_at <= ? AND ends_at > ?",
                (at, at, at),
            )
            return cur.rowcount > 0

    def maintenance_at(self, at: float) -> tuple[int, float] | None:
        """(id, end) of the maintenance window open at `at`."""
        rows = self._rows(
            "SELECT id, ends_at FROM maintenance WHERE starts_at <= ? AND"
            " ends_at > ? ORDER BY id DESC LIMIT 1",
            at,
            at,
        )
        return (int(rows[0][0]), float(rows[0][1])) if rows else None

    def episode_acted(self, fingerprint: str, starts_at: str, outcome: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE episodes SET acted = 1, outcome = ? WHERE fingerprint = ?"
                " AND starts_at = ?",
                (outcome, fingerprint, starts_at),
            )

    def awaits_action(self, fingerprint: str, starts_at: str) -> bool:
        """An open episode seen but not yet acted upon (a crash came in between)."""
        return bool(
            self._rows(
                "SELECT 1 FROM episodes WHERE fingerprint = ? AND starts_at = ? AND acted = 0"
                " AND resolved_at IS NULL",
                fingerprint,
                starts_at,
            )
        )

    def close_episode(self, fingerprint: str, starts_at: str, at: float) -> bool:
        """Mark an episode resolved; True only the first time."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE episodes SET resolved_at = ? WHERE fingerprint = ?"
                " AND starts_at = ? AND resolved_at IS NULL",
                (at, fingerprint, starts_at),
            )
            return cur.rowcount == 1

    def episode_counts(self) -> dict[str, int]:
        """Firing episodes by alert name, ever (L2)."""
        return {
            r[0]: int(r[1])
            for r in self._rows("SELECT alertname, COUNT(*) FROM episodes GROUP BY alertname")
        }

    def swarms_by_trigger(self, trigger: str) -> list[SwarmRow]:
        rows = self._rows("SELECT * FROM swarms WHERE trigger = ?", trigger)
        return [SwarmRow(**dict(r)) for r in rows]

    # -- decisions --------------------------------------------------------
    def log_decision(self, kind: str, detail: dict[str, Any], at: float | None = None) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO decisions (at, kind, detail) VALUES (?, ?, ?)",
                (time.time() if at is None else at, kind, json.dumps(detail, sort_keys=True)),
            )

    def count_decisions(self, kind: str, after_id: int) -> tuple[int, int]:
        """(decisions of `kind` logged after `after_id`, the newest id of any kind)."""
        rows = self._rows(
            "SELECT COALESCE(SUM(kind = ?), 0), COALESCE(MAX(id), ?) FROM decisions WHERE id > ?",
            kind,
            after_id,
            after_id,
        )
        return int(rows[0][0]), int(rows[0][1])

    def refusal_counts(self) -> dict[str, int]:
        """Refusals logged, by reason, whichever responder logged them."""
        rows = self._rows(
            "SELECT json_extract(detail, '$.reason'), COUNT(*) FROM decisions"
            " WHERE kind = 'refused' GROUP BY 1"
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def duplicate_triggers(self) -> list[str]:
        """Alert actions that started more than one swarm: an episode acted on twice."""
        rows = self._rows(
            "SELECT trigger FROM swarms WHERE trigger LIKE 'alert:%'"
            " GROUP BY trigger HAVING COUNT(*) > 1"
        )
        return [r[0] for r in rows]

    def decisions(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._rows("SELECT * FROM decisions ORDER BY id DESC LIMIT ?", limit)
        return [{"at": r["at"], "kind": r["kind"], **json.loads(r["detail"])} for r in rows]


@dataclass
class LedgerEntry:
    agent_id: str
    swarm_id: str
    type: str
    period: str
    amount_usd: float
    estimated: int
    at: float
    reported_usd: float | None = None
    """What the agent reported, when that was more than its cap (it was charged the cap)."""


def _insert(table: str, row: object, verb: str = "") -> str:
    """INSERT of every field of a row dataclass, by column name (migrations add columns)."""
    names = list(vars(row))
    return (
        f"INSERT {verb} INTO {table} ({', '.join(names)})"  # noqa: S608  (names are ours)
        f" VALUES ({', '.join(':' + n for n in names)})"
    )


def _pause(row: sqlite3.Row) -> Pause:
    return Pause(row["type"], row["class"], row["error"], row["since"], row["told_at"])
