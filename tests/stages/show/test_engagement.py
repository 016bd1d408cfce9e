"""Engagement: rolling windows, the prompt desk (rate limit, ack/dismiss), greetings,
question bursts, bounded memory, and the stage as the registry builds it."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from livepilot.events import CommandEvent, LiveEvent
from livepilot.insights import Prompt
from livepilot.metrics import Metrics
from livepilot.pipeline.context import StageContext
from livepilot.pipeline.runner import Pipeline
from livepilot.pipeline.stage import Draft, Outbox
from livepilot.settings import Settings
from livepilot.stages.registry import build_pipeline
from livepilot.stages.show.alarms import AlarmRules, PromptRules
from livepilot.stages.show.engagement import EngagementStage
from livepilot.stages.show.prompts import PromptDesk, render, span
from livepilot.stages.show.rolling import Ewma, LevelRing, RecentUsers, SecondRing
from livepilot.stages.show.signals import Signals
from livepilot.stages.show.summary import SummaryTracker
from livepilot.testing import EventFactory, FakeClock
from livepilot.wire import WireMessage

REPO = Path(__file__).resolve().parents[3]

# -- rolling windows ------------------------------------------------------------------


def test_second_ring_sums_the_window_and_forgets_old_seconds() -> None:
    ring = SecondRing(60)
    for t in range(100):
        ring.add(t + 0.5, 2)
    assert ring.total(99.9, 10) == 20
    assert ring.total(99.9, 60) == 120
    assert ring.per_minute(99.9, 30) == 120
    # a minute of silence later nothing is left, although the slots were never overwritten
    assert ring.total(200.0, 60) == 0
    ring.add(200.0, 1)
    assert ring.total(200.0, 60) == 1
    with pytest.raises(ValueError):
        SecondRing(0)


def test_level_ring_peak_and_last_high() -> None:
    levels = LevelRing(180)
    levels.set(10, 100)
    levels.set(15, 200)
    levels.set(20, 200)
    levels.set(25, 120)
    assert levels.peak(25) == (200, 15)
    assert levels.last_at_least(25, 180, 180) == 20
    assert levels.peak(194) == (200, 15)
    assert levels.peak(195) == (200, 20)
    assert levels.peak(200) == (120, 25)
    assert levels.peak(205) is None


def test_ewma_halflife() -> None:
    mean = Ewma(halflife=60)
    mean.update(0, 100)
    assert mean.update(60, 0) == pytest.approx(50)
    assert mean.age == 60
    with pytest.raises(ValueError):
        Ewma(0)


def test_recent_users_expire_and_cap() -> None:
    users = RecentUsers(ttl=60, cap=3)
    assert users.touch("a", 0) and not users.touch("a", 30)
    users.touch("b", 40)
    users.touch("c", 50)
    users.touch("d", 55)  # over the cap: the least recent ("a") goes
    assert "a" not in users and users.count(55) == 3
    assert users.count(105) == 2  # "b" expired
    assert users.touch("b", 106)  # back after a pause counts as new again


# -- prompt desk ----------------------------------------------------------------------


def _desk(**rules: float) -> tuple[PromptDesk, list[str]]:
    dropped: list[str] = []
    desk = PromptDesk("s", "engagement", PromptRules(**rules), on_drop=dropped.append)
    return desk, dropped


def _release(desk: PromptDesk, now: float) -> list[Prompt]:
    box = Outbox()
    desk.release(now, box)
    return box.prompts


def test_desk_keeps_a_gap_and_a_window_cap() -> None:
    desk, _ = _desk(min_gap_s=15, max_per_window=2, window_s=120, expire_s=600)
    for i in range(4):
        desk.offer(0, f"k{i}", f"p{i}", priority=1)
    assert [p.text for p in _release(desk, 0)] == ["p0"]
    assert _release(desk, 14) == []
    assert [p.text for p in _release(desk, 15)] == ["p1"]
    assert _release(desk, 60) == []  # two in the window already
    assert [p.text for p in _release(desk, 120)] == ["p2"]
    assert desk.pending == 1


def test_desk_urgent_skips_everything_and_important_skips_the_cap() -> None:
    desk, _ = _desk(min_gap_s=15, max_per_window=1, window_s=300, expire_s=600)
    desk.offer(0, "thanks", "routine", priority=0)
    assert [p.text for p in _release(desk, 0)] == ["routine"]
    desk.offer(1, "shitstorm", "urgent", priority=3)
    desk.offer(1, "viewer_drop", "important", priority=2)
    desk.offer(1, "greet", "routine 2", priority=0)
    # the important one skips the cap, and the gap too, since a routine prompt started it
    assert [p.text for p in _release(desk, 1)] == ["urgent", "important"]
    assert _release(desk, 100) == []  # the routine one waits for the window


def test_desk_orders_by_priority_replaces_by_key_and_expires() -> None:
    desk, dropped = _desk(min_gap_s=10, expire_s=30, max_pending=3)
    desk.offer(0, "first", "first", priority=1)
    _release(desk, 0)
    desk.offer(1, "greet", "greet 5", priority=0)
    desk.offer(2, "greet", "greet 12", priority=0)  # replaces the waiting greeting
    desk.offer(3, "dead_air", "dead air", priority=2)
    assert [p.text for p in _release(desk, 10)] == ["dead air"]
    assert [p.text for p in _release(desk, 20)] == ["greet 12"]
    desk.offer(21, "old", "old", priority=1)
    assert _release(desk, 52) == [] and dropped == ["expired"]
    for i in range(4):
        desk.offer(60, f"k{i}", f"p{i}", priority=i % 2)
    assert dropped == ["expired", "overflow"] and desk.pending == 3


def test_ack_and_dismiss_republish_the_prompt_as_expired_and_dismiss_mutes() -> None:
    desk, dropped = _desk(min_gap_s=0, mute_after_dismiss_s=300)
    desk.offer(0, "greet", "hallo", priority=0)
    desk.offer(0, "cta", "folgen", priority=0)
    first, second = _release(desk, 0)
    box = Outbox()
    assert desk.command("ack_prompt", first.id, 5, box)
    assert box.prompts == [first.model_copy(update={"expires_at": 5})]
    assert desk.open_prompts(5) == [second]
    assert not desk.command("ack_prompt", first.id, 6, box)  # already closed
    assert not desk.command("ack_prompt", "nope", 6, box)
    assert desk.command("dismiss_prompt", second.id, 7, box)
    assert desk.open_prompts(7) == []
    desk.offer(100, "cta", "folgen!", priority=0)  # muted for 300 s after the dismissal
    assert _release(desk, 100) == [] and dropped == ["muted"]
    desk.offer(308, "cta", "folgen!", priority=0)
    assert [p.text for p in _release(desk, 308)] == ["folgen!"]


def test_withdraw_closes_the_prompt_of_a_cleared_alarm() -> None:
    desk, _ = _desk(min_gap_s=60)
    desk.offer(0, "dead_air", "shown", priority=2, alarm_id="a1")
    (shown,) = _release(desk, 0)
    desk.offer(1, "x", "waiting", priority=1, alarm_id="a2")
    box = Outbox()
    desk.withdraw("a1", 2, box)
    desk.withdraw("a2", 2, box)
    assert [(p.id, p.expires_at) for p in box.prompts] == [(shown.id, 2)]
    assert desk.pending == 0


def test_render_and_span() -> None:
    assert span(44.6) == "45 s" and span(95) == "2 min" and span(180) == "3 min"
    assert render("en", "greet", count=2, names="@a, @b") == "Greet the 2 new viewers: @a, @b"
    assert render("fr", "thanks", user="a", gift="Rose") == "Danke @a für Rose"


# -- the stage ------------------------------------------------------------------------


class Questions:
    name = "questions"

    def process(self, event: LiveEvent, draft: Draft) -> None:
        text = getattr(event, "text", "")
        if text.endswith("?"):
            draft.label("question", self.name, kind="Preis" if "kostet" in text else None)

    def tick(self, now: float, out: Outbox) -> None:
        pass


class Live:
    def __init__(self, rules: AlarmRules | None = None) -> None:
        self.clock = FakeClock(1_700_000_000.0)
        self.make = EventFactory(self.clock, stream="s")
        self.metrics = Metrics()
        self.stage = EngagementStage(
            "s", rules or AlarmRules(prompts=PromptRules(min_gap_s=0, max_per_window=100)),
            metrics=self.metrics,
        )
        self.pipeline = Pipeline([Questions(), self.stage], self.metrics)
        self.out: list[WireMessage] = []

    def feed(self, *events: LiveEvent) -> None:
        for event in events:
            self.out.extend(self.pipeline.handle(event, self.clock.now()))

    def wait(self, seconds: int) -> None:
        for _ in range(seconds):
            self.clock.advance(1)
            self.out.extend(self.pipeline.tick(self.clock.now()))

    def texts(self) -> list[str]:
        return [m.text for m in self.out if isinstance(m, Prompt)]


def greetings(live: Live) -> list[str]:
    return [t for t in live.texts() if t.startswith("Begrüße")]


def test_greeting_lists_distinct_new_viewers_every_two_minutes() -> None:
    live = Live()
    live.feed(live.make.viewers(10))
    for name in ["a", "b", "a", "c", "d", "e", "f", "g"]:
        live.feed(live.make.join(name))
    live.wait(119)
    assert greetings(live) == []
    live.wait(1)
    assert greetings(live) == ["Begrüße die 7 neuen Zuschauer: @c, @d, @e, @f, @g, …"]
    for name in ["h", "i"]:
        live.feed(live.make.join(name))
    live.wait(120)  # two new viewers are not enough for a greeting
    assert len(greetings(live)) == 1


def test_burst_of_questions_on_one_topic() -> None:
    live = Live(AlarmRules(prompts=PromptRules(min_gap_s=0), questions={"enabled": True}))
    live.feed(live.make.chat("a", "was kostet das?"), live.make.chat("b", "wie heißt du?"))
    live.wait(60)
    live.feed(live.make.chat("c", "was kostet der Pulli?"))
    assert live.texts() == []
    live.feed(live.make.chat("d", "und was kostet versand?"))
    assert live.texts() == ["3 offene Fragen zum Thema Preis"]
    live.feed(live.make.chat("e", "kostet das viel?"))  # cool-down: no second prompt
    assert len(live.texts()) == 1


def test_question_prompts_are_off_by_default() -> None:
    live = Live(AlarmRules(prompts=PromptRules(min_gap_s=0)))
    for name in "abcd":
        live.feed(live.make.chat(name, "was kostet das?"))
    assert live.texts() == []


def test_ack_command_reaches_the_desk() -> None:
    live = Live()
    live.feed(live.make.gift("anna", "Rose", diamonds=1, count=5, streak="x"))
    (prompt,) = [m for m in live.out if isinstance(m, Prompt)]
    now = live.clock.now()
    live.feed(CommandEvent(id="c1", stream="s", at=now, received=now, action="ack_prompt",
                           target=prompt.id, by="mod"))
    assert live.out[-1] == prompt.model_copy(update={"expires_at": now})
    assert live.stage.open_prompts(now) == []


def test_rates_and_metrics() -> None:
    live = Live()
    live.feed(live.make.viewers(80))
    for i in range(30):
        live.feed(live.make.chat(f"u{i % 10}", "hallo"), live.make.like("x", count=3))
        live.wait(1)
    rates = live.stage.rates(live.clock.now())
    assert rates["chat"] == pytest.approx(30) and rates["chatters"] == 10
    assert rates["new_chatters"] == pytest.approx(10) and rates["returning_chatters"] == 20
    assert rates["likes"] == pytest.approx(90)
    sample = live.metrics.registry.get_sample_value
    assert sample("livepilot_engagement_viewers", {"stream": "s"}) == 80
    assert sample("livepilot_engagement_per_minute", {"stream": "s", "signal": "chat"}) == 30


def test_viewer_slope_follows_and_shares() -> None:
    live = Live()
    for i in range(7):  # 100, 110, … 160 over one minute
        live.wait(10)
        live.feed(live.make.viewers(100 + 10 * i))
        if i % 2 == 0:
            live.feed(live.make.follow(f"f{i}"), live.make.share(f"s{i}"))
    live.wait(1)
    rates = live.stage.rates(live.clock.now())
    # over the last minute: 110 (50 s ago) → 160 now
    assert rates["viewer_slope"] == pytest.approx(50 * 60 / 51, abs=0.5)
    assert rates["follows"] == 3 and rates["shares"] == 3  # at 0:30, 0:50, 1:10
    assert live.metrics.registry.get_sample_value(
        "livepilot_engagement_per_minute", {"stream": "s", "signal": "viewer_slope"}
    ) == pytest.approx(rates["viewer_slope"])


def test_memory_stays_bounded_over_a_long_stream() -> None:
    live = Live()
    stage = live.stage
    live.feed(live.make.viewers(5000))
    for second in range(3 * 3600 // 4):  # three hours, a new user every 4 s
        live.clock.advance(4)
        live.feed(live.make.chat(f"user{second}", f"nachricht nummer {second}"))
        if second % 15 == 0:
            live.out.extend(live.pipeline.tick(live.clock.now()))
    live.out.clear()
    signals = stage.signals
    assert signals.active_chatters.count(live.clock.now()) <= 60 // 4 + 1
    assert signals.chat.size == 3600  # a fixed ring, whatever the rate


def test_chatter_state_does_not_grow_with_distinct_users() -> None:
    """60,000 accounts chatting once each (and one regular all along), one a second, through
    the stage's chatter state (new vs returning, active chatters, the summary's tallies),
    sized down tenfold from the stage's so that three filter generations and a full
    tally pass in the test's time."""
    tracemalloc.start()
    try:
        signals = Signals(viewer_window=300, chatters=20_000)
        tracker = SummaryTracker("s", user_cap=1_000)

        def chat(now: float, user: str) -> None:
            first = signals.on_chat(now, user, flagged=False)
            tracker.on_chat(now, user, user, flagged=False, first=first)

        before = 0
        for i in range(60_000):
            now = float(i)  # the per-second rings are full after the first hour
            chat(now, f"user{i}")
            if i % 50 == 0:
                chat(now, "regular")
            if i == 30_000:  # both filter generations and the tally are allocated
                before = tracemalloc.get_traced_memory()[0]
        grew = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert abs(grew) < 32_000  # 30,000 more accounts, the same memory
    summary = tracker.summary()
    assert 0.99 * 60_001 < summary.unique_chatters <= 60_001  # 1 % at most taken as known
    assert summary.top_chatters[0].user == "regular"
    assert summary.top_chatters[0].value == 1_200  # held all along: exact
    assert signals.active_chatters.count(now) <= 62  # the last minute's


