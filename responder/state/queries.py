"""Every statement the store runs, built once: SQLAlchemy then only executes them."""

from __future__ import annotations

from functools import cache
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    Select,
    Table,
    Text,
    Update,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.sql import ClauseElement, ColumnElement, Executable
from sqlalchemy.sql.util import find_tables

from responder.model import LIVE_SWARM_STATES as LIVE_SWARMS
from responder.state import schema as t

ANY_TABLE = "*"
"""Written by a statement whose tables are not known: every read reads it."""
SPAWN_LOCK = 0x5741_5244_4E53  # the advisory lock of spawn_guard
LAST_SEEN_EVERY = 60.0
"""An episode's `last_seen` is written at most this often (expiry takes 12 minutes)."""
GUESSED_CLOSES = ("expired", "reconciled")
"""How an episode may have been closed without its resolution: undone if it fires."""
EPISODE_SKEW_SECONDS = 60.0
"""Alerts of one fingerprint starting this close are one firing episode: a Prometheus
pair's replicas evaluate a rule at most one group interval (and a scrape) apart. A
re-firing whose resolution was lost is a new episode only past this."""


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """SUM of 1 per row meeting `condition` (PostgreSQL does not sum booleans)."""
    return func.sum(case((condition, 1), else_=0))


S, A, L, IN, E = t.swarms.c, t.agents.c, t.ledger.c, t.inbox.c, t.episodes.c
C, M, D, P, R = t.crises.c, t.maintenance.c, t.decisions.c, t.pauses.c, t.recoveries.c
AGENT_SWARM = t.agents.join(t.swarms, A.swarm_id == S.id)
_PICK = t.inbox.alias("pick")


def _param(name: str) -> BindParameter[Any]:
    return bindparam(name)


def _list(name: str) -> BindParameter[Any]:
    """A parameter that takes a list (IN)."""
    return bindparam(name, expanding=True)


@cache
def filtered(table: Table, order: tuple[str, ...], *keys: str) -> Select[Any]:
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


_SPENT_OF_SWARM = (
    select(func.coalesce(func.sum(L.amount_usd), 0.0))
    .where(L.swarm_id == S.id)
    .scalar_subquery()
    .label("spent")
)
"""What the outer query's swarm spent, through the ledger's swarm index: a join to
every swarm's sum grouped the whole ledger at each read (issue 30: 5.4 ms a read
after 20 simulated days)."""
_CHARGED_SINCE = L.period.in_(select(L.period).where(L.at >= _param("since")))
"""The periods charged at or after `since` (the list IN builds is distinct already;
a DISTINCT made SQLite walk the whole ledger by period instead of its recent rows
by time)."""
_SETTLED = or_(S.state == "succeeded", S.state == "failed")
"""A swarm whose work the learning counts (a state given as literals, not a list
expanded at each execution: the read goes through the driver)."""
_NEW = t.swarms.alias("new")
_NEWEST_DECISIONS = select(D.id).order_by(D.id.desc())
_CHARGES_OF_SWARMS = t.ledger.join(t.swarms, S.id == L.swarm_id)
_PAST_CAP = case((L.amount_usd > S.budget_usd, L.amount_usd - S.budget_usd), else_=0.0)
"""What a charge is past its run's cap (B6: booked, beyond what the spawn guard reserved)."""
_OLD_CONTEXTS = (
    S.state.not_in(LIVE_SWARMS),
    S.ended_at >= _param("since"),
    S.ended_at < _param("before"),
    S.context_file != "",
)
_THIS_EPISODE = (E.fingerprint == _param("fp"), E.starts_at == _param("starts"))


