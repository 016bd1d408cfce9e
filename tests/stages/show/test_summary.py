"""The live stream summary: peaks, averages, engagement rate, gifts, top users, biggest drop."""

from __future__ import annotations

import pytest

from livepilot.events import SubscribeEvent
from livepilot.metrics import Metrics
from livepilot.pipeline.runner import Pipeline
from livepilot.stages.show.alarms import AlarmRules
from livepilot.stages.show.engagement import EngagementStage
from livepilot.stages.show.summary import SummaryTracker
from livepilot.testing import EventFactory, FakeClock


def test_summary_of_a_short_stream() -> None:
    clock = FakeClock(1_700_000_000.0)
    make = EventFactory(clock, stream="s")
    stage = EngagementStage("s", AlarmRules())
    pipeline = Pipeline([stage], Metrics())
    start = clock.now()

    def at(offset: float, *events: object) -> None:
        clock.set(start + offset)
        for event in events:
            pipeline.handle(event, clock.now())  # type: ignore[arg-type]

    at(0, make.viewers(100))
    at(10, make.chat("anna", "hallo"), make.chat("ben", "hi"), make.chat("anna", "wow"))
    at(20, make.gift("anna", "Rose", diamonds=1, count=10, streak="a", final=False))
    at(21, make.gift("anna", "Rose", diamonds=1, count=12, streak="a", final=True))
    at(30, make.viewers(300))                     # peak at 0:30
    at(40, make.gift("cem", "Lion", diamonds=500))
    at(45, make.like("ben", count=40), make.follow("ben"), make.share("cem"), make.join("dora"))
    at(60, make.viewers(150))                     # −50 % from the peak
    at(90, make.viewers(150), make.chat("cem", "bye"))
    at(90, SubscribeEvent(id="sub", stream="s", at=start + 90, received=start + 90,
                          user=make.user("dora"), months=3))

    summary = stage.summary()
    assert summary.duration_s == 90
    assert summary.peak_viewers == 300 and summary.peak_at == start + 30
    # time-weighted: 100 for 30 s, 300 for 30 s, 150 for 30 s
    assert summary.average_viewers == pytest.approx((100 * 30 + 300 * 30 + 150 * 30) / 90, abs=0.01)
    assert summary.chat_messages == 4 and summary.unique_chatters == 3
    assert summary.engagement_rate == pytest.approx(3 / summary.average_viewers, abs=1e-4)
    assert summary.messages_per_viewer == pytest.approx(4 / summary.average_viewers, abs=1e-4)
    assert summary.diamonds == 512 and summary.gifts == 2  # the partial streak is not counted
    assert summary.diamonds_per_minute == pytest.approx(512 / 1.5, abs=0.01)
    assert [(r.user, r.value) for r in summary.top_gifters] == [("cem", 500), ("anna", 12)]
    assert [(r.user, r.value) for r in summary.top_chatters] == [
        ("anna", 2), ("ben", 1), ("cem", 1)
    ]
    assert (summary.likes, summary.follows, summary.shares, summary.joins) == (40, 1, 1, 1)
    assert summary.subscribes == 1
    drop = summary.biggest_drop
    assert drop is not None and (drop.before, drop.after) == (300, 150)
    assert drop.share == 0.5 and drop.since == start + 30 and drop.at == start + 60
    assert summary.viewers_per_minute == (200.0, 150.0)
    assert summary.model_dump()["type"] == "summary"


def test_empty_summary() -> None:
    summary = SummaryTracker("s").summary()
    assert summary.duration_s == 0 and summary.average_viewers == 0
    assert summary.engagement_rate == 0 and summary.biggest_drop is None


def test_flagged_share_and_chatter_cap() -> None:
    tracker = SummaryTracker("s", user_cap=3)
    for i in range(10):
        tracker.on_chat(float(i), f"u{i % 5}", f"user{i % 5}", flagged=i % 4 == 0, first=i < 5)
    summary = tracker.summary()
    assert summary.flagged_messages == 3 and summary.flagged_share == 0.3
    # three users are tallied; every chatter counts towards the unique chatters
    assert len(tracker.chatters.counts) == 3
    assert summary.unique_chatters == 5


def test_top_chatters_past_the_cap_are_the_heaviest_with_sure_counts() -> None:
    # 350 messages in 20 counters: whoever wrote more than 350 / 20 is always held
    tracker = SummaryTracker("s", user_cap=20)
    heavy = {"anna": 30, "ben": 20}
    t = 0.0
    for round_ in range(30):  # anna and ben chat all along; a crowd passes once each
        for name, n in heavy.items():
            if round_ < n:
                tracker.on_chat(t, name, name, flagged=False, first=round_ == 0)
        for k in range(10):
            tracker.on_chat(t, f"c{round_}_{k}", f"c{round_}_{k}", flagged=False, first=True)
        t += 1
    summary = tracker.summary()
    assert summary.unique_chatters == 302 and summary.chat_messages == 350
    assert len(tracker.chatters.counts) == 20
    # the two who chatted most are held with their exact counts; the others' sure counts
    # (count minus error) are what they are known to have written at least
    assert [(r.user, r.value) for r in summary.top_chatters[:2]] == [("anna", 30), ("ben", 20)]
    assert all(r.value >= 1 for r in summary.top_chatters)


def test_biggest_drop_keeps_the_largest_share() -> None:
    tracker = SummaryTracker("s")
    tracker.on_drop(100, 80, 0.0, 10.0)
    tracker.on_drop(300, 150, 20.0, 30.0)
    tracker.on_drop(200, 190, 40.0, 50.0)
    tracker.on_drop(100, 120, 40.0, 50.0)  # a rise is no drop
    drop = tracker.summary().biggest_drop
    assert drop is not None and drop.share == 0.5 and drop.at == 30.0


def test_top_gifter_is_kept_incrementally_first_to_reach_wins_ties() -> None:
    tracker = SummaryTracker("s")
    tracker.on_gift(0, "a", "anna", 10)
    tracker.on_gift(1, "b", "ben", 10)
    assert tracker.gifters.leader() == ("a", 10)
    tracker.on_gift(2, "b", "ben", 1)
    assert tracker.gifters.leader() == ("b", 11)
    tracker.on_gift(3, "b", "ben", 5)
    assert tracker.gifters.leader() == ("b", 16)
