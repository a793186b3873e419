"""Durable state of the responder: swarms, agents, spend ledger, decisions, episodes.

Every change is one transaction that happens whole or not at all, also when
the process is SIGKILLed mid-write; every write here is a single `with
self._tx()` block. The queries are SQLAlchemy Core over `responder.state.schema`,
one text for SQLite and PostgreSQL (`responder.database` says which engine
and how it is set up and migrated). A file that is not a Warden database,
or is empty (a 0-byte file is what a failed copy or a full disk leaves), is
refused with a message naming it: starting afresh would forget the day's
spend.

Readers that only look (`warden swarm list`, `warden budget`, the reports)
open the store read-only and can change nothing.
"""

from __future__ import annotations

from pathlib import Path

from responder.state.crises import CrisisTables
from responder.state.decisions import DecisionTables
from responder.state.episodes import EpisodeTables
from responder.state.errors import StoreError
from responder.state.ledger import LedgerTables
from responder.state.rows import AgentRow, ClaimState, LedgerEntry, Pause, RecoveryRow, SwarmRow
from responder.state.swarms import SwarmTables
from warden.config import Config

__all__ = [
    "AgentRow",
    "ClaimState",
    "LedgerEntry",
    "Pause",
    "RecoveryRow",
    "Store",
    "StoreError",
    "SwarmRow",
    "open_store",
]


class Store(SwarmTables, EpisodeTables, LedgerTables, CrisisTables, DecisionTables):
    """The state, on the engine `target` names: a SQLite file (a path) or a
    PostgreSQL URL. One database layer (`responder.state.base`), each kind of
    state in a module of its own (swarms and agents, episodes and claims, the
    ledger, crises, decisions); their tables are `responder.state.schema`'s."""


def open_store(config: Config, read_only: bool = False) -> Store:
    """The store `config` names: `responder.database` (PostgreSQL), else SQLite in state_dir."""
    target, password = store_target(config)
    return Store(target, read_only, password)


def store_target(config: Config) -> tuple[Path | str, str | None]:
    """The database `config` names (a SQLite file or a PostgreSQL URL) and its
    password, read from `responder.database_password_file` (None: libpq's own ways)."""
    r = config.responder
    if r.database is None:
        return config.state_dir / "warden.db", None
    password = None
    if r.database_password_file is not None:
        try:
            password = r.database_password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise StoreError(
                f"responder.database_password_file {r.database_password_file}: {exc.strerror}"
            ) from exc
    return r.database, password
