"""On what each charge was booked (B6): the run's own report, a report set aside
(over the report limit: the cap), the tokens its stream showed, the cap, or nothing.
Rows of before are `reported` or `cap`, as their `estimated` flag says.

Revision ID: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    op.add_column("ledger", sa.Column("basis", sa.Text, nullable=False, server_default=""))
    op.execute(
        "UPDATE ledger SET basis = CASE WHEN reported_usd IS NOT NULL THEN 'set_aside'"
        " WHEN estimated = 1 THEN 'cap' ELSE 'reported' END"
    )