def test_registry_builds_the_stage_from_settings(tmp_path: Path) -> None:
    (tmp_path / "alarms.yaml").write_text("dead_air:\n  after_s: 5\n", encoding="utf-8")
    settings = Settings(rules_dir=tmp_path, host_language="en",
                        run_of_show=REPO / "rules" / "run-of-show.yaml",
                        stages=("engagement", "polls"))
    pipeline = build_pipeline(settings.stages, StageContext(settings, Metrics(), "s"))
    stage = pipeline.stage("engagement")
    assert isinstance(stage, EngagementStage)
    assert stage.rules.dead_air.after_s == 5 and stage.show is not None
    clock = FakeClock()
    make = EventFactory(clock, stream="s")
    pipeline.handle(make.viewers(10), clock.now())
    pipeline.handle(make.chat("a", "hi"), clock.now())
    clock.advance(5)
    out = pipeline.tick(clock.now())
    prompts = [m for m in out if isinstance(m, Prompt)]
    assert prompts and prompts[0].text.startswith("Dead air for 5 s — ask the chat: ")


def test_a_gift_rain_becomes_one_combined_thank_you() -> None:
    live = Live(AlarmRules(prompts=PromptRules(min_gap_s=15, expire_s=60)))
    live.feed(live.make.gift("anna", "Rose", diamonds=1, count=5, streak="a"))
    assert live.texts() == ["Danke @anna für die Rose-Serie (5×)"]
    for name, gift, count in [("ben", "Rose", 6), ("cem", "Perfume", 1), ("ben", "Rose", 4),
                              ("dora", "Rose", 9), ("emil", "Corgi", 1)]:
        live.feed(live.make.gift(name, gift, diamonds=5, count=count))
        live.wait(2)
    live.wait(5)
    assert live.texts()[1:] == [
        "Danke für die Geschenke: @emil (Corgi), @dora (Rose ×9), @ben (Rose ×10) und 1 weitere"
    ]
    live.feed(live.make.gift("fritz", "Rose", diamonds=1, count=5))
    live.wait(15)
    assert live.texts()[-1] == "Danke @fritz für die Rose-Serie (5×)"


