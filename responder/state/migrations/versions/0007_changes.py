"""Serials of the kinds of state an owner holds in memory: every write of a kind moves
its serial in the writer's transaction, so an owner sees another writer's change
with one small read per step instead of reading the kind again.

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "changes",
        sa.Column("kind", sa.Text, primary_key=True),
        sa.Column("serial", sa.Integer, nullable=False),
    )
