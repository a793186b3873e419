"""Alembic's entry: runs the revisions on the connection the store hands over.

The store opens the transaction (and, on PostgreSQL, takes the migration
lock) before calling Alembic, so every pending revision of one start lands
in that one transaction or none does.
"""

from alembic import context

from responder.state.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
