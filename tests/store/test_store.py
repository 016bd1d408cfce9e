"""The store on real databases: migrations, writing and reading back, outages."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from livepilot.insights import Insight
from livepilot.leads import LeadPolicy
from livepilot.store import History, Recorder, StoreSettings, StreamNotFound
from livepilot.store.database import connect, open_database
from livepilot.store.schema import metadata
from livepilot.testing import EventFactory, FakeClock

T0 = 1_767_222_000.0


def _feed_stream(recorder: Recorder, chats: int = 50, stream: str = "anna") -> None:
    clock = FakeClock(T0)
    make = EventFactory(clock, stream=stream)
    tap = recorder.tap(stream, platform="tiktok", creator=stream)
    tap.feed([make.viewers(120)])
    for n in range(chats):
        clock.advance(2)
        chat = make.chat(f"user{n % 7}", f"nachricht {n} <b>=1+1</b>")
        tap.feed([chat, Insight(event_id=chat.id, stream=stream)])
    tap.feed([make.gift("tom", "Rose", diamonds=1, count=5), make.viewers(80)])
    tap.close("live_ended")


def _wait(condition: object, timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_migrations_build_exactly_the_schema_and_run_once(store_settings: StoreSettings) -> None:
    engine = open_database(store_settings)
    open_database(store_settings).dispose()  # a second start-up migrates nothing
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def test_a_recorded_stream_reads_back(store_settings: StoreSettings) -> None:
    registry = CollectorRegistry()
    policy = LeadPolicy(user="handle")
    recorder = Recorder.start(store_settings, policy, registry)
    _feed_stream(recorder)
    assert recorder.close(deadline=20)
    assert recorder.stored == ["anna@2025-12-31T23:00:00Z"]
    assert registry.get_sample_value("livepilot_store_written_rows_total", {"table": "chat"}) == 50

    history = History.open(store_settings)
    (listed,) = history.streams()
    assert (listed["key"], listed["platform"], listed["chat"], listed["diamonds"]) == (
        "anna@2025-12-31T23:00:00Z", "tiktok", 50, 5)
    assert history.find("anna")["id"] == history.find(str(listed["id"]))["id"]
    data = history.load(history.last())
    assert sum(m["chat"] for m in data.minutes) == 50
    assert data.gifters == [{"handle": "tom", "diamonds": 5, "gifts": 1}]
    log = list(history.chat_log(listed, batch=7))  # read in batches, in order
    assert [row["text"] for row in log] == [f"nachricht {n} <b>=1+1</b>" for n in range(50)]
    assert log[0]["user"] == "user0"
    with pytest.raises(StreamNotFound, match="newest: anna@"):
        history.find("bob")
    history.close()

    # The same recording replayed again replaces its earlier copy: stored by an earlier
    # process, or by this one (written already, or still waiting for the writer).
    again = Recorder.start(store_settings, policy, CollectorRegistry())
    _feed_stream(again, chats=30)
    again.writer.flush()
    _feed_stream(again, chats=20)
    _feed_stream(again, chats=10)
    assert again.close(deadline=20)
    history = History.open(store_settings)
    (listed,) = history.streams()
    assert listed["chat"] == 10
    assert len(list(history.chat_log(listed))) == 10
    history.close()


def test_an_unusable_store_is_reported_buffered_counted_and_recovered(tmp_path: Path) -> None:
    settings = StoreSettings(data_dir=tmp_path, store_buffer=1_000)
    blocker = tmp_path / "livepilot.db"
    blocker.mkdir()  # where the database file should be: SQLite cannot open it
    registry = CollectorRegistry()
    recorder = Recorder.start(settings, LeadPolicy(), registry)
    _wait(lambda: recorder.status()["state"] == "down")
    status = recorder.status()
    assert "livepilot.db" in status["error"]
    assert registry.get_sample_value("livepilot_store_up") == 0
    assert registry.get_sample_value("livepilot_store_failures_total") >= 1

    _feed_stream(recorder, chats=1_200)  # more rows than the buffer holds
    dropped = recorder.status()["dropped"]
    assert dropped > 0
    assert sum(
        registry.get_sample_value("livepilot_store_dropped_rows_total", {"table": t}) or 0
        for t in ("chat", "gifts", "states")
    ) == dropped

    blocker.rmdir()  # the disk is back
    _wait(lambda: recorder.status()["state"] == "up")
    assert recorder.close(deadline=20)
    assert registry.get_sample_value("livepilot_store_up") == 1
    history = History.open(settings)
    (listed,) = history.streams()
    # What the buffer held was written; what it could not hold is missing, and counted.
    lost = registry.get_sample_value("livepilot_store_dropped_rows_total", {"table": "chat"})
    assert lost and len(list(history.chat_log(listed))) == 1_200 - lost
    history.close()


def test_a_database_that_is_down_never_slows_the_stream() -> None:
    """PostgreSQL holds a lock on the chat table: the writer waits, the stream does not."""
    import psycopg
    from tests.store.conftest import PG_URL

    schema = "livepilot_test_lock_" + str(int(time.time() * 1000) % 10**8)
    settings = StoreSettings(database_url=SecretStr(PG_URL), database_schema=schema,
                             store_flush_ms=50)
    open_database(settings).dispose()
    locker = psycopg.connect(PG_URL, autocommit=False)
    try:
        locker.execute(f'LOCK TABLE "{schema}".chat IN ACCESS EXCLUSIVE MODE')
        recorder = Recorder.start(settings, LeadPolicy(), CollectorRegistry())
        _wait(lambda: recorder.status()["state"] == "up")
        _feed_stream(recorder, chats=5_000)  # returns while the table is locked
        time.sleep(0.3)
        status = recorder.status()
        assert status["dropped"] == 0
        engine = connect(settings)
        with engine.connect() as conn:
            from sqlalchemy import text

            assert conn.execute(text(f'SELECT count(*) FROM "{schema}".streams')).scalar() == 0
        engine.dispose()
        locker.rollback()  # the lock goes: everything waiting is written
        assert recorder.close(deadline=20)
        history = History.open(settings)
        assert history.streams()[0]["chat"] == 5_000
        history.close()
    finally:
        locker.rollback()
        locker.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        locker.commit()
        locker.close()


def test_retention_removes_each_kind_after_its_time(store_settings: StoreSettings) -> None:
    from sqlalchemy import func, select, update

    from livepilot.store import schema
    from livepilot.store.retention import Retention

    recorder = Recorder.start(store_settings, LeadPolicy(), CollectorRegistry())
    _feed_stream(recorder, chats=5)
    assert recorder.close(deadline=20)
    engine = open_database(store_settings)
    day = 86_400.0
    now = time.time()
    with engine.begin() as conn:
        conn.execute(update(schema.streams).values(recorded_at=now - 40 * day))
        conn.execute(update(schema.chat).values(at=0.0))  # event time does not count

        def count(table: object) -> int:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

        keep_all = Retention.from_days(chat=60, audit=365, streams=0, leads_hours=72)
        assert keep_all.purge(conn, now)["chat messages"] == 0 and count(schema.chat) == 5
        removed = Retention.from_days(chat=30, audit=365, streams=0, leads_hours=72).purge(
            conn, now)
        assert removed["chat messages"] == 5 and count(schema.chat) == 0
        assert count(schema.streams) == 1 and count(schema.minutes) > 0  # kept for good
        Retention.from_days(chat=30, audit=365, streams=30, leads_hours=72).purge(conn, now)
        assert count(schema.streams) == 0 and count(schema.minutes) == 0
    engine.dispose()
