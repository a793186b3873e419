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

import itertools
import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    Connection,
    Row,
    Select,
    Table,
    Update,
    bindparam,
    case,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.sql import ClauseElement, ColumnElement, Executable
from sqlalchemy.sql.dml import Insert, UpdateBase
from sqlalchemy.sql.util import find_tables

from responder.model import LIVE_AGENT_STATES as LIVE_STATES
from responder.state import schema as t
from responder.state.database import (
    check_current,
    describe,
    engine_for,
    is_postgresql,
    migrate,
    unusable,
)
from responder.state.errors import StoreError, StoreUnavailable
from warden.config import Config
from warden.rfc3339 import instant

AnyRow = Row[*tuple[Any, ...]]
"""A result row of any width."""

__all__ = ["AgentRow", "LedgerEntry", "Pause", "RecoveryRow", "Store", "StoreError", "SwarmRow"]

log = logging.getLogger(__name__)
VIEW_SECONDS = 1.0
"""How long a thread's reads in `one_view` stand while this process writes none of
their tables: how late another process's writes may be seen outside admission."""
ANY_TABLE = "*"
"""Written by a statement whose tables are not known: every read reads it."""
SPAWN_LOCK = 0x5741_5244_4E53  # the advisory lock of spawn_guard
LAST_SEEN_EVERY = 60.0
GUESSED_CLOSES = ("expired", "reconciled")
"""How an episode may have been closed without its resolution: undone if it fires."""
EPISODE_SKEW_SECONDS = 60.0
"""Alerts of one fingerprint starting this close are one firing episode: a Prometheus
pair's replicas evaluate a rule at most one group interval (and a scrape) apart. A
re-firing whose resolution was lost is a new episode only past this."""
"""An episode's `last_seen` is written at most this often (expiry takes 12 minutes)."""


@dataclass(frozen=True)
class ClaimState:
    acted: int
    resolved_at: float | None
    claimed_by: str
    lease_until: float
    host: str


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
    """The class of the failure that failed it (responder.rules.failures)."""


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
    cost_refused: str | None = None
    """What the run reported as its cost when that was not one (it was charged its cap)."""


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
    """How the command ended: responder.act.recovery.OUTCOMES."""
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


def open_store(config: Config, read_only: bool = False) -> Store:
    """The store `config` names: `responder.database` (PostgreSQL), else SQLite in state_dir."""
    r = config.responder
    if r.database is None:
        return Store(config.state_dir / "warden.db", read_only)
    password = None
    if r.database_password_file is not None:
        try:
            password = r.database_password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise StoreError(
                f"responder.database_password_file {r.database_password_file}: {exc.strerror}"
            ) from exc
    return Store(r.database, read_only, password)


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """SUM of 1 per row meeting `condition` (PostgreSQL does not sum booleans)."""
    return func.sum(case((condition, 1), else_=0))


S, A, L, IN, E = t.swarms.c, t.agents.c, t.ledger.c, t.inbox.c, t.episodes.c
C, M, D, P, R = t.crises.c, t.maintenance.c, t.decisions.c, t.pauses.c, t.recoveries.c
AGENT_SWARM = t.agents.join(t.swarms, A.swarm_id == S.id)


def _param(name: str) -> BindParameter[Any]:
    return bindparam(name)


def _list(name: str) -> BindParameter[Any]:
    """A parameter that takes a list (IN)."""
    return bindparam(name, expanding=True)


@cache
def _filtered(table: Table, order: tuple[str, ...], *keys: str) -> Select[Any]:
    """SELECT of `table` with one condition per key given (`states`: a list), built
    once per combination: statements are built at most once, then only executed."""
    query = select(table).order_by(*(table.c[o] for o in order))
    for key in keys:
        if key == "states":
            query = query.where(table.c.state.in_(_list("states")))
        elif key == "since":
            query = query.where(table.c.created_at >= _param("since"))
        else:
            query = query.where(table.c[key] == _param(key))
    return query


def _agent_counts(column: ColumnElement[Any]) -> Select[Any]:
    """(swarm type, the agent's `column`, agents with it set)."""
    return (
        select(S.type, column, func.count())
        .select_from(AGENT_SWARM)
        .where(column.is_not(None))
        .group_by(S.type, column)
    )


def _spent(*where: ColumnElement[bool]) -> Select[Any]:
    return select(func.coalesce(func.sum(L.amount_usd), 0.0)).where(*where)


def _spent_by(column: ColumnElement[str]) -> Select[str, Any]:
    return select(column, func.sum(L.amount_usd)).group_by(column)


_SPENT_PER_SWARM = select(L.swarm_id, func.sum(L.amount_usd).label("spent")).group_by(L.swarm_id)
_SPENT_PER_SWARM_Q = _SPENT_PER_SWARM.subquery()
_OLD_CONTEXTS = (S.state != "running", S.ended_at < _param("before"), S.context_file != "")
_THIS_EPISODE = (E.fingerprint == _param("fp"), E.starts_at == _param("starts"))


