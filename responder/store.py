"""Durable state of the swarm runtime in SQLite: swarms, agents, spend ledger, decisions.

Why SQLite in WAL mode: every change is one transaction that either happens
whole or not at all, also when the process is SIGKILLed mid-write; readers
(metrics, the CLI in another process) never block the writer. Every write
here is a single `with self._tx()` block.
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


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)

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

    def _rows(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._db.execute(sql, args))

    # -- swarms -----------------------------------------------------------
    def add_swarm(self, swarm: SwarmRow, agents: list[AgentRow]) -> None:
        """A swarm and its first agents appear together or not at all."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO swarms VALUES (:id, :type, :priority, :size, :trigger, :context,"
                " :context_file, :budget_usd, :period, :state, :reason, :created_at, :ended_at)",
                vars(swarm),
            )
            for a in agents:
                self._insert_agent(db, a)

    def swarm(self, swarm_id: str) -> SwarmRow | None:
        rows = self._rows("SELECT * FROM swarms WHERE id = ?", swarm_id)
        return SwarmRow(**dict(rows[0])) if rows else None

    def swarms(self, state: str | None = None) -> list[SwarmRow]:
        if state is None:
            rows = self._rows("SELECT * FROM swarms ORDER BY created_at")
        else:
            rows = self._rows("SELECT * FROM swarms WHERE state = ? ORDER BY created_at", state)
        return [SwarmRow(**dict(r)) for r in rows]

    def end_swarm(self, swarm_id: str, state: str, reason: str, at: float) -> bool:
        """Mark a running swarm ended; False if it had already ended (idempotent)."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE swarms SET state = ?, reason = ?, ended_at = ?"
                " WHERE id = ? AND state = 'running'",
                (state, reason, at, swarm_id),
            )
            return cur.rowcount == 1

    # -- agents -----------------------------------------------------------
    @staticmethod
    def _insert_agent(db: sqlite3.Connection, a: AgentRow) -> None:
        db.execute(
            "INSERT INTO agents VALUES (:id, :swarm_id, :slot, :attempt, :state, :pid,"
            " :start_time, :log_path, :log_offset, :started_at, :first_output_at,"
            " :last_progress_at, :ended_at, :retry_at, :exit_code, :death_reason,"
            " :result_error, :cost_usd)",
            vars(a),
        )

    def add_agent(self, a: AgentRow) -> None:
        with self._tx() as db:
            self._insert_agent(db, a)

    def agent(self, agent_id: str) -> AgentRow | None:
        rows = self._rows("SELECT * FROM agents WHERE id = ?", agent_id)
        return AgentRow(**dict(rows[0])) if rows else None

    def agents(self, swarm_id: str | None = None, states: tuple[str, ...] = ()) -> list[AgentRow]:
        sql, args = "SELECT * FROM agents WHERE 1=1", []
        if swarm_id is not None:
            sql += " AND swarm_id = ?"
            args.append(swarm_id)
        if states:
            sql += f" AND state IN ({', '.join('?' * len(states))})"
            args.extend(states)
        return [AgentRow(**dict(r)) for r in self._rows(sql + " ORDER BY slot, attempt", *args)]

    def update_agent(self, agent_id: str, **fields: Any) -> None:
        cols = ", ".join(f"{k} = :{k}" for k in fields)
        with self._tx() as db:
            db.execute(f"UPDATE agents SET {cols} WHERE id = :id", {**fields, "id": agent_id})  # noqa: S608  (column names are ours)

    def end_agent(self, agent_id: str, ledger: LedgerEntry | None, **fields: Any) -> None:
        """The agent's end and its spend are written in one transaction."""
        cols = ", ".join(f"{k} = :{k}" for k in fields)
        with self._tx() as db:
            db.execute(f"UPDATE agents SET {cols} WHERE id = :id", {**fields, "id": agent_id})  # noqa: S608  (column names are ours)
            if ledger is not None:
                db.execute(
                    "INSERT OR IGNORE INTO ledger VALUES (:agent_id, :swarm_id, :type, :period,"
                    " :amount_usd, :estimated, :at)",
                    vars(ledger),
                )

    def death_counts(self) -> dict[tuple[str, str], int]:
        """(swarm type, death reason) -> agents that died so, ever."""
        rows = self._rows(
            "SELECT s.type, a.death_reason, COUNT(*) FROM agents a JOIN swarms s"
            " ON a.swarm_id = s.id WHERE a.death_reason IS NOT NULL GROUP BY 1, 2"
        )
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def ended_swarms(self) -> list[SwarmRow]:
        rows = self._rows("SELECT * FROM swarms WHERE state != 'running'")
        return [SwarmRow(**dict(r)) for r in rows]

    # -- ledger -----------------------------------------------------------
    def spend(self, period: str) -> float:
        rows = self._rows(
            "SELECT COALESCE(SUM(amount_usd), 0) FROM ledger WHERE period = ?", period
        )
        return float(rows[0][0])

    def spend_by_type(self) -> dict[str, float]:
        rows = self._rows("SELECT type, SUM(amount_usd) FROM ledger GROUP BY type")
        return {r[0]: float(r[1]) for r in rows}

    def spend_by_swarm(self) -> dict[str, float]:
        rows = self._rows("SELECT swarm_id, SUM(amount_usd) FROM ledger GROUP BY swarm_id")
        return {r[0]: float(r[1]) for r in rows}

    def prune(self, before: float, keep_decisions: int = 1000) -> None:
        """J7: drop handled webhook bodies and old decisions, keeping the newest ones."""
        with self._tx() as db:
            db.execute("DELETE FROM inbox WHERE done = 1 AND received_at < ?", (before,))
            db.execute(
                "DELETE FROM decisions WHERE at < ? AND id NOT IN"
                " (SELECT id FROM decisions ORDER BY id DESC LIMIT ?)",
                (before, keep_decisions),
            )

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

    def pending_inbox(self) -> list[tuple[int, bytes]]:
        return [
            (r[0], bytes(r[1]))
            for r in self._rows("SELECT id, body FROM inbox WHERE done = 0 ORDER BY id")
        ]

    def inbox_done(self, inbox_id: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE inbox SET done = 1, body = x'' WHERE id = ?", (inbox_id,))

    def open_episode(
        self, fingerprint: str, starts_at: str, labels: dict[str, str], at: float
    ) -> bool:
        """Remember a firing episode; True the first time it is seen. Every
        notification of it (re-sends included) moves its `last_seen`."""
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
        repeat_interval, so twice that is safe."""
        with self._tx() as db:
            open_ = db.execute(
                "SELECT fingerprint, starts_at, severity, last_seen FROM episodes"
                " WHERE resolved_at IS NULL"
            ).fetchall()
            stale = [
                (fp, starts)
                for fp, starts, severity, seen in open_
                if seen < now - stale_after.get(severity, stale_after[""])
            ]
            db.executemany(
                "UPDATE episodes SET resolved_at = ? WHERE fingerprint = ? AND starts_at = ?",
                [(now, fp, starts) for fp, starts in stale],
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
    def open_crisis(self, at: float) -> int:
        """The open crisis' id, opening one at `at` if none is open."""
        with self._tx() as db:
            row = db.execute("SELECT id FROM crises WHERE ended_at IS NULL").fetchone()
            if row is not None:
                return int(row[0])
            cur = db.execute("INSERT INTO crises (started_at) VALUES (?)", (at,))
            return int(cur.lastrowid or 0)

    def close_crisis(self, at: float) -> float | None:
        """End the open crisis; its duration, or None if none was open."""
        with self._tx() as db:
            row = db.execute("SELECT id, started_at FROM crises WHERE ended_at IS NULL").fetchone()
            if row is None:
                return None
            db.execute("UPDATE crises SET ended_at = ? WHERE id = ?", (at, row[0]))
            return at - float(row[1])

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
