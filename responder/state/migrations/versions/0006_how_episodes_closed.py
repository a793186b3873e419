"""How each episode was closed: by its resolved notification, or by a guess (it
stopped being re-sent, or Alertmanager no longer holds it). A guessed close is
undone by the next firing delivery of the same episode; a resolution is not.

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.add_column("episodes", sa.Column("closed_by", sa.Text))
