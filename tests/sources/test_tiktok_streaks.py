"""Gift streaks counted exactly once, and the tracker's de-dup and gap bookkeeping."""

from __future__ import annotations

import pytest

from livepilot.events import GiftEvent, StreamState
from livepilot.metrics import Metrics
from livepilot.sources.tiktok.streaks import StreakBook
from livepilot.sources.tiktok.tracker import Tracker
from livepilot.testing import EventFactory, FakeClock


def _gift(
    factory: EventFactory, count: int, *, final: bool = False, streak: str | None = "s1"
) -> GiftEvent:
    return factory.gift("anna", "Rose", 1, count, streak=streak, final=final)


def _counted(events: list[GiftEvent]) -> int:
    return sum(g.diamonds for g in events if g.final)


def test_progress_is_shown_and_the_streak_counted_once_at_its_end() -> None:
    factory = EventFactory(FakeClock())
    book = StreakBook(timeout=20.0)
    out: list[GiftEvent] = []
    for count, final in [(1, False), (2, False), (2, False), (3, False), (3, True)]:
        out += book.feed(_gift(factory, count, final=final), now=0.0)
    assert [(g.count, g.final) for g in out] == [(1, False), (2, False), (3, False), (3, True)]
    assert _counted(out) == 3 and book.open_count == 0
    # the end sent twice (different message id) is not counted again
    assert book.feed(_gift(factory, 3, final=True), now=1.0) == []


def test_an_end_with_a_smaller_count_keeps_the_highest_seen() -> None:
    factory = EventFactory(FakeClock())
    book = StreakBook()
    book.feed(_gift(factory, 9), now=0.0)
    (end,) = book.feed(_gift(factory, 7, final=True), now=1.0)  # out of order
    assert end.count == 9 and end.final


def test_a_streak_without_end_is_closed_after_the_timeout() -> None:
    factory = EventFactory(FakeClock())
    book = StreakBook(timeout=20.0)
    first = _gift(factory, 1)
    book.feed(first, now=0.0)
    book.feed(_gift(factory, 4), now=5.0)
    assert book.expire(now=24.0) == []
    (closed,) = book.expire(now=25.0)
    assert (closed.count, closed.final, closed.received) == (4, True, 25.0)
    assert closed.id.endswith("-end") and book.unended == 1
    # a late end after the timeout does not count the streak a second time
    assert book.feed(_gift(factory, 4, final=True), now=30.0) == []
    # the same user, gift and group much later is a new streak
    assert book.feed(_gift(factory, 1), now=60.0)[0].count == 1


def test_flush_closes_everything_and_plain_gifts_pass_through() -> None:
    factory = EventFactory(FakeClock())
    book = StreakBook()
    plain = _gift(factory, 1, final=True, streak=None)
    assert book.feed(plain, now=0.0) == [plain]
    book.feed(factory.gift("ben", "Rose", 1, 2, streak="s2", final=False), now=0.0)
    book.feed(factory.gift("cem", "Heart", 5, 3, streak="s3", final=False), now=0.0)
    flushed = book.flush(now=1.0)
    assert sorted((g.user.unique_id, g.diamonds) for g in flushed) == [("ben", 2), ("cem", 15)]
    assert book.open_count == 0


def test_open_streaks_are_bounded() -> None:
    factory = EventFactory(FakeClock())
    book = StreakBook(capacity=2)
    out: list[GiftEvent] = []
    for i in range(3):
        out += book.feed(factory.gift("u", "Rose", 1, 2, streak=f"s{i}", final=False), now=0.0)
    # the oldest was closed early (counted), not silently forgotten
    assert [(g.final, g.streak_id) for g in out][-1] == (True, "s0")
    assert book.open_count == 2


def test_streak_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        StreakBook(timeout=0)


def test_tracker_drops_duplicates_and_accounts_gaps() -> None:
    clock = FakeClock(1000.0)
    factory = EventFactory(clock, stream="s")
    metrics = Metrics()
    tracker = Tracker("s", metrics)
    assert tracker.lost(1000.0, "connection_lost") != []  # status, but no gap: never heard
    assert [e.state for e in tracker.connected(1001.0)] == [StreamState.CONNECTED]
    chat = factory.chat("anna", "hallo")
    assert tracker.accept([chat], 1002.0) == [chat]
    assert tracker.accept([chat], 1003.0) == []
    assert tracker.duplicates == 1
    (status,) = tracker.lost(1010.0, "watchdog", since=1004.0)
    assert status.state is StreamState.DISCONNECTED and status.detail == "watchdog"
    assert tracker.lost(1011.0, "connect_failed") == []  # still down: no second status
    back = tracker.connected(1030.0)
    assert [e.type for e in back] == ["status", "gap"]
    gap = back[1]
    assert (gap.start, gap.end, gap.cause, gap.seconds) == (1004.0, 1030.0, "watchdog", 26.0)
    assert (
        metrics.registry.get_sample_value("livepilot_tiktok_duplicates_total", {"stream": "s"}) == 1
    )
    assert metrics.registry.get_sample_value("livepilot_stream_connected", {"stream": "s"}) == 1


def test_a_gap_ends_when_the_creator_turns_out_to_be_offline() -> None:
    factory = EventFactory(FakeClock(0.0), stream="s")
    tracker = Tracker("s")
    tracker.connected(0.0)
    tracker.accept([factory.gift("anna", "Rose", 1, 3, streak="k", final=False)], 1.0)
    tracker.lost(10.0, "connection_lost")
    out = tracker.offline(70.0)
    # the LIVE ended while we were away: the streak is closed, the gap ends now
    assert [e.type for e in out] == ["gift", "gap", "status"]
    assert out[0].final and out[0].count == 3
    assert (out[1].start, out[1].end) == (10.0, 70.0)
    assert tracker.connected(4000.0)[1:] == []  # the next LIVE: no gap over the offline time