class Q:
    """Every statement the store runs, built once (SQLAlchemy then only executes them:
    building a statement costs several times what SQLite takes to run it)."""

    swarm = select(t.swarms).where(S.id == _param("id"))
    spawn_lock = select(func.pg_advisory_xact_lock(SPAWN_LOCK))
    count_running = select(func.count()).where(S.state == "running")
    committed = (
        select(func.coalesce(func.sum(S.budget_usd), 0.0))
        .select_from(AGENT_SWARM)
        .where(A.state.in_(_list("states")))
    )
    end_counts = _agent_counts(A.end_reason)
    death_counts = _agent_counts(A.death_reason)
    failure_counts = _agent_counts(A.failure_class)
    refused_cost_counts = (
        select(S.type, func.count())
        .select_from(AGENT_SWARM)
        .where(A.cost_refused.is_not(None))
        .group_by(S.type)
    )
    release = tuple(
        update(x).where(x.c.owner == _param("old")).values(owner=_param("new_owner"))
        for x in (t.swarms, t.agents)
    )
    take_over = (
        update(t.swarms).where(S.id.in_(_list("ids"))).values(owner=_param("new_owner")),
        update(t.agents).where(A.swarm_id.in_(_list("ids"))).values(owner=_param("new_owner")),
    )
    live_agent_ids = select(A.id).where(A.state.in_(_list("states")))
    end_swarm = (
        update(t.swarms)
        .where(S.id == _param("row_id"), S.state == "running")
        .values(
            state=_param("new_state"),
            reason=_param("new_reason"),
            ended_at=_param("at"),
            failure_class=_param("failure"),
        )
    )
    agent = select(t.agents).where(A.id == _param("id"))
    last_runs = (
        select(A.state, A.failure_class, A.failure_text)
        .select_from(AGENT_SWARM)
        .where(S.type == _param("type"), A.state.in_(("succeeded", "failed")))
        .order_by(A.ended_at.desc())
        .limit(_param("n"))
    )
    recovery = select(t.recoveries).where(R.id == _param("id"))
    recovery_counts = select(R.name, R.outcome, R.state, func.count()).group_by(
        R.name, R.outcome, R.state
    )
    episode_open = select(E.fingerprint).where(*_THIS_EPISODE, E.resolved_at.is_(None))
    open_starts = select(E.starts_at).where(E.fingerprint == _param("fp"), E.resolved_at.is_(None))
    resume = delete(t.pauses).where(P.type == _param("type")).returning(*t.pauses.c)
    pauses = select(t.pauses).order_by(P.since)
    tell_pause = (
        update(t.pauses)
        .where(P.type == _param("paused"), P.since == _param("paused_since"), P.told_at.is_(None))
        .values(told_at=_param("at"))
    )
    ended_swarms = select(t.swarms).where(S.state != "running", S.ended_at >= _param("since"))
    type_outcomes = select(S.created_at, S.state).where(
        S.type == _param("type"), S.state.in_(("succeeded", "failed"))
    )
    episodes_since = (
        select(E.alertname, func.count())
        .where(E.first_seen >= _param("since"), E.first_seen < _param("until"))
        .group_by(E.alertname)
    )
    failure_classes_since = (
        select(A.failure_class, func.count())
        .where(
            A.failure_class.is_not(None),
            A.ended_at >= _param("since"),
            A.ended_at < _param("until"),
        )
        .group_by(A.failure_class)
    )
    failed_contexts = select(S.context).where(
        S.state == "failed", S.ended_at >= _param("since"), S.ended_at < _param("until")
    )
    swarm_results = (
        select(
            S.type,
            S.size,
            func.count(),
            _count_if(S.state == "succeeded"),
            func.coalesce(func.sum(_SPENT_PER_SWARM_Q.c.spent), 0.0),
        )
        .select_from(t.swarms.outerjoin(_SPENT_PER_SWARM_Q, _SPENT_PER_SWARM_Q.c.swarm_id == S.id))
        .where(S.state != "running", S.created_at >= _param("since"))
        .group_by(S.type, S.size)
        .order_by(S.type, S.size)
    )
    _latest_of_work = (
        select(
            S.type,
            S.size,
            S.state,
            func.coalesce(_SPENT_PER_SWARM_Q.c.spent, 0.0).label("spent"),
            func.row_number()
            .over(partition_by=(S.type, S.size), order_by=(S.ended_at.desc(), S.id))
            .label("newest"),
        )
        .select_from(t.swarms.outerjoin(_SPENT_PER_SWARM_Q, _SPENT_PER_SWARM_Q.c.swarm_id == S.id))
        .where(
            S.state.in_(("succeeded", "failed")),
            or_(S.trigger.like(_param("alert")), S.trigger.like(_param("job"))),
        )
        .subquery()
    )
    work_tried = (
        select(S.type, S.size)
        .where(or_(S.trigger.like(_param("alert")), S.trigger.like(_param("job"))))
        .distinct()
    )
    work_results = select(
        _latest_of_work.c.type,
        _latest_of_work.c.size,
        _latest_of_work.c.state,
        _latest_of_work.c.spent,
    ).where(_latest_of_work.c.newest <= _param("window"))
    spend = _spent(L.period == _param("period"))
    spend_between = _spent(L.at >= _param("start"), L.at < _param("end"))
    charges_between = select(L.at, L.period, L.amount_usd).where(
        L.at >= _param("start"), L.at < _param("end")
    )
    swarm_spend = _spent(L.swarm_id == _param("id"))
    spend_by_type = _spent_by(L.type)
    spend_by_swarm = _spent_by(L.swarm_id)
    prune_inbox = delete(t.inbox).where(IN.done == 1, IN.received_at < _param("before"))
    prune_decisions = delete(t.decisions).where(
        D.at < _param("before"),
        D.id.not_in(select(D.id).order_by(D.id.desc()).limit(_param("keep")).scalar_subquery()),
    )
    old_contexts = select(S.id).where(*_OLD_CONTEXTS)
    drop_contexts = update(t.swarms).where(*_OLD_CONTEXTS).values(context="", context_file="")
    add_inbox = (
        insert(t.inbox)
        .values(received_at=_param("at"), body=_param("body"), responder=_param("responder"))
        .returning(IN.id)
    )
    # Bodies of an earlier release have no responder: whoever comes first handles them.
    all_pending_inbox = (
        select(IN.id, IN.body)
        .where(IN.done == 0, IN.responder.in_((_param("responder"), "")))
        .order_by(IN.id)
    )
    pending_inbox = all_pending_inbox.where(IN.id > _param("after")).limit(_param("limit"))
    dead_letter = insert(t.dead_letters)
    dead_letters = (
        select(*t.dead_letters.c).order_by(t.dead_letters.c.id.desc()).limit(_param("limit"))
    )
    dead_letter_count = select(func.count()).select_from(t.dead_letters)
    inbox_done = update(t.inbox).where(IN.id.in_(_list("ids"))).values(done=1, body=b"")
    last_seen = select(E.last_seen, E.closed_by).where(*_THIS_EPISODE)
    reopen = (
        update(t.episodes)
        .where(*_THIS_EPISODE, E.closed_by.in_(GUESSED_CLOSES))
        .values(resolved_at=None, closed_by=None, last_seen=_param("at"))
    )
    see_again = update(t.episodes).where(*_THIS_EPISODE).values(last_seen=_param("at"))
    open_episodes = select(E.fingerprint, E.starts_at, E.severity, E.last_seen).where(
        E.resolved_at.is_(None)
    )
    expire = (
        update(t.episodes)
        .where(*_THIS_EPISODE, E.last_seen == _param("seen"), E.resolved_at.is_(None))
        .values(resolved_at=_param("now"), closed_by="expired")
    )
    firing = select(E.alertname, E.severity, E.component).where(E.resolved_at.is_(None))
    open_crisis = select(C.id, C.started_at).where(C.ended_at.is_(None)).order_by(C.id).limit(1)
    add_crisis = insert(t.crises).values(started_at=_param("at")).returning(C.id)
    # Every open one: a database of an earlier release may hold two (opened together).
    end_crisis = update(t.crises).where(C.ended_at.is_(None)).values(ended_at=_param("at"))
    tell_crisis = (
        update(t.crises)
        .where(C.id == _param("row_id"), C.told_at.is_(None))
        .values(told_at=_param("at"))
    )
    crisis_durations = select(C.ended_at - C.started_at).where(C.ended_at.is_not(None))
    crises_between = (
        select(C.started_at, C.ended_at)
        .where(C.started_at >= _param("start"), C.started_at < _param("end"))
        .order_by(C.started_at)
    )
    last_crisis = select(C.started_at, C.ended_at).order_by(C.id.desc()).limit(1)
    cut_maintenance = (
        update(t.maintenance).where(M.ends_at > _param("at")).values(ends_at=_param("at"))
    )
    add_maintenance = (
        insert(t.maintenance)
        .values(starts_at=_param("starts"), ends_at=_param("ends"))
        .returning(M.id)
    )
    stop_maintenance = (
        update(t.maintenance)
        .where(M.starts_at <= _param("at"), M.ends_at > _param("at"))
        .values(ends_at=_param("at"))
    )
    maintenance_at = (
        select(M.id, M.ends_at)
        .where(M.starts_at <= _param("at"), M.ends_at > _param("at"))
        .order_by(M.id.desc())
        .limit(1)
    )
    acted = (
        update(t.episodes)
        .where(*_THIS_EPISODE, E.acted == 0)
        .values(acted=1, outcome=_param("new_outcome"))
    )
    claim_state = select(E.acted, E.resolved_at, E.claimed_by, E.lease_until, E.host).where(
        *_THIS_EPISODE
    )
    _claimable = (
        E.acted == 0,
        E.resolved_at.is_(None),
        E.host.in_(("", _param("instance"))),
        or_(E.claimed_by.in_(("", _param("me"))), E.lease_until < _param("now")),
    )
    claim = (
        update(t.episodes)
        .where(*_THIS_EPISODE, *_claimable)
        .values(claimed_by=_param("me"), lease_until=_param("until"))
    )
    renew_claims = (
        update(t.episodes)
        .where(E.claimed_by == _param("me"), E.acted == 0, E.resolved_at.is_(None))
        .values(lease_until=_param("until"))
    )
    # An unclaimed episode is reserved for its receiver for one lease (the time
    # between its insert and its claim), so takeovers take only what was dropped.
    unclaimed = (
        select(E.claimed_by, E.alert)
        .where(
            *_claimable,
            E.alert != "",
            or_(E.claimed_by == _param("me"), E.lease_until < _param("now")),
        )
        .order_by(E.first_seen)
    )
    close_episode = (
        update(t.episodes)
        .where(*_THIS_EPISODE, E.resolved_at.is_(None))
        .values(resolved_at=_param("at"), closed_by=_param("by"))
    )
    episode_counts = select(E.alertname, func.count()).group_by(E.alertname)
    by_trigger = select(t.swarms).where(S.trigger == _param("trigger"))
    log_decision = insert(t.decisions)
    count_decisions = select(
        func.coalesce(_count_if(D.kind == _param("kind")), 0),
        func.coalesce(func.max(D.id), _param("after")),
    ).where(D.id > _param("after"))
    _refusals = (
        select(D.detail["reason"].as_string().label("reason")).where(D.kind == "refused").subquery()
    )
    refusal_counts = select(_refusals.c.reason, func.count()).group_by(_refusals.c.reason)
    duplicate_triggers = (
        select(S.trigger)
        .where(S.trigger.like("alert:%"))
        .group_by(S.trigger)
        .having(func.count() > 1)
    )
    decisions = select(D.at, D.kind, D.detail).order_by(D.id.desc()).limit(_param("limit"))


