"""The responder's durable state: one database (SQLite or PostgreSQL), its schema,
its migrations and the store every change goes through.

Kept light: `errors` is imported by every `warden` command, the rest (with
SQLAlchemy and Alembic) only by the commands that open a store.
"""
