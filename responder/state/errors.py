"""The one error a store raises to a person, in a module light to import.

Every `warden` command catches it (to print it without a traceback); the
store itself, with SQLAlchemy and Alembic, is imported only by the commands
that open one.
"""


class StoreError(Exception):
    """The database cannot be used; the message names it and what to do."""


class StoreUnavailable(StoreError):
    """The database server cannot be reached now (a restart, a failover, the
    network): what was being done is not done, and may be tried again."""
