"""The first release's schema (its SQLite files carry user_version 0).

Revision ID: 0000
"""

import sqlalchemy as sa
from alembic import op

revision = "0000"
down_revision = None


def _text(name: str, default: str | None = None) -> sa.Column[str]:
    return sa.Column(name, sa.Text, nullable=False, server_default=default)


def upgrade() -> None:
    op.create_table(
        "swarms",
        sa.Column("id", sa.Text, primary_key=True),
        _text("type"),
        _text("priority"),
        sa.Column("size", sa.Integer, nullable=False),
        _text("trigger"),
        _text("context"),
        _text("context_file"),
        sa.Column("budget_usd", sa.Float, nullable=False),
        _text("period"),
        _text("state"),
        _text("reason", ""),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float),
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("swarm_id", sa.Text, sa.ForeignKey("swarms.id"), nullable=False),
        sa.Column("slot", sa.Integer, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        _text("state"),
        sa.Column("pid", sa.Integer),
        sa.Column("start_time", sa.Float),
        _text("log_path"),
        sa.Column("log_offset", sa.Integer, nullable=False, server_default="0"),
        sa.Column("started_at", sa.Float),
        sa.Column("first_output_at", sa.Float),
        sa.Column("last_progress_at", sa.Float),
        sa.Column("ended_at", sa.Float),
        sa.Column("retry_at", sa.Float),
        sa.Column("exit_code", sa.Integer),
        sa.Column("death_reason", sa.Text),
        sa.Column("result_error", sa.Integer),
        sa.Column("cost_usd", sa.Float),
    )
    op.create_index("agents_state", "agents", ["state"])
    op.create_table(
        "ledger",
        sa.Column("agent_id", sa.Text, primary_key=True),
        _text("swarm_id"),
        _text("type"),
        _text("period"),
        sa.Column("amount_usd", sa.Float, nullable=False),
        sa.Column("estimated", sa.Integer, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ledger_period", "ledger", ["period"])
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("done", sa.Integer, nullable=False, server_default="0"),
        sqlite_autoincrement=True,
    )
    op.create_index("inbox_pending", "inbox", ["done"])
    op.create_table(
        "episodes",
        sa.Column("fingerprint", sa.Text, primary_key=True),
        sa.Column("starts_at", sa.Text, primary_key=True),
        _text("alertname"),
        _text("severity", ""),
        _text("component", ""),
        sa.Column("first_seen", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False, server_default="0"),
        sa.Column("acted", sa.Integer, nullable=False, server_default="0"),
        _text("outcome", ""),
        sa.Column("resolved_at", sa.Float),
    )
    op.create_table(
        "crises",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "maintenance",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("starts_at", sa.Float, nullable=False),
        sa.Column("ends_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.Float, nullable=False),
        _text("kind"),
        sa.Column("detail", sa.JSON, nullable=False),
        sqlite_autoincrement=True,
    )
