"""Who owns each swarm and agent; why Warden ended an agent; what an agent
reported when it was charged less (its cap); poison alerts set aside; a person
told once per crisis; indexes for the queries that run on every cycle.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = "0000"


def upgrade() -> None:
    op.add_column("swarms", sa.Column("owner", sa.Text, nullable=False, server_default=""))
    op.add_column("agents", sa.Column("owner", sa.Text, nullable=False, server_default=""))
    op.add_column("agents", sa.Column("end_reason", sa.Text))
    op.add_column("ledger", sa.Column("reported_usd", sa.Float))
    op.add_column("crises", sa.Column("told_at", sa.Float))
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("inbox_id", sa.Integer, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("alert", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("swarms_state", "swarms", ["state"])
    op.create_index("swarms_trigger", "swarms", ["trigger"])
    op.create_index("swarms_created", "swarms", ["created_at"])
    op.create_index("agents_swarm", "agents", ["swarm_id"])
    op.create_index("ledger_at", "ledger", ["at"])
    op.create_index("ledger_swarm", "ledger", ["swarm_id"])
    op.create_index("episodes_open", "episodes", ["resolved_at"])