def test_the_gift_moment_prompt_outlives_its_alarm() -> None:
    live = Live()
    live.feed(live.make.gift("anna", "Lion", diamonds=29_999))
    (prompt,) = [m for m in live.out if isinstance(m, Prompt)]
    live.wait(31)  # the gift moment clears after 30 s; the thank-you stays until it expires
    assert [m for m in live.out if isinstance(m, Prompt)] == [prompt]


def _touch(path: Path, text: str, t: int) -> None:
    """Write ``text`` and give the file a distinct mtime (the watcher compares stamps)."""
    path.write_text(text, encoding="utf-8")
    os.utime(path, (t, t))


def test_edited_alarm_rules_are_swapped_in_and_the_stream_state_stays(tmp_path: Path) -> None:
    rules_file = tmp_path / "alarms.yaml"
    _touch(rules_file, "dead_air:\n  after_s: 40\n", 1_000)
    settings = Settings(rules_dir=tmp_path, stages=("engagement",))
    pipeline = build_pipeline(settings.stages, StageContext(settings, Metrics(), "s"))
    stage = pipeline.stage("engagement")
    assert isinstance(stage, EngagementStage)
    clock = FakeClock()
    make = EventFactory(clock, stream="s")
    pipeline.handle(make.viewers(30), clock.now())
    pipeline.handle(make.chat("anna", "hallo"), clock.now())
    _touch(rules_file, "dead_air:\n  after_s: 10\n", 2_000)
    out: list[WireMessage] = []
    for _ in range(10):
        clock.advance(1)
        out.extend(pipeline.tick(clock.now()))
    assert stage.rules.dead_air.after_s == 10
    assert [m.kind for m in out if m.type == "alarm"] == ["dead_air"]  # type: ignore[union-attr]
    assert stage.summary().chat_messages == 1  # the stream's state survived the reload

    _touch(rules_file, "dead_air:\n  after_seconds: 5\n", 3_000)  # a typo: rejected
    clock.advance(1)
    rejected = [m for m in pipeline.tick(clock.now()) if m.type == "alarm"]
    assert [(a.kind, a.state) for a in rejected] == [("rules_rejected", "raised")]  # type: ignore[union-attr]
    assert stage.rules.dead_air.after_s == 10  # the previous rules stay


