"""Alembic migrations of the store, run by :func:`livepilot.store.database.upgrade`."""
