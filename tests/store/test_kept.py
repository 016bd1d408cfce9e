"""The audit log and strikes in the store: written by the writer thread, read back, aged."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from livepilot.store import StoreSettings, schema
from livepilot.store.audit import AuditKeeper
from livepilot.store.carryover import StrikeLedger, load_strikes
from livepilot.store.database import open_database
from livepilot.store.metrics import StoreMetrics
from livepilot.store.retention import Retention
from livepilot.store.writer import StoreWriter


def _writer(store: StoreSettings) -> StoreWriter:
    writer = StoreWriter(lambda: open_database(store), StoreMetrics(CollectorRegistry()),
                         database="test")
    writer.start()
    return writer


def _entry(n: int, at: float, **extra: object) -> dict[str, object]:
    return {"at": at, "stream": "anna", "action": "hide", "target": f"anna-{n}", "by": "lena",
            "args": {"n": n}, "role": "moderator", "verified": True, "command": f"c{n}",
            "applied": False, "previous": None, "state": None, **extra}


def test_the_audit_log_reads_back_newest_last(store_settings: StoreSettings) -> None:
    writer = _writer(store_settings)
    keeper = AuditKeeper(writer, writer.engine)
    now = time.time()
    for n in range(5):
        keeper.keep(_entry(n, now + n))
    keeper.keep(_entry(5, now + 5, applied=True, previous="visible", state="hidden",
                       args={"odd": {1, 2}}))  # not JSON: kept as text, never an error
    assert writer.flush(20)
    back = keeper.recall(limit=3)
    assert [e["target"] for e in back] == ["anna-3", "anna-4", "anna-5"]
    assert back[0]["args"] == {"n": 3} and back[0]["verified"] is True
    assert (back[2]["applied"], back[2]["previous"], back[2]["state"]) == (
        True, "visible", "hidden")
    assert back[2]["args"] == {"odd": "{1, 2}"}
    assert writer.close(10)


def test_strikes_are_one_row_per_user_and_age_with_the_audit_log(
    store_settings: StoreSettings,
) -> None:
    class User:
        def __init__(self, user_id: str, hits: int) -> None:
            self.user_id, self.handle, self.score, self.at = user_id, user_id[3:], 2.5, 100.0
            self.hits, self.streams, self.blocked_by = hits, 1, None

    writer = _writer(store_settings)
    day = 86_400.0
    now = time.time()
    StrikeLedger(writer, "tiktok", "anna", wall=lambda: now - 400 * day).remember(
        User("id-old", 1))
    ledger = StrikeLedger(writer, "tiktok", "anna", wall=lambda: now)
    ledger.remember(User("id-troll", 1))
    ledger.remember(User("id-troll", 2))  # the newest row per user wins
    StrikeLedger(writer, "youtube", "anna", wall=lambda: now).remember(User("id-troll", 9))
    AuditKeeper(writer, writer.engine).keep(_entry(1, now - 400 * day))
    assert writer.flush(20)
    engine = writer.engine()
    assert engine is not None
    rows = load_strikes(engine, "tiktok")
    assert [(r["user_id"], r["hits"]) for r in rows] == [("id-old", 1), ("id-troll", 2)]
    with engine.begin() as conn:
        removed = Retention.from_days(chat=30, audit=365, streams=0, leads_hours=72).purge(
            conn, now)
        audit_left = conn.execute(select(func.count()).select_from(schema.audit)).scalar_one()
    assert removed["remembered strikes"] == 1 and removed["audit entries"] == 1
    assert audit_left == 0
    assert [r["user_id"] for r in load_strikes(engine, "tiktok")] == ["id-troll"]
    assert writer.close(10)