def test_an_edited_run_of_show_keeps_the_current_segment(tmp_path: Path) -> None:
    plan_file = tmp_path / "show.yaml"
    plan = "segments:\n  - {{name: Intro, minutes: 5}}\n  - {{name: Produkt, minutes: {}}}\n"
    _touch(plan_file, plan.format(10), 1_000)
    settings = Settings(rules_dir=tmp_path, run_of_show=plan_file, stages=("engagement",))
    pipeline = build_pipeline(settings.stages, StageContext(settings, Metrics(), "s"))
    stage = pipeline.stage("engagement")
    assert isinstance(stage, EngagementStage) and stage.show is not None
    clock = FakeClock()
    now = clock.now()
    pipeline.handle(CommandEvent(id="c", stream="s", at=now, received=now,
                                 action="segment_start", args={"segment": "Produkt"}, by="m"),
                    now)
    _touch(plan_file, plan.format(3), 2_000)
    texts: list[str] = []
    for _ in range(60):
        clock.advance(1)
        texts += [m.text for m in pipeline.tick(clock.now()) if isinstance(m, Prompt)]
    assert stage.show.current is not None and stage.show.current.minutes == 3
    assert stage.show.started_at == now
    assert texts == ["Segment „Produkt“ endet in 2 min"]  # the new 3 minutes count
