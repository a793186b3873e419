"""The ledger books only costs: a finite, non-negative amount (a CHECK on both
engines, so no path can store NaN, an infinity or a negative amount); the
agents keep what a run reported when it was not a cost.

Rows an earlier release booked from such a report are charged as runs that
reported nothing (their cap), as the runtime now charges them.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"

# NaN compares greater than any number on PostgreSQL (and is NULL on SQLite), so
# the upper bound refuses it, as it refuses both infinities.
AMOUNT = "amount_usd >= 0 AND amount_usd < 1e308"
REPORTED = "reported_usd IS NULL OR (reported_usd >= 0 AND reported_usd < 1e308)"


def upgrade() -> None:
    op.add_column("agents", sa.Column("cost_refused", sa.Text))
    op.execute(
        "UPDATE ledger SET estimated = 1, reported_usd = NULL, amount_usd = "
        "(SELECT swarms.budget_usd / swarms.size FROM swarms WHERE swarms.id = ledger.swarm_id) "
        "WHERE NOT (amount_usd >= 0 AND amount_usd < 1e308)"
    )
    op.execute(
        "UPDATE ledger SET reported_usd = NULL "
        "WHERE NOT (reported_usd IS NULL OR (reported_usd >= 0 AND reported_usd < 1e308))"
    )
    with op.batch_alter_table("ledger", recreate="always") as batch:
        batch.create_check_constraint("ledger_amount_is_a_cost", AMOUNT)
        batch.create_check_constraint("ledger_reported_is_a_cost", REPORTED)
