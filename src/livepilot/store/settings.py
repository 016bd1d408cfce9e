"""Where stream history is kept, and for how long (``LIVEPILOT_`` environment variables).

The store has its own settings model so a process that never records (an API replica, a
one-shot command) does not carry them, and so the store can be opened from a report
command without the stream settings. Defaults work with nothing installed: an SQLite
file in the data directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["StoreSettings", "default_data_dir"]


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/livepilot``, else ``~/.local/share/livepilot``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "livepilot"


class StoreSettings(BaseSettings):
    """The store's settings. Retention is counted from when a stream was recorded."""

    # Unknown LIVEPILOT_* variables belong to the stream settings, not to this model.
    model_config = SettingsConfigDict(
        env_prefix="LIVEPILOT_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    #: Record every stream (live, demo, replays) as stream history. ``false`` turns the
    #: store off for this process (``livepilot replay --no-store`` does it for one replay).
    store: bool = True
    #: The data directory: the SQLite database lives here unless ``database_url`` is set.
    data_dir: Path = Field(default_factory=default_data_dir)
    #: ``postgresql://user@host/db`` for a team's shared database (psycopg 3), or any
    #: SQLAlchemy URL. Empty: ``sqlite:///<data_dir>/livepilot.db``.
    database_url: SecretStr | None = None
    #: PostgreSQL schema for livepilot's tables (created if missing); empty: the
    #: connection's default (``public``). Ignored for SQLite.
    database_schema: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    #: Rows waiting for the database at most; past that new rows are dropped and counted
    #: (``livepilot_store_dropped_rows``). Aggregates (per-minute rows, questions, alarms)
    #: are kept per key and never count against it.
    store_buffer: int = Field(default=200_000, ge=1_000)
    #: The writer commits at least this often (milliseconds) while rows wait.
    store_flush_ms: float = Field(default=500.0, ge=10, le=60_000)
    #: Retention per kind, in days (0 keeps them for good). The chat log holds the most
    #: personal data and goes first; leads follow ``LIVEPILOT_LEAD_RETENTION_HOURS``.
    retention_chat_days: float = Field(default=30.0, ge=0)
    #: The moderators' audit log (each stream's commands and the server's audit entries)
    #: and the strikes remembered per user across streams (counted from their last
    #: change).
    retention_audit_days: float = Field(default=365.0, ge=0)
    #: Streams with their per-minute series, alarms, prompts, questions, gifts and gaps.
    retention_streams_days: float = Field(default=0.0, ge=0)

    @field_validator("database_schema", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def url(self) -> str:
        """The database URL to connect to (a secret: never log it as it is)."""
        if self.database_url is not None and self.database_url.get_secret_value().strip():
            return self.database_url.get_secret_value().strip()
        return f"sqlite:///{self.data_dir / 'livepilot.db'}"
