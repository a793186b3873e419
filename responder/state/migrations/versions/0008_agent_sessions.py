"""The session an agent's run said it was (Claude Code's `session_id`), kept with
its agent: the name of its transcript, when the run keeps one.

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.add_column("agents", sa.Column("session_id", sa.Text))
