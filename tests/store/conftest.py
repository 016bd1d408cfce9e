"""The store's tests run against SQLite and against a real PostgreSQL.

PostgreSQL: ``LIVEPILOT_TEST_DATABASE_URL`` (default the trust-auth server at
127.0.0.1:5432, database ``test``; ``./dev test`` starts one when none answers). Each test
gets a schema of its own, ``livepilot_test_<random>``, dropped afterwards. A missing
server fails the test with a message saying so; it is never skipped silently.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from livepilot.store import StoreSettings

PG_URL = os.environ.get(
    "LIVEPILOT_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def postgres_settings(tmp_path: Path) -> Iterator[StoreSettings]:
    """Store settings for a fresh schema on the test PostgreSQL; drops it afterwards."""
    import psycopg

    schema = f"livepilot_test_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(PG_URL, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"no PostgreSQL answers at {PG_URL} ({exc}). Start one (./dev test does) or set "
            "LIVEPILOT_TEST_DATABASE_URL; the store's PostgreSQL tests are not skipped.",
            pytrace=False,
        )
    try:
        yield StoreSettings(
            data_dir=tmp_path, database_url=SecretStr(PG_URL), database_schema=schema
        )
    finally:
        with admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreSettings]:
    """The same test on an SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        yield StoreSettings(data_dir=tmp_path / "data")
    else:
        yield from postgres_settings(tmp_path)
