"""A swarm's own worktree and branch, the commit its work started from, what the
project's checks said of that work, how long they took, and the commit it
landed as; a retry names
the swarm it retries.

Revision ID: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"

COLUMNS = ("worktree", "branch", "base", "outcome", "landed", "retry_of")


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column("swarms", sa.Column(name, sa.Text))
    op.add_column("swarms", sa.Column("verify_seconds", sa.Float))
