"""Synthetic stored streams for the plan's tests: a creator's last five LIVEs.

Two Wednesday evenings with a lively chat, two Monday afternoons with a quiet one, a
Friday after a long pause with fewer viewers; the "Produkt" shows lose a third of their
audience after 15 minutes, the first "Q&A" show does not. Rows are shaped exactly as
the store keeps them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from livepilot.store import StoreSettings, schema
from livepilot.store.database import open_database
from livepilot.store.metrics import StoreMetrics
from livepilot.store.writer import StoreWriter

Row = dict[str, Any]

#: (start in UTC, run-of-show, chat per minute, drop after 15 min, diamonds per minute,
#: viewers at first)
SHOWS = (
    (datetime(2026, 11, 4, 18, 0, tzinfo=UTC), "Produkt", 30, True, 10, 100),   # Wed 19:00 Berlin
    (datetime(2026, 11, 9, 14, 0, tzinfo=UTC), "Q&A", 6, False, 2, 100),        # Mon 15:00
    (datetime(2026, 11, 11, 18, 0, tzinfo=UTC), "Produkt", 28, True, 12, 100),  # Wed 19:00
    (datetime(2026, 11, 16, 14, 0, tzinfo=UTC), "Produkt", 5, True, 1, 100),    # Mon 15:00
    (datetime(2026, 11, 27, 18, 0, tzinfo=UTC), "Q&A", 12, True, 4, 60),        # Fri 19:00
)
LENGTH_MIN = 40


def stream_rows(n: int, start: datetime, show: str, chat: int, drop: bool,
                diamonds: int, base: int, *, name: str = "anna") -> tuple[Row, list[Row]]:
    """One stored stream (``streams`` row with ``id``) and its per-minute rows."""
    t0 = start.timestamp()
    minutes = []
    for minute in range(LENGTH_MIN):
        viewers = float(base) if not drop or minute < 15 else base * 0.65
        row: Row = {c.name: 0 for c in schema.minutes.columns}
        row.update(stream_id=n, minute=minute, viewer_seconds=viewers * 60, covered_s=60.0,
                   viewers_max=int(viewers), viewers_min=int(viewers),
                   viewers_last=int(viewers), viewers_total=None, chat=chat, chatters=chat // 2,
                   new_chatters=1, new_interactors=1, new_users=3, diamonds=diamonds,
                   gifts=1 if diamonds else 0, segment=None)
        minutes.append(row)
    stream: Row = {
        "id": n, "key": f"{name}@{start:%Y-%m-%dT%H:%M:%SZ}", "name": name, "creator": name,
        "platform": "tiktok", "run_of_show": show, "started_at": t0,
        "last_at": t0 + LENGTH_MIN * 60, "ended_at": t0 + LENGTH_MIN * 60,
        "end_reason": "live_ended", "recorded_at": t0 + LENGTH_MIN * 60,
        "peak_viewers": base, "peak_at": t0 + 120, "viewers_total": 400, "users_capped": False,
    }
    return stream, minutes


@pytest.fixture
def five_streams() -> list[tuple[Row, list[Row]]]:
    return [stream_rows(n, *show) for n, show in enumerate(SHOWS, 1)]


PG_URL = os.environ.get(
    "LIVEPILOT_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def plan_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreSettings]:
    """An SQLite file, or a fresh schema on the test PostgreSQL (dropped afterwards; a
    missing server fails the test, it is never skipped)."""
    if request.param == "sqlite":
        yield StoreSettings(data_dir=tmp_path / "data")
        return
    import psycopg

    schema_name = f"livepilot_test_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(PG_URL, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.fail(f"no PostgreSQL answers at {PG_URL} ({exc}); start one (./dev test "
                    "does) or set LIVEPILOT_TEST_DATABASE_URL", pytrace=False)
    try:
        yield StoreSettings(data_dir=tmp_path, database_url=SecretStr(PG_URL),
                            database_schema=schema_name)
    finally:
        with admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema_name}" CASCADE')


StoreStreams = Callable[[StoreSettings, list[tuple[Row, list[Row]]]], None]


@pytest.fixture
def store_streams() -> StoreStreams:
    """Writes streams into a store (see :func:`write_streams`)."""
    return write_streams


def write_streams(store: StoreSettings, streams: list[tuple[Row, list[Row]]]) -> None:
    """Write the streams through the store's own writer thread, as a recording does."""
    writer = StoreWriter(lambda: open_database(store), StoreMetrics(CollectorRegistry()),
                         database="test")
    writer.start()
    for stream, minutes in streams:
        key = stream["key"]
        writer.stream(key, {k: v for k, v in stream.items() if k not in ("id", "key")},
                      opening=True)
        for row in minutes:
            writer.put(schema.minutes, {"stream": key, **{
                k: v for k, v in row.items() if k != "stream_id"}})
    assert writer.close(deadline=30), writer.status()
