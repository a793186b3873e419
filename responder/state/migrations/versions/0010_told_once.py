"""When a person was told of an episode (N1): once per problem episode, whichever
path told them (the escalation ladder, a recovery that did not help, a long crisis),
and across responders sharing the store.

Revision ID: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.add_column("episodes", sa.Column("told_at", sa.Float))
