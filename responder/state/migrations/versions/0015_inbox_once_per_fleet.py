"""A body is stored once per fleet and worked by one responder (issue 30): its digest,
unique among the bodies still waiting, so that the copies Alertmanager sends every
responder of a fleet at once are stored once; and the claim of the responder working
it, with a lease, so that another takes it over if that one dies.

Revision ID: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"

WAITING = sa.text("done = 0 AND digest <> ''")


def upgrade() -> None:
    op.add_column("inbox", sa.Column("digest", sa.Text, nullable=False, server_default=""))
    op.add_column("inbox", sa.Column("claimed_by", sa.Text, nullable=False, server_default=""))
    op.add_column("inbox", sa.Column("lease_until", sa.Float, nullable=False, server_default="0"))
    op.create_index(
        "inbox_waiting",
        "inbox",
        ["digest"],
        unique=True,
        sqlite_where=WAITING,
        postgresql_where=WAITING,
    )