class Q:
    """Every statement the store runs, built once (SQLAlchemy then only executes them:
    building a statement costs several times what SQLite takes to run it)."""

    swarm = select(t.swarms).where(S.id == _param("id"))
    spawn_lock = select(func.pg_advisory_xact_lock(SPAWN_LOCK))
    # PostgreSQL: this transaction's commit does not wait for its WAL to reach the disk.
    unflushed = select(func.set_config("synchronous_commit", "off", True))
    running_by_type = select(S.type, func.count()).where(S.state == "running").group_by(S.type)
    committed = (
        select(func.coalesce(func.sum(S.budget_usd), 0.0))
        .select_from(AGENT_SWARM)
        .where(A.state.in_(_list("states")))
    )
    end_counts = _agent_counts(A.end_reason)
    outcome_counts = (
        select(S.type, S.outcome, func.count())
        .where(S.outcome.is_not(None))
        .group_by(S.type, S.outcome)
    )
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
        .where(S.id == _param("row_id"), S.state.in_(LIVE_SWARMS))
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
    ended_swarms = select(t.swarms).where(
        S.state.not_in(LIVE_SWARMS), S.ended_at >= _param("since")
    )
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
    _results_since = (
        select(S.type, S.size, S.state, _SPENT_OF_SWARM)
        .where(S.state.not_in(LIVE_SWARMS), S.created_at >= _param("since"))
        .subquery()
    )
    swarm_results = (
        select(
            _results_since.c.type,
            _results_since.c.size,
            func.count(),
            _count_if(_results_since.c.state == "succeeded"),
            func.coalesce(func.sum(_results_since.c.spent), 0.0),
        )
        .group_by(_results_since.c.type, _results_since.c.size)
        .order_by(_results_since.c.type, _results_since.c.size)
    )
    work_tried = select(S.id).where(S.work == _param("work"), S.type == _param("type")).limit(1)
    work_results = (  # through swarms_work, newest first: as many rows read as returned
        select(S.type, S.size, S.state, _SPENT_OF_SWARM, S.ended_at)
        .where(S.work == _param("work"), S.type == _param("type"), _SETTLED)
        .order_by(S.ended_at.desc(), S.created_at.desc(), S.id)
        .limit(_param("window"))
    )
    spend = _spent(L.period == _param("period"))
    spend_between = _spent(L.at >= _param("start"), L.at < _param("end"))
    charges_between = select(L.at, L.period, L.amount_usd, L.type).where(
        L.at >= _param("start"), L.at < _param("end")
    )
    swarm_spend = _spent(L.swarm_id == _param("id"))
    bases_of_swarm = select(L.agent_id, L.basis).where(L.swarm_id == _param("id"))
    spend_by_basis = _spent_by(L.basis).where(L.period == _param("period"))
    spend_of_periods_since = _spent_by(L.period).where(_CHARGED_SINCE)
    past_caps_of_periods_since = (
        select(L.period, func.sum(_PAST_CAP))
        .select_from(_CHARGES_OF_SWARMS)
        .where(_CHARGED_SINCE)
        .group_by(L.period)
    )
    past_caps_between = (
        select(func.coalesce(func.sum(_PAST_CAP), 0.0))
        .select_from(_CHARGES_OF_SWARMS)
        .where(L.at >= _param("start"), L.at < _param("end"))
    )
    spend_by_type = _spent_by(L.type)
    spend_by_swarm = _spent_by(L.swarm_id)
    prune_inbox = delete(t.inbox).where(IN.done == 1, IN.received_at < _param("before"))
    prune_decisions = delete(t.decisions).where(
        D.at < _param("before"),
        # Below the `keep` latest: a range of the key, where NOT IN the latest walked
        # the whole log at each prune.
        D.id <= _NEWEST_DECISIONS.offset(_param("keep")).limit(1).scalar_subquery(),
    )
    old_contexts = select(S.id).where(*_OLD_CONTEXTS)
    drop_contexts = update(t.swarms).where(*_OLD_CONTEXTS).values(context="", context_file="")
    add_swarm = insert(t.swarms)
    add_agent = insert(t.agents)
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
    # On a shared store, the oldest waiting bodies nobody works, whose worker's lease
    # lapsed, or ours (a restart of ours): SKIP LOCKED, so that workers racing for
    # them each take others, and none waits for another's transaction; the pick locks
    # what it picks (checked again on a row's newest version), so the UPDATE needs no
    # condition of its own. The pick is a MATERIALIZED CTE: as a subquery of the
    # UPDATE, PostgreSQL may run it again for each row, and with SKIP LOCKED each run
    # picks others (a claim of one took two).
    _picked = (
        select(_PICK.c.id)
        .where(
            _PICK.c.done == 0,
            _PICK.c.id > _param("after"),
            or_(
                _PICK.c.claimed_by.in_(("", _param("me"))),
                _PICK.c.lease_until < _param("now"),
            ),
        )
        .order_by(_PICK.c.id)
        .limit(_param("limit"))
        .with_for_update(skip_locked=True)
        .cte("picked")
        .prefix_with("MATERIALIZED")
    )
    claim_inbox = (
        update(t.inbox)
        .where(IN.id.in_(select(_picked.c.id)))
        .values(claimed_by=_param("me"), lease_until=_param("until"))
        .returning(IN.id, IN.body)
    )
    renew_inbox = (
        update(t.inbox)
        .where(IN.claimed_by == _param("me"), IN.done == 0)
        .values(lease_until=_param("until"))
    )
    last_seen = select(E.last_seen, E.closed_by).where(*_THIS_EPISODE)
    reopen = (
        update(t.episodes)
        .where(*_THIS_EPISODE, E.closed_by.in_(GUESSED_CLOSES))
        .values(resolved_at=None, closed_by=None, last_seen=_param("at"))
    )
    acted_open = select(E.fingerprint, E.starts_at, E.last_seen).where(
        E.resolved_at.is_(None), E.acted == 1
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
    open_problems = (
        select(E.alertname, func.min(E.first_seen), func.max(E.told_at), func.max(E.retried_at))
        .where(E.resolved_at.is_(None))
        .group_by(E.alertname)
    )
    tell_episodes = (
        update(t.episodes)
        .where(E.alertname.in_(_list("names")), E.resolved_at.is_(None), E.told_at.is_(None))
        .values(told_at=_param("at"))
        .returning(E.alertname)
    )
    problems_between = select(E.alertname, E.first_seen).where(
        E.first_seen < _param("end"),
        or_(E.resolved_at.is_(None), E.resolved_at >= _param("start")),
    )
    retry_episodes = (
        update(t.episodes)
        .where(E.alertname == _param("name"), E.resolved_at.is_(None))
        .values(retried_at=_param("at"), told_at=None)
    )
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
    maintenance_windows = select(M.id, M.starts_at, M.ends_at).order_by(M.id)
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
    log_decision = insert(t.decisions).returning(D.id)
    update_decision = (
        update(t.decisions)
        .where(D.id == _param("row_id"))
        .values(at=_param("new_at"), detail=_param("new_detail"))
    )
    _refusals = (  # a row counts the refusals of its window (`count`; 1 in older rows)
        select(
            D.detail["reason"].as_string().label("reason"),
            func.coalesce(D.detail["count"].as_integer(), 1).label("n"),
        )
        .where(D.kind == "refused")
        .subquery()
    )
    refusal_counts = select(_refusals.c.reason, func.sum(_refusals.c.n)).group_by(
        _refusals.c.reason
    )
    refusals_after = (
        select(
            D.id,
            func.coalesce(D.detail["since"].as_float(), D.at),
            func.coalesce(D.detail["count"].as_integer(), 1),
        )
        .where(D.kind == "refused", D.id > _param("after"))
        .order_by(D.id)
    )
    duplicate_triggers = (  # a retry of work the checks refused acts on it once more
        select(S.trigger)
        .where(
            S.retry_of.is_(None),
            S.trigger.in_(
                select(_NEW.c.trigger).where(
                    _NEW.c.created_at >= _param("since"),
                    _NEW.c.trigger.like("alert:%"),
                    _NEW.c.retry_of.is_(None),
                )
            ),
        )
        .group_by(S.trigger)
        .having(func.count() > 1)
    )
    # The detail as its JSON text: decoded once per text (`decisions.detail_of`), not at
    # each read of the latest (the status view reads them at every step).
    decisions = (
        select(D.at, D.kind, sql_cast(D.detail, Text).label("detail"))
        .order_by(D.id.desc())
        .limit(_param("limit"))
    )


@cache
def tables_read(query: Executable) -> tuple[str, ...]:
    """The tables a read reads."""
    found = {table.name for table in find_tables(cast(ClauseElement, query), include_crud=True)}
    return tuple(sorted(found))


@cache
def update_by_id(table: Table, *columns: str) -> Update:
    """UPDATE of these columns of the row `row_id` (one statement per set of columns)."""
    return (
        update(table)
        .where(table.c.id == _param("row_id"))
        .values({c: _param(f"new_{c}") for c in columns})
    )


def new_row(fields: dict[str, Any], row_id: object) -> dict[str, Any]:
    """The parameters of `update_by_id`."""
    return {**{f"new_{k}": v for k, v in fields.items()}, "row_id": row_id}


@cache
def budget_sums_query(windows: int) -> Select[Any]:
    return select(
        Q.spend.scalar_subquery(),
        Q.committed.scalar_subquery(),
        *(
            _spent(L.at >= _param(f"start{i}"), L.at < _param(f"end{i}")).scalar_subquery()
            for i in range(windows)
        ),
    )


@cache
def verified_query(buckets: tuple[float, ...]) -> Select[Any]:
    took = S.verify_seconds
    return (
        select(
            S.type,
            func.count(),
            func.coalesce(func.sum(took), 0.0),
            *(_count_if(took <= b) for b in buckets),
        )
        .where(took.is_not(None))
        .group_by(S.type)
    )


@cache
def finished_query(buckets: tuple[float, ...]) -> Select[Any]:
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
        .where(S.state.not_in(LIVE_SWARMS))
        .group_by(S.type, S.size, S.state)
    )


SERIALS = select(t.changes.c.kind, t.changes.c.serial)
