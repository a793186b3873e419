"""Reads whose cost grew with the history (issue 30: a simulated step cost 1.4 ms on
day 1 and 2.7 ms on day 23) served by indexes: a swarm's work in a column of its
own (the learning's latest runs of a work read its trigger with a `LIKE` no index
serves), swarms by end, an alert's open episodes, episodes by alert; J7's prune
reads the decisions and handled bodies older than its bound, not every one kept.

Revision ID: 0013
"""

import sqlalchemy as sa
from alembic import op

from responder.state.rows import work_of

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    op.add_column("swarms", sa.Column("work", sa.Text, nullable=False, server_default=""))
    swarms = sa.table("swarms", sa.column("id", sa.Text), sa.column("trigger", sa.Text))
    work = sa.table("swarms", sa.column("id", sa.Text), sa.column("work", sa.Text))
    conn = op.get_bind()
    for swarm_id, trigger in conn.execute(sa.select(swarms.c.id, swarms.c.trigger)).all():
        if name := work_of(str(trigger)):
            conn.execute(sa.update(work).where(work.c.id == swarm_id).values(work=name))
    op.create_index("swarms_ended", "swarms", ["ended_at"])
    op.create_index("swarms_work", "swarms", ["work", "type", "ended_at"])
    op.create_index("episodes_alert_open", "episodes", ["fingerprint", "resolved_at"])
    op.create_index("episodes_alertname", "episodes", ["alertname"])
    op.create_index("decisions_at", "decisions", ["at"])
    op.drop_index("inbox_pending", "inbox")
    op.create_index("inbox_pending", "inbox", ["done", "received_at"])
