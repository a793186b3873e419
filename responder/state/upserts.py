"""The writes each dialect spells its own way: INSERT ... ON CONFLICT (SQLite's and
PostgreSQL's upserts), built once per dialect; the store picks its engine's."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Table, bindparam, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from responder.state import schema as t


@cache
def insert_ignore_pg(table: Table) -> Insert:
    return postgresql.insert(table).on_conflict_do_nothing().returning(*table.primary_key)


@cache
def insert_ignore_sqlite(table: Table) -> Insert:
    return sqlite.insert(table).on_conflict_do_nothing().returning(*table.primary_key)


def _take_lease(dialect: Any) -> Insert:
    """Take or renew a lease: a new row, or the existing one if it is ours or lapsed
    (an upsert whose update is conditional; RETURNING says whether it happened)."""
    stmt = dialect.insert(t.leases).values(
        name=bindparam("name"), holder=bindparam("me"), until=bindparam("until")
    )
    upsert: Insert = stmt.on_conflict_do_update(
        index_elements=[t.leases.c.name],
        set_={"holder": stmt.excluded.holder, "until": stmt.excluded.until},
        where=or_(t.leases.c.holder == bindparam("me"), t.leases.c.until < bindparam("now")),
    ).returning(t.leases.c.holder)
    return upsert


TAKE_LEASE = {"postgresql": _take_lease(postgresql), "sqlite": _take_lease(sqlite)}


def _add_inbox(dialect: Any) -> Insert:
    """Store a body unless a copy of it still waits (RETURNING its id only if stored):
    Alertmanager sends each notification to every responder of a fleet at once."""
    stmt: Insert = (
        dialect.insert(t.inbox)
        .values(
            received_at=bindparam("at"),
            body=bindparam("body"),
            responder=bindparam("responder"),
            digest=bindparam("digest"),
        )
        .on_conflict_do_nothing(index_elements=[t.inbox.c.digest], index_where=t.INBOX_WAITING)
        .returning(t.inbox.c.id)
    )
    return stmt


ADD_INBOX = {"postgresql": _add_inbox(postgresql), "sqlite": _add_inbox(sqlite)}


def _bump(dialect: Any) -> Insert:
    """Move a kind's serial by one (its first write makes it 1); RETURNING the new one."""
    stmt = dialect.insert(t.changes).values(kind=bindparam("kind"), serial=1)
    upsert: Insert = stmt.on_conflict_do_update(
        index_elements=[t.changes.c.kind], set_={"serial": t.changes.c.serial + 1}
    ).returning(t.changes.c.serial)
    return upsert


BUMP = {"postgresql": _bump(postgresql), "sqlite": _bump(sqlite)}
