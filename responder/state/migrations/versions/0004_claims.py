"""Many responders on one database: who claimed each firing episode and until
when (its lease), the host its work is bound to, the alert kept for a takeover;
which responder received each webhook body; leases of fleet-wide work (the
scheduled jobs).

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.add_column("episodes", sa.Column("claimed_by", sa.Text, nullable=False, server_default=""))
    op.add_column(
        "episodes", sa.Column("lease_until", sa.Float, nullable=False, server_default="0")
    )
    op.add_column("episodes", sa.Column("host", sa.Text, nullable=False, server_default=""))
    op.add_column("episodes", sa.Column("alert", sa.Text, nullable=False, server_default=""))
    op.add_column("inbox", sa.Column("responder", sa.Text, nullable=False, server_default=""))
    op.create_index("episodes_unacted", "episodes", ["acted", "resolved_at"])
    op.create_table(
        "leases",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("until", sa.Float, nullable=False),
    )
