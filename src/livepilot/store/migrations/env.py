"""Alembic's environment for the store: always online, on the connection it is handed.

:func:`livepilot.store.database.upgrade` puts an open connection into
``config.attributes["connection"]``; nothing here reads a URL or an ini file.
"""

from __future__ import annotations

from alembic import context

from livepilot.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
