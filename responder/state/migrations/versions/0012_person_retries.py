"""When a person last asked Warden to try a problem again (N1, `warden retry`): the
ladder of its open episode counts only what was tried after that, and the person
may be called again.

Revision ID: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    op.add_column("episodes", sa.Column("retried_at", sa.Float))
