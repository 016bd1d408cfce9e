"""Connecting to the store and bringing its schema up to date.

:func:`connect` builds the SQLAlchemy engine for SQLite (a file in the data directory,
WAL mode so reports read while a stream writes) or PostgreSQL (psycopg 3, optionally in a
schema of its own); :func:`upgrade` runs the Alembic migrations shipped in the package, so
a new version of livepilot updates the database at start-up without an extra tool.
Database errors leave here as :class:`~livepilot.errors.StoreUnavailable`, saying where
and what, never the URL's password.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from livepilot.errors import StoreUnavailable
from livepilot.store.settings import StoreSettings

__all__ = ["connect", "describe_error", "open_database", "safe_url", "upgrade"]

log = logging.getLogger(__name__)


def safe_url(url: str | URL) -> str:
    """The URL with its password masked, for logs and messages."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return "<unparsable database URL>"
    return parsed.render_as_string(hide_password=True)


def describe_error(exc: BaseException) -> str:
    """One line about a database error: its kind and the driver's first line."""
    original = getattr(exc, "orig", None) or exc
    first = (str(original).strip().splitlines() or [""])[0][:300]
    return f"{type(original).__name__}: {first}" if first else type(original).__name__


def _normalise(url: str) -> URL:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 (livepilot ships it)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def connect(settings: StoreSettings) -> Engine:
    """An engine for the configured database (no connection is made yet).

    Raises :class:`StoreUnavailable` for a URL that cannot be used at all.
    """
    try:
        url = _normalise(settings.url)
    except ArgumentError as exc:
        raise StoreUnavailable(f"LIVEPILOT_DATABASE_URL is not a database URL: {exc}") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite(url)
    if backend == "postgresql":
        return _postgres(url, settings.database_schema)
    try:
        return create_engine(url, pool_pre_ping=True)
    except (ArgumentError, ImportError) as exc:
        raise StoreUnavailable(f"cannot use database {safe_url(url)}: {exc}") from None


def _sqlite(url: URL) -> Engine:
    if url.database and url.database != ":memory:":
        path = Path(url.database)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(
                f"cannot create the data directory {path.parent} ({exc.strerror}); "
                "set LIVEPILOT_DATA_DIR to a writable directory"
            ) from None
    engine = create_engine(url, connect_args={"timeout": 10})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    return engine


def _postgres(url: URL, schema: str | None) -> Engine:
    connect_args: dict[str, Any] = {"connect_timeout": 5}
    if schema is not None:
        connect_args["options"] = f"-csearch_path={schema}"
    try:
        engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    except ImportError as exc:  # pragma: no cover - psycopg is a dependency
        raise StoreUnavailable(
            f"PostgreSQL needs psycopg 3 (pip install livepilot): {exc}"
        ) from None
    if schema is not None:
        # The schema must exist before anything uses the search path that names it.
        @event.listens_for(engine, "first_connect")
        def _create_schema(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            dbapi_connection.commit()
            cursor.close()

    return engine


def upgrade(engine: Engine) -> None:
    """Run the shipped migrations up to the newest (a no-op when the schema is current)."""
    from alembic import command
    from alembic.config import Config

    location = resources.files("livepilot.store").joinpath("migrations")
    config = Config()
    config.set_main_option("script_location", str(location))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise StoreUnavailable(
            f"cannot migrate the store at {safe_url(engine.url)}: {describe_error(exc)}"
        ) from exc


def open_database(settings: StoreSettings) -> Engine:
    """Connect and migrate: the store ready for reading and writing.

    Raises :class:`StoreUnavailable` naming the database when it cannot be reached.
    """
    engine = connect(settings)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StoreUnavailable(
            f"cannot reach the store at {safe_url(engine.url)}: {describe_error(exc)}"
        ) from exc
    upgrade(engine)
    log.info("store: %s is up to date", safe_url(engine.url))
    return engine
