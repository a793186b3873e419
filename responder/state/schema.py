"""The responder's tables as SQLAlchemy Core sees them today (the migrations' head).

The store's queries are written against these objects, so one text serves
SQLite and PostgreSQL; `responder/state/migrations/` takes a database of any earlier
release to this shape. A column added here needs a migration beside it: a
test compares the two.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

INBOX_WAITING = text("done = 0 AND digest <> ''")
"""The bodies still to work, of this release (older ones have no digest): one of each."""


def _text(name: str, default: str | None = None) -> Column[str]:
    """A required text column; with a default, rows of older releases get it."""
    return Column(name, Text, nullable=False, server_default=default)


swarms = Table(
    "swarms",
    metadata,
    Column("id", Text, primary_key=True),
    _text("type"),
    _text("priority"),
    Column("size", Integer, nullable=False),
    _text("trigger"),
    _text("context"),
    _text("context_file"),
    Column("budget_usd", Float, nullable=False),
    _text("period"),
    _text("state"),
    _text("reason", ""),
    Column("created_at", Float, nullable=False),
    Column("ended_at", Float),
    _text("owner", ""),
    Column("failure_class", Text),
    Column("worktree", Text),
    Column("branch", Text),
    Column("base", Text),
    Column("outcome", Text),
    Column("landed", Text),
    Column("retry_of", Text),
    Column("verify_seconds", Float),
    _text("work", ""),
    Index("swarms_state", "state"),
    Index("swarms_trigger", "trigger"),
    Index("swarms_created", "created_at"),
    Index("swarms_ended", "ended_at"),
    Index("swarms_work", "work", "type", "ended_at"),
)

agents = Table(
    "agents",
    metadata,
    Column("id", Text, primary_key=True),
    Column("swarm_id", Text, ForeignKey("swarms.id"), nullable=False),
    Column("slot", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    _text("state"),
    Column("pid", Integer),
    Column("start_time", Float),
    _text("log_path"),
    Column("log_offset", Integer, nullable=False, server_default="0"),
    Column("started_at", Float),
    Column("first_output_at", Float),
    Column("last_progress_at", Float),
    Column("ended_at", Float),
    Column("retry_at", Float),
    Column("exit_code", Integer),
    Column("death_reason", Text),
    Column("result_error", Integer),
    Column("cost_usd", Float),
    _text("owner", ""),
    Column("end_reason", Text),
    Column("failure_class", Text),
    Column("failure_text", Text),
    Column("cost_refused", Text),  # what it reported as its cost when that was not one
    Column("session_id", Text),  # the agent CLI's session, as its first event named it
    Index("agents_state", "state"),
    Index("agents_swarm", "swarm_id"),
    Index("agents_ended", "ended_at"),
)

ledger = Table(
    "ledger",
    metadata,
    Column("agent_id", Text, primary_key=True),
    _text("swarm_id"),
    _text("type"),
    _text("period"),
    Column("amount_usd", Float, nullable=False),
    Column("estimated", Integer, nullable=False),
    Column("at", Float, nullable=False),
    Column("reported_usd", Float),
    _text("basis", ""),  # reported, set_aside, usage, cap or none (responder/act/ending.py)
    # Only costs (B6): NaN is greater than any number on PostgreSQL and NULL on
    # SQLite, so the upper bound refuses it with both infinities.
    CheckConstraint("amount_usd >= 0 AND amount_usd < 1e308", name="ledger_amount_is_a_cost"),
    CheckConstraint(
        "reported_usd IS NULL OR (reported_usd >= 0 AND reported_usd < 1e308)",
        name="ledger_reported_is_a_cost",
    ),
    Index("ledger_period", "period"),
    Index("ledger_at", "at"),
    Index("ledger_swarm", "swarm_id"),
)

inbox = Table(
    "inbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("received_at", Float, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("done", Integer, nullable=False, server_default="0"),
    _text("responder", ""),  # the responder whose receiver stored it
    _text("digest", ""),  # SHA-256 of the body: a copy of one still waiting is not stored
    _text("claimed_by", ""),  # on a shared store, the responder working it ...
    Column("lease_until", Float, nullable=False, server_default="0"),  # ... until then
    Index("inbox_next", "done", "id"),  # the worker's next body, oldest first
    Index("inbox_aged", "done", "received_at"),  # J7's prune of handled bodies
    Index(
        "inbox_waiting",
        "digest",
        unique=True,
        sqlite_where=INBOX_WAITING,
        postgresql_where=INBOX_WAITING,
    ),
    sqlite_autoincrement=True,
)

episodes = Table(
    "episodes",
    metadata,
    Column("fingerprint", Text, primary_key=True),
    Column("starts_at", Text, primary_key=True),
    _text("alertname"),
    _text("severity", ""),
    _text("component", ""),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False, server_default="0"),
    Column("acted", Integer, nullable=False, server_default="0"),
    _text("outcome", ""),
    Column("resolved_at", Float),
    # resolved (its notification), expired (no longer re-sent) or reconciled (not
    # held by Alertmanager): the last two are guesses a firing delivery undoes.
    Column("closed_by", Text),
    # Many responders, one action: the claimer acts, others skip it until its
    # lease runs out (it died), then one of them takes it over.
    _text("claimed_by", ""),
    Column("lease_until", Float, nullable=False, server_default="0"),
    _text("host", ""),  # host-bound work: the `instance` whose responder acts ("": any)
    _text("alert", ""),  # the alert as received (JSON): what a takeover acts on
    Column("told_at", Float),  # a person was told of it (N1: once per episode)
    Column("retried_at", Float),  # a person asked for another try (`warden retry`)
    Index("episodes_open", "resolved_at"),
    Index("episodes_unacted", "acted", "resolved_at"),
    Index("episodes_alert_open", "fingerprint", "resolved_at"),
    Index("episodes_alertname", "alertname"),
)

crises = Table(
    "crises",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("told_at", Float),
    sqlite_autoincrement=True,
)

maintenance = Table(
    "maintenance",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("starts_at", Float, nullable=False),
    Column("ends_at", Float, nullable=False),
    sqlite_autoincrement=True,
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", Float, nullable=False),
    _text("kind"),
    # JSON, so "refusals by reason" is one query on either engine.
    Column("detail", JSON, nullable=False),
    Index("decisions_at", "at"),
    sqlite_autoincrement=True,
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("inbox_id", Integer, nullable=False),
    Column("at", Float, nullable=False),
    _text("error"),
    _text("alert"),
    sqlite_autoincrement=True,
)

pauses = Table(
    "pauses",
    metadata,
    Column("type", Text, primary_key=True),
    _text("class"),
    _text("error"),
    Column("since", Float, nullable=False),
    Column("told_at", Float),
)

changes = Table(
    "changes",
    metadata,
    Column("kind", Text, primary_key=True),
    Column("serial", Integer, nullable=False),
)
"""Per kind of state an owner holds in memory (`HELD`), a serial every write of it
moves, in the writer's transaction: how an owner learns that another process or
host changed what it holds (responder/state/held.py)."""

recoveries = Table(
    "recoveries",
    metadata,
    Column("id", Integer, primary_key=True),
    _text("fingerprint"),
    _text("starts_at"),
    _text("alertname"),
    _text("name"),
    _text("state"),
    _text("context"),
    _text("log_path"),
    Column("started_at", Float, nullable=False),
    Column("pid", Integer),
    Column("start_time", Float),
    Column("ended_at", Float),
    Column("exit_code", Integer),
    _text("outcome", ""),
    _text("detail", ""),
    Column("joined_to", Integer),
    UniqueConstraint("fingerprint", "starts_at", "name"),
    Index("recoveries_state", "state"),
    sqlite_autoincrement=True,
)

leases = Table(
    "leases",
    metadata,
    # Work that one responder of a fleet does for all (the scheduled jobs that
    # spawn and report): held by `holder` until `until`, renewed while it lives.
    Column("name", Text, primary_key=True),
    _text("holder"),
    Column("until", Float, nullable=False),
)
