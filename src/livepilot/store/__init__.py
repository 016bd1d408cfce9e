"""Stream history that outlives the process: SQLite by default, PostgreSQL for teams.

- :mod:`~livepilot.store.settings`: where (``LIVEPILOT_DATA_DIR``,
  ``LIVEPILOT_DATABASE_URL``) and how long (retention per kind);
- :mod:`~livepilot.store.schema` and ``migrations/``: the tables, created and updated by
  Alembic at start-up (:mod:`~livepilot.store.database`);
- :mod:`~livepilot.store.recorder`: the published wire messages of each stream become
  rows (:mod:`~livepilot.store.recording`), written by one thread in batches
  (:mod:`~livepilot.store.writer`) so the chat never waits for the database;
- :mod:`~livepilot.store.history`: reading it back, for reports.

See ``docs/history.md``.
"""

from __future__ import annotations

from livepilot.store.history import History, StreamData, StreamNotFound
from livepilot.store.recorder import Recorder, StreamTap
from livepilot.store.segments import ShowPlan
from livepilot.store.settings import StoreSettings

__all__ = [
    "History",
    "Recorder",
    "ShowPlan",
    "StoreSettings",
    "StreamData",
    "StreamNotFound",
    "StreamTap",
]
