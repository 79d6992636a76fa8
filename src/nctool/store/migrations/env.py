"""Alembic environment: nctool runs migrations on a connection it passes in."""

from alembic import context

from nctool.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through nctool (nctool db upgrade), which passes the connection")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