class Store:
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
        """Table -> a mark new at each committed write to it (`one_view`'s reads)."""
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
        # SQLite has one writer at a time: this process's writers queue here and
        # are woken at once, instead of polling the file lock in SQLite's busy
        # handler (which sleeps up to 100 ms between tries). PostgreSQL locks rows.
        self._writer: AbstractContextManager[Any] = (
            nullcontext() if self.shared else threading.Lock()
        )
        self._outages = 0
        """Outages seen: a connection opened before the latest is opened again."""
        self._opened: list[Connection] = []
        self._opened_lock = threading.Lock()  # held only to list a new connection

    def close(self) -> None:
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()
        self.engine.dispose()

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
    def _tx(self) -> Iterator[Connection]:
        """One atomic write transaction; rolled back whole if anything in it fails.
        Inside `spawn_guard` (on the same thread) it joins the guard's transaction."""
        with self._reaching("write") as conn:
            if conn.in_transaction():
                yield conn
                return
            writing: set[str] = set()
            self._local.writing = writing
            with self._writer, conn.begin():
                yield conn
        for name in writing:
            self._written[name] = next(self._marks)

    def _note_write(self, conn: Connection, clause: Any, *_: Any) -> None:
        """What a write transaction writes, by table (its statements' `table`); a
        statement of another kind than a DML or a SELECT may write anything."""
        if isinstance(clause, UpdateBase):
            self._local.writing.add(getattr(clause.table, "name", ANY_TABLE))
        elif not isinstance(clause, Select):
            self._local.writing.add(ANY_TABLE)

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
        row = self._rows(_budget_sums(len(windows)), **params)[0]
        return float(row[0]), float(row[1]), [float(v) for v in tuple(row)[2:]]

    @contextmanager
    def one_view(self) -> Iterator[None]:
        """Within it, this thread does not repeat a read until a table it read is
        written, or VIEW_SECONDS passed. The worker's steps and jobs read the same
        running swarms, pauses, firing alerts and budget sums many times a second,
        and most steps change none of them; this answers the repeats from memory.

        A committed write of this process (by any thread) to a table makes every
        read of that table fresh again; reads inside a write transaction (the
        admission check under `spawn_guard`) always go to the database. Writes of
        another process (a `warden` command, a responder of another host) are seen
        within VIEW_SECONDS."""
        if getattr(self._local, "viewing", False):
            yield
            return
        now = time.monotonic()
        if now - getattr(self._local, "view_since", -VIEW_SECONDS) >= VIEW_SECONDS:
            self._local.view, self._local.view_since = {}, now
        self._local.viewing = True
        try:
            yield
        finally:
            self._local.viewing = False

    def _rows(self, query: Executable, **params: Any) -> list[AnyRow]:
        writer: Connection | None = getattr(self._local, "write", None)
        if not getattr(self._local, "viewing", False) or (
            writer is not None and writer.in_transaction()
        ):
            return self._read(query, params)
        view: dict[tuple[Any, ...], tuple[tuple[int, ...], list[AnyRow]]] = self._local.view
        # The tables' write marks before the read: a write committed meanwhile
        # leaves the answer marked older than the table, so it is read again.
        marks = tuple(self._written.get(name, 0) for name in _tables(query))
        key = (query, *((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items()))
        seen = view.get(key)
        if seen is not None and seen[0] == marks:
            return list(seen[1])
        rows = self._read(query, params)
        view[key] = (marks, rows)
        return list(rows)  # the caller's to change

    def _read(self, query: Executable, params: dict[str, Any]) -> list[AnyRow]:
        with self._reaching("read") as conn:
            return list(conn.execute(query, params))

    def _value(self, query: Executable, **params: Any) -> Any:
        rows = self._rows(query, **params)
        return rows[0][0] if rows else None

    def _insert_ignore(self, table: Table) -> Insert:
        """INSERT that skips a row whose key exists (SQLite's OR IGNORE, PostgreSQL's
        ON CONFLICT DO NOTHING): the idempotent writes rely on it."""
        if self._dialect == "postgresql":
            return _insert_ignore_pg(table)
        return _insert_ignore_sqlite(table)

    def _insert_new(self, db: Connection, table: Table, **values: Any) -> bool:
        """Insert a row unless its key exists; True if it was new. Told by RETURNING:
        drivers do not all count the rows of an INSERT."""
        return db.execute(self._insert_ignore(table), values).first() is not None

    # -- swarms -----------------------------------------------------------
    def add_swarm(self, swarm: SwarmRow, agents: list[AgentRow]) -> None:
        """A swarm and its first agents appear together or not at all."""
        with self._tx() as db:
            db.execute(t.swarms.insert(), vars(swarm))
            if agents:
                db.execute(t.agents.insert(), [vars(a) for a in agents])

    def swarm(self, swarm_id: str) -> SwarmRow | None:
        rows = self._rows(Q.swarm, id=swarm_id)
        return SwarmRow(**rows[0]._mapping) if rows else None

    def swarms(
        self, state: str | None = None, since: float | None = None, owner: str | None = None
    ) -> list[SwarmRow]:
        """Swarms in `state` (every state if None), created at `since` or later, of `owner`."""
        pairs = (("owner", owner), ("state", state), ("since", since))
        given = {k: v for k, v in pairs if v is not None}
        query = _filtered(t.swarms, ("created_at",), *given)
        return [SwarmRow(**r._mapping) for r in self._rows(query, **given)]

    def count_running(self) -> int:
        return int(self._value(Q.count_running))

    def _counts(self, query: Executable) -> dict[tuple[str, str], int]:
        return {(r[0], r[1]): int(r[2]) for r in self._rows(query)}

    def end_counts(self) -> dict[tuple[str, str], int]:
        """(swarm type, end reason) -> agents Warden ended so, ever."""
        return self._counts(Q.end_counts)

    def release(self, owner: str, released: str) -> None:
        """`owner` stops watching its agents (they keep running): any runtime of its
        host may adopt them (`released` names no process, only the host)."""
        with self._tx() as db:
            for query in Q.release:
                db.execute(query, {"old": owner, "new_owner": released})

    def take_over(self, swarm_ids: list[str], owner: str) -> None:
        """Make `owner` the runtime of these swarms and their agents (their own died)."""
        with self._tx() as db:
            for query in Q.take_over:
                db.execute(query, {"ids": swarm_ids, "new_owner": owner})

    def live_agent_ids(self) -> set[str]:
        """Agents that may have a process now, whoever owns them."""
        return {r[0] for r in self._rows(Q.live_agent_ids, states=list(LIVE_STATES))}

    def end_swarm(
        self, swarm_id: str, state: str, reason: str, at: float, failure: str | None = None
    ) -> bool:
        """Mark a running swarm ended; False if it had already ended (idempotent)."""
        with self._tx() as db:
            params = {"row_id": swarm_id, "new_state": state, "new_reason": reason, "at": at}
            return db.execute(Q.end_swarm, {**params, "failure": failure}).rowcount == 1

    # -- agents -----------------------------------------------------------
    def add_agent(self, a: AgentRow) -> None:
        with self._tx() as db:
            db.execute(t.agents.insert(), vars(a))

    def agent(self, agent_id: str) -> AgentRow | None:
        rows = self._rows(Q.agent, id=agent_id)
        return AgentRow(**rows[0]._mapping) if rows else None

    def agents(
        self, swarm_id: str | None = None, states: tuple[str, ...] = (), owner: str | None = None
    ) -> list[AgentRow]:
        given: dict[str, Any] = {
            k: v for k, v in (("owner", owner), ("swarm_id", swarm_id)) if v is not None
        }
        if states:
            given["states"] = list(states)
        query = _filtered(t.agents, ("slot", "attempt"), *given)
        return [AgentRow(**r._mapping) for r in self._rows(query, **given)]

    def update_agent(self, agent_id: str, **fields: Any) -> None:
        with self._tx() as db:
            db.execute(_update_by_id(t.agents, *sorted(fields)), _new(fields, agent_id))

    def end_agent(self, agent_id: str, ledger: LedgerEntry | None, **fields: Any) -> None:
        """The agent's end and its spend are written in one transaction."""
        with self._tx() as db:
            if fields:
                query = _update_by_id(t.agents, *sorted(fields))
                db.execute(query, _new(fields, agent_id))
            if ledger is not None:
                self._insert_new(db, t.ledger, **vars(ledger))

    def death_counts(self) -> dict[tuple[str, str], int]:
        """(swarm type, death reason) -> agents that died so, ever."""
        return self._counts(Q.death_counts)

    def failure_counts(self) -> dict[tuple[str, str], int]:
        """(swarm type, failure class) -> agent runs that failed so, ever."""
        return self._counts(Q.failure_counts)

    def refused_cost_counts(self) -> dict[str, int]:
        """Swarm type -> agent runs whose reported cost was not one, ever."""
        return {str(r[0]): int(r[1]) for r in self._rows(Q.refused_cost_counts)}

    def last_runs(self, swarm_type: str, n: int) -> list[tuple[str, str | None, str | None]]:
        """(state, failure class, failure text) of the type's last `n` runs that
        succeeded or failed, newest first (runs Warden killed say nothing)."""
        return [(r[0], r[1], r[2]) for r in self._rows(Q.last_runs, type=swarm_type, n=n)]

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
        values = {
            "fingerprint": fingerprint,
            "starts_at": starts_at,
            "alertname": alertname,
            "name": name,
            "state": "starting",
            "context": context,
            "log_path": log_path,
            "started_at": at,
        }
        with self._tx() as db:
            row = db.execute(self._insert_ignore(t.recoveries), values).first()
            if row is None:
                return None
            found = db.execute(Q.recovery, {"id": row[0]}).first()
        return None if found is None else RecoveryRow(**found._mapping)

    def update_recovery(self, recovery_id: int, **fields: Any) -> None:
        with self._tx() as db:
            query = _update_by_id(t.recoveries, *sorted(fields))
            db.execute(query, _new(fields, recovery_id))

    def recovery(self, recovery_id: int) -> RecoveryRow | None:
        rows = self._rows(Q.recovery, id=recovery_id)
        return RecoveryRow(**rows[0]._mapping) if rows else None

    def recovery_counts(self) -> dict[tuple[str, str, str], int]:
        """(recovery, outcome, state) -> runs, ever."""
        return {(r[0], r[1], r[2]): int(r[3]) for r in self._rows(Q.recovery_counts)}

    def recoveries(self, states: tuple[str, ...] | None = None) -> list[RecoveryRow]:
        given = {} if states is None else {"states": list(states)}
        query = _filtered(t.recoveries, ("id",), *given)
        return [RecoveryRow(**r._mapping) for r in self._rows(query, **given)]

    def same_episode(self, fingerprint: str, starts_at: str) -> str:
        """The startsAt that names this alert's episode: that of an open episode of the
        same fingerprint starting within EPISODE_SKEW_SECONDS of it, else its own.

        Why: a Prometheus pair evaluates each rule a moment apart, so the two
        replicas' alerts (alike but for the dropped `replica` label) start a
        second or so apart; Alertmanager merges them keeping the earliest
        startsAt, and the webhooks of one firing switch startsAt midway."""
        starts = instant(starts_at)
        if starts is None:
            return starts_at
        near = [
            (abs(other - starts), text)
            for (text,) in self._rows(Q.open_starts, fp=fingerprint)
            if (other := instant(text)) is not None and abs(other - starts) <= EPISODE_SKEW_SECONDS
        ]
        return min(near)[1] if near else starts_at

    def episode_open(self, fingerprint: str, starts_at: str) -> bool:
        return bool(self._rows(Q.episode_open, fp=fingerprint, starts=starts_at))

    # -- the circuit breaker's pauses ----------------------------------------
    def pause(self, swarm_type: str, cls: str, error: str, at: float) -> bool:
        """Pause the type; False if it was paused already (idempotent)."""
        with self._tx() as db:
            return self._insert_new(
                db, t.pauses, type=swarm_type, **{"class": cls}, error=error, since=at
            )

    def resume(self, swarm_type: str) -> Pause | None:
        """Lift the type's pause; the pause lifted, or None if it was not paused."""
        with self._tx() as db:
            row = db.execute(Q.resume, {"type": swarm_type}).first()
        return None if row is None else _pause(row)

    def pauses(self) -> list[Pause]:
        return [_pause(r) for r in self._rows(Q.pauses)]

    def tell_once_about_pause(self, swarm_type: str, since: float, at: float) -> bool:
        """True only the first time it is asked for this pause: a person is told once."""
        with self._tx() as db:
            params = {"paused": swarm_type, "paused_since": since, "at": at}
            return db.execute(Q.tell_pause, params).rowcount == 1

    def ended_swarms(self, since: float = 0.0) -> list[SwarmRow]:
        """Swarms that ended at `since` or later (reports over a day or half an hour)."""
        return [SwarmRow(**r._mapping) for r in self._rows(Q.ended_swarms, since=since)]

    def finished(
        self, buckets: tuple[float, ...]
    ) -> list[tuple[str, int, str, int, float, list[int]]]:
        """Ended swarms by (type, size, state): count, total duration, and how many
        lasted at most each bucket, counted by SQL (the cost does not grow in Python)."""
        return [
            (r[0], int(r[1]), r[2], int(r[3]), float(r[4]), [int(v) for v in tuple(r)[5:]])
            for r in self._rows(_finished(buckets))
        ]

    def type_outcomes(self, swarm_type: str) -> list[tuple[float, bool]]:
        """(started at, succeeded) of every swarm of the type that succeeded or failed (L4)."""
        return [
            (float(r[0]), r[1] == "succeeded") for r in self._rows(Q.type_outcomes, type=swarm_type)
        ]

    def episodes_between(self, since: float, until: float) -> dict[str, int]:
        """Firing episodes that began in [since, until), by alert (recurring alerts)."""
        rows = self._rows(Q.episodes_since, since=since, until=until)
        return {r[0]: int(r[1]) for r in rows}

    def failure_classes_between(self, since: float, until: float) -> dict[str, int]:
        """Failed agent runs that ended in [since, until), by failure class."""
        rows = self._rows(Q.failure_classes_since, since=since, until=until)
        return {r[0]: int(r[1]) for r in rows}

    def failed_contexts(self, since: float, until: float) -> list[str]:
        """The contexts of swarms that failed in [since, until) (J7 empties those older
        than 7 days)."""
        return [r[0] for r in self._rows(Q.failed_contexts, since=since, until=until)]

    def swarm_results(self, since: float = 0.0) -> list[tuple[str, int, int, int, float]]:
        """(type, size, runs, succeeded, spend) of swarms that ended since `since` (L1, L3, L5)."""
        rows = self._rows(Q.swarm_results, since=since)
        return [(r[0], int(r[1]), int(r[2]), int(r[3]), float(r[4])) for r in rows]

    def work_results(self, work: str, window: int) -> list[tuple[str, int, bool, float]]:
        """(type, size, succeeded, spend) of the latest `window` swarms of each type and
        size that did one kind of work (started for the alert or the job `work`) and
        succeeded or failed; swarms Warden killed (mode, budget, a broken build) say
        nothing of the choice."""
        rows = self._rows(
            Q.work_results, alert=f"alert:{work}:%", job=f"job:{work}:%", window=window
        )
        return [(r[0], int(r[1]), r[2] == "succeeded", float(r[3])) for r in rows]

    def work_tried(self, work: str) -> set[tuple[str, int]]:
        """(type, size) of every swarm ever started for `work`, running ones included."""
        rows = self._rows(Q.work_tried, alert=f"alert:{work}:%", job=f"job:{work}:%")
        return {(r[0], int(r[1])) for r in rows}

    # -- ledger -----------------------------------------------------------
    def spend(self, period: str) -> float:
        return float(self._value(Q.spend, period=period))

    def spend_between(self, start: float, end: float) -> float:
        """Everything charged in [start, end): a day's, week's or month's ceiling."""
        return float(self._value(Q.spend_between, start=start, end=end))

    def charges_between(self, start: float, end: float) -> list[tuple[float, str, float]]:
        """(at, period, amount) of every charge in [start, end): the reviews' spend."""
        rows = self._rows(Q.charges_between, start=start, end=end)
        return [(float(r[0]), r[1], float(r[2])) for r in rows]

    def swarm_spend(self, swarm_id: str) -> float:
        return float(self._value(Q.swarm_spend, id=swarm_id))

    def spend_by_type(self) -> dict[str, float]:
        return {r[0]: float(r[1]) for r in self._rows(Q.spend_by_type)}

    def spend_by_swarm(self) -> dict[str, float]:
        return {r[0]: float(r[1]) for r in self._rows(Q.spend_by_swarm)}

    def prune(self, before: float, keep_decisions: int = 1000) -> list[str]:
        """J7: drop handled webhook bodies, old decisions (keeping the newest) and the
        contexts of swarms that ended before `before`; returns those swarms' ids, whose
        files may go too. Rows and the ledger stay: every sum is still exact."""
        with self._tx() as db:
            db.execute(Q.prune_inbox, {"before": before})
            db.execute(Q.prune_decisions, {"before": before, "keep": keep_decisions})
            ids = [r[0] for r in db.execute(Q.old_contexts, {"before": before})]
            db.execute(Q.drop_contexts, {"before": before})
        return ids

    # -- webhook inbox and firing episodes ---------------------------------
    def add_inbox(self, body: bytes, at: float, responder: str) -> int:
        """Keep an accepted webhook body; it is answered 2xx only after this returns."""
        with self._tx() as db:
            values = {"at": at, "body": body, "responder": responder}
            return int(db.execute(Q.add_inbox, values).scalar_one())

    def pending_inbox(
        self, responder: str, limit: int | None = None, after: int = 0
    ) -> list[tuple[int, bytes]]:
        """The oldest bodies `responder` received and has not yet handled, at most
        `limit` (None: all) of those after the body `after`. Each responder of a fleet
        handles what reached it: Alertmanager sends every alert to each, and the
        episode claim picks one."""
        if limit is None:
            rows = self._rows(Q.all_pending_inbox, responder=responder)
        else:
            rows = self._rows(Q.pending_inbox, responder=responder, limit=limit, after=after)
        return [(r[0], bytes(r[1])) for r in rows]

    def dead_letter(self, inbox_id: int, at: float, error: str, alert: str) -> None:
        """Set aside an alert whose handling raised, with the error, so the next goes on."""
        with self._tx() as db:
            values = {"inbox_id": inbox_id, "at": at, "error": error, "alert": alert}
            db.execute(Q.dead_letter, values)

    def dead_letters(self, limit: int = 20) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in self._rows(Q.dead_letters, limit=limit)]

    def dead_letter_count(self) -> int:
        return int(self._value(Q.dead_letter_count))

    def inbox_done(self, inbox_ids: list[int]) -> None:
        """Mark bodies handled, a batch in one transaction: a crash before it handles
        them again, which the episode and trigger records make harmless."""
        with self._tx() as db:
            db.execute(Q.inbox_done, {"ids": inbox_ids})

    def open_episode(
        self,
        fingerprint: str,
        starts_at: str,
        labels: dict[str, str],
        at: float,
        *,
        host: str = "",
        alert: str = "",
        reserved_until: float = 0.0,
    ) -> bool:
        """Remember a firing episode; True the first time it is seen. Re-sends move
        its `last_seen` (what expiry goes by), at most once a minute: a storm of
        repeats costs reads, not a write each. `host` binds its work to one
        responder; `alert` is what a takeover acts on; until `reserved_until` no
        takeover claims it (its receiver is about to)."""
        this = {"fp": fingerprint, "starts": starts_at}
        seen = self._rows(Q.last_seen, **this)
        if seen and seen[0][1] in GUESSED_CLOSES:
            # Closed by a guess (expiry, reconciliation), yet firing: it never ended.
            with self._tx() as db:
                db.execute(Q.reopen, {**this, "at": at})
            log.info("episode %s %s fires again: reopened", labels["alertname"], starts_at)
            return False
        if seen and at - float(seen[0][0]) < LAST_SEEN_EVERY:
            return False
        with self._tx() as db:
            new = self._insert_new(
                db,
                t.episodes,
                fingerprint=fingerprint,
                starts_at=starts_at,
                alertname=labels["alertname"],
                severity=labels.get("severity", ""),
                component=labels.get("component", ""),
                first_seen=at,
                last_seen=at,
                host=host,
                alert=alert,
                lease_until=reserved_until,
            )
            if not new:
                db.execute(Q.see_again, {**this, "at": at})
            return new

    def expire_episodes(self, now: float, stale_after: dict[str, float]) -> int:
        """Close episodes that stopped being re-sent: their resolution was missed
        (Warden was down when it came). `stale_after` is per severity, with
        "" for any other; Alertmanager re-sends firing alerts every
        repeat_interval, so twice that is safe. Writes only when one expired."""
        stale = [
            {"fp": fp, "starts": starts, "seen": seen, "now": now}
            for fp, starts, severity, seen in self._rows(Q.open_episodes)
            if seen < now - stale_after.get(severity, stale_after[""])
        ]
        if not stale:
            return 0
        with self._tx() as db:
            # Only if not seen again since: a re-send may have landed in between.
            db.execute(Q.expire, stale)
        return len(stale)

    def firing(self) -> list[tuple[str, str, str]]:
        """(alertname, severity, component) of every episode not yet resolved."""
        return [(r[0], r[1], r[2]) for r in self._rows(Q.firing)]

    # -- crises and maintenance windows -------------------------------------
    def open_crisis_id(self) -> int | None:
        rows = self._rows(Q.open_crisis)
        return int(rows[0][0]) if rows else None

    def open_crisis(self, at: float) -> int:
        """The open crisis' id, opening one at `at` if none is open. Opened under the
        fleet-wide guard: responders entering a crisis together open one, and so admit
        against one crisis budget."""
        found = self.open_crisis_id()
        if found is not None:
            return found
        with self.spawn_guard(), self._tx() as db:
            row = db.execute(Q.open_crisis).first()
            if row is not None:
                return int(row[0])
            return int(db.execute(Q.add_crisis, {"at": at}).scalar_one())

    def close_crisis(self, at: float) -> float | None:
        """End the open crisis; its duration, or None if none was open."""
        if self.open_crisis_id() is None:
            return None
        with self._tx() as db:
            row = db.execute(Q.open_crisis).first()
            if row is None:
                return None
            db.execute(Q.end_crisis, {"at": at})
            return at - float(row[1])

    def tell_once_about_crisis(self, crisis_id: int, at: float) -> bool:
        """True only the first time it is asked for this crisis: a person is told once."""
        with self._tx() as db:
            return db.execute(Q.tell_crisis, {"row_id": crisis_id, "at": at}).rowcount == 1

    def crisis_durations(self) -> list[float]:
        return [float(r[0]) for r in self._rows(Q.crisis_durations)]

    def crises_between(self, start: float, end: float) -> list[tuple[float, float | None]]:
        """(started, ended or None) of the crises that began in [start, end)."""
        rows = self._rows(Q.crises_between, start=start, end=end)
        return [(float(r[0]), None if r[1] is None else float(r[1])) for r in rows]

    def last_crisis(self) -> tuple[float, float | None] | None:
        rows = self._rows(Q.last_crisis)
        return (float(rows[0][0]), rows[0][1]) if rows else None

    def start_maintenance(self, starts_at: float, ends_at: float) -> int:
        with self._tx() as db:
            db.execute(Q.cut_maintenance, {"at": starts_at})
            query = Q.add_maintenance
            return int(db.execute(query, {"starts": starts_at, "ends": ends_at}).scalar_one())

    def stop_maintenance(self, at: float) -> bool:
        with self._tx() as db:
            return db.execute(Q.stop_maintenance, {"at": at}).rowcount > 0

    def maintenance_at(self, at: float) -> tuple[int, float] | None:
        """(id, end) of the maintenance window open at `at`."""
        rows = self._rows(Q.maintenance_at, at=at)
        return (int(rows[0][0]), float(rows[0][1])) if rows else None

    def episode_acted(
        self,
        fingerprint: str,
        starts_at: str,
        outcome: str,
        decision: dict[str, Any] | None = None,
        at: float = 0.0,
    ) -> bool:
        """Mark the episode acted on, with the `decision` logged in the same
        transaction, the first time only: False (and nothing logged) if it was
        already, so the log says once what was done, even if a takeover raced
        a claimer that outlived its lease."""
        with self._tx() as db:
            params = {"fp": fingerprint, "starts": starts_at, "new_outcome": outcome}
            if db.execute(Q.acted, params).rowcount != 1:
                return False
            if decision is not None:
                db.execute(Q.log_decision, {"at": at, "kind": "alert", "detail": decision})
            return True

    def claim_state(self, fingerprint: str, starts_at: str) -> ClaimState | None:
        """Whether the episode still waits for action, and who holds it till when."""
        rows = self._rows(Q.claim_state, fp=fingerprint, starts=starts_at)
        return ClaimState(*rows[0]) if rows else None

    def claim(
        self, fingerprint: str, starts_at: str, me: str, instance: str, now: float, until: float
    ) -> bool:
        """Claim an episode for `me` until `until`; True if it is now `me`'s.

        One conditional UPDATE: of responders racing for it, the database lets
        one through. Claimable while not acted on nor resolved, bound to no
        host or to `instance`, and unclaimed, already `me`'s, or its lease
        run out (its claimer died)."""
        params = {"fp": fingerprint, "starts": starts_at, "me": me, "instance": instance}
        with self._tx() as db:
            return db.execute(Q.claim, {**params, "now": now, "until": until}).rowcount == 1

    def take_lease(self, name: str, me: str, now: float, until: float) -> bool:
        """Hold the lease `name` until `until` if it is free, lapsed or already
        ours; True if we hold it now. One statement: of responders racing, one wins."""
        params = {"name": name, "me": me, "now": now, "until": until}
        with self._tx() as db:
            return db.execute(TAKE_LEASE[self._dialect], params).first() is not None

    def renew_claims(self, me: str, until: float) -> None:
        """Move the leases of the episodes `me` holds and has not yet acted on."""
        with self._tx() as db:
            db.execute(Q.renew_claims, {"me": me, "until": until})

    def unclaimed(self, me: str, instance: str, now: float) -> list[tuple[str, str]]:
        """(claimer, alert JSON) of episodes `me` may take over: dropped by a
        claimer that died, or received by nobody who may act on them."""
        rows = self._rows(Q.unclaimed, me=me, instance=instance, now=now)
        return [(r[0], r[1]) for r in rows]

    def close_episode(
        self, fingerprint: str, starts_at: str, at: float, by: str = "resolved"
    ) -> bool:
        """Mark an episode ended; True only the first time. `by`: its resolved
        notification, or "reconciled" (Alertmanager no longer holds it), a guess that
        a firing delivery of it undoes (`open_episode`)."""
        with self._tx() as db:
            params = {"fp": fingerprint, "starts": starts_at, "at": at, "by": by}
            return db.execute(Q.close_episode, params).rowcount == 1

    def open_episodes(self) -> list[tuple[str, str]]:
        """(fingerprint, startsAt) of every episode not yet ended."""
        return [(r[0], r[1]) for r in self._rows(Q.open_episodes)]

    def episode_counts(self) -> dict[str, int]:
        """Firing episodes by alert name, ever (L2)."""
        return {r[0]: int(r[1]) for r in self._rows(Q.episode_counts)}

    def swarms_by_trigger(self, trigger: str) -> list[SwarmRow]:
        return [SwarmRow(**r._mapping) for r in self._rows(Q.by_trigger, trigger=trigger)]

    # -- decisions --------------------------------------------------------
    def log_decision(self, kind: str, detail: dict[str, Any], at: float | None = None) -> None:
        with self._tx() as db:
            when = time.time() if at is None else at
            db.execute(Q.log_decision, {"at": when, "kind": kind, "detail": detail})

    def count_decisions(self, kind: str, after_id: int) -> tuple[int, int]:
        """(decisions of `kind` logged after `after_id`, the newest id of any kind)."""
        row = self._rows(Q.count_decisions, kind=kind, after=after_id)[0]
        return int(row[0]), int(row[1])

    def refusal_counts(self) -> dict[str, int]:
        """Refusals logged, by reason, whichever responder logged them."""
        return {str(r[0]): int(r[1]) for r in self._rows(Q.refusal_counts)}

    def duplicate_triggers(self) -> list[str]:
        """Alert actions that started more than one swarm: an episode acted on twice."""
        return [r[0] for r in self._rows(Q.duplicate_triggers)]

    def decisions(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._rows(Q.decisions, limit=limit)
        return [{"at": r.at, "kind": r.kind, **r.detail} for r in rows]


@cache
def _tables(query: Executable) -> tuple[str, ...]:
    """The tables a read reads, and ANY_TABLE."""
    found = {table.name for table in find_tables(cast(ClauseElement, query), include_crud=True)}
    return (ANY_TABLE, *sorted(found))


@cache
def _update_by_id(table: Table, *columns: str) -> Update:
    """UPDATE of these columns of the row `row_id` (one statement per set of columns)."""
    return (
        update(table)
        .where(table.c.id == _param("row_id"))
        .values({c: _param(f"new_{c}") for c in columns})
    )


def _new(fields: dict[str, Any], row_id: object) -> dict[str, Any]:
    """The parameters of `_update_by_id`."""
    return {**{f"new_{k}": v for k, v in fields.items()}, "row_id": row_id}


@cache
def _budget_sums(windows: int) -> Select[Any]:
    return select(
        Q.spend.scalar_subquery(),
        Q.committed.scalar_subquery(),
        *(
            _spent(L.at >= _param(f"start{i}"), L.at < _param(f"end{i}")).scalar_subquery()
            for i in range(windows)
        ),
    )


@cache
def _finished(buckets: tuple[float, ...]) -> Select[Any]:
    took = S.ended_at - S.created_at
    return (
        select(
            S.type,
            S.size,
            S.state,
            func.count(),
            func.coalesce(func.sum(took), 0.0),
            *(_count_if(took <= b) for b in buckets),
        )
        .where(S.state != "running")
        .group_by(S.type, S.size, S.state)
    )


@cache
def _insert_ignore_pg(table: Table) -> Insert:
    return postgresql.insert(table).on_conflict_do_nothing().returning(*table.primary_key)


@cache
def _insert_ignore_sqlite(table: Table) -> Insert:
    return sqlite.insert(table).on_conflict_do_nothing().returning(*table.primary_key)


def _take_lease(dialect: Any) -> Insert:
    """Take or renew a lease: a new row, or the existing one if it is ours or lapsed
    (an upsert whose update is conditional; RETURNING says whether it happened)."""
    stmt = dialect.insert(t.leases).values(
        name=_param("name"), holder=_param("me"), until=_param("until")
    )
    upsert: Insert = stmt.on_conflict_do_update(
        index_elements=[t.leases.c.name],
        set_={"holder": stmt.excluded.holder, "until": stmt.excluded.until},
        where=or_(t.leases.c.holder == _param("me"), t.leases.c.until < _param("now")),
    ).returning(t.leases.c.holder)
    return upsert


TAKE_LEASE = {"postgresql": _take_lease(postgresql), "sqlite": _take_lease(sqlite)}


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

    def __post_init__(self) -> None:
        # The tables refuse these too (a CHECK on both engines); this says which
        # field and agent, before a transaction is spent on it.
        for name in ("amount_usd", "reported_usd"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"ledger {name} {value!r} of agent {self.agent_id}: not a cost")


def _pause(row: AnyRow) -> Pause:
    m = row._mapping
    return Pause(m["type"], m["class"], m["error"], m["since"], m["told_at"])
