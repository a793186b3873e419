"""The worker's next body read through an index in its order (issue 30): 0013 keyed
the inbox's index by time for J7's prune, so each look for the next body sorted
every waiting one, blobs and all (24,020 SQLite instructions behind a storm's 2,000
bodies against 40 behind 2). The prune keeps the time index, renamed for its job.

Revision ID: 0014
"""

from alembic import op

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    op.drop_index("inbox_pending", "inbox")
    op.create_index("inbox_next", "inbox", ["done", "id"])
    op.create_index("inbox_aged", "inbox", ["done", "received_at"])
