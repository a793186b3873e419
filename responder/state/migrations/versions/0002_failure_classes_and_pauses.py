"""Why a run failed (a class from responder.rules.failures, and the agent's own
words) and the swarm types the circuit breaker paused.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.add_column("agents", sa.Column("failure_class", sa.Text))
    op.add_column("agents", sa.Column("failure_text", sa.Text))
    op.add_column("swarms", sa.Column("failure_class", sa.Text))
    op.create_table(
        "pauses",
        sa.Column("type", sa.Text, primary_key=True),
        sa.Column("class", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("since", sa.Float, nullable=False),
        sa.Column("told_at", sa.Float),
    )
    op.create_index("agents_ended", "agents", ["ended_at"])
