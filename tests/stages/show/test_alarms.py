"""Alarm rules and scenarios: each alarm fires when it should, not before, not twice, and clears.

Scenarios run the real engagement stage inside a real ``Pipeline`` on a fake clock, with
one tick per second of stream time, as the runner does. Upstream verdicts (``toxic``,
``question``) come from a small labelling stage: the label is the contract between stages.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from livepilot.errors import RulesError
from livepilot.events import EmoteEvent, LiveEvent, StatusEvent, StreamState
from livepilot.insights import Alarm, AlarmState, Prompt, Severity
from livepilot.metrics import Metrics
from livepilot.pipeline.alarm import AlarmLatch, publish
from livepilot.pipeline.runner import Pipeline
from livepilot.pipeline.stage import Draft, Outbox
from livepilot.stages.show.alarms import AlarmRules, PromptRules, load_alarm_rules
from livepilot.stages.show.engagement import EngagementStage
from livepilot.testing import EventFactory, FakeClock
from livepilot.wire import WireMessage

REPO_RULES = Path(__file__).resolve().parents[3] / "rules"


class Labeller:
    """Stands in for the upstream stages: ``[toxic]`` / ``[neg]`` / ``[q:kind]`` markers."""

    name = "labeller"

    def process(self, event: LiveEvent, draft: Draft) -> None:
        text = getattr(event, "text", "")
        if "[toxic]" in text:
            draft.label("toxic", self.name, kind="insult")
        if "[neg]" in text:
            draft.label("feedback_negative", self.name)
        if "[q:" in text:
            kind = text.split("[q:", 1)[1].split("]", 1)[0] or None
            draft.label("question", self.name, kind=kind)

    def tick(self, now: float, out: Outbox) -> None:
        pass


# Prompts unthrottled unless a test is about the rate limit.
FREE = PromptRules(min_gap_s=0, max_per_window=1000, expire_s=600)


class Stream:
    """A stream on a fake clock: feed events, let seconds pass, read alarms and prompts."""

    def __init__(self, rules: AlarmRules | None = None, **stage_args: object) -> None:
        rules = rules or AlarmRules(prompts=FREE)
        self.clock = FakeClock(1_700_000_000.0)
        self.make = EventFactory(self.clock, stream="s")
        self.stage = EngagementStage("s", rules, **stage_args)  # type: ignore[arg-type]
        self.pipeline = Pipeline([Labeller(), self.stage], Metrics())
        self.out: list[WireMessage] = []

    @property
    def now(self) -> float:
        return self.clock.now()

    def feed(self, *events: LiveEvent) -> None:
        for event in events:
            self.out.extend(self.pipeline.handle(event, self.clock.now()))

    def wait(self, seconds: int) -> None:
        for _ in range(seconds):
            self.clock.advance(1)
            self.out.extend(self.pipeline.tick(self.clock.now()))

    def alarms(self, kind: str, state: AlarmState | None = None) -> list[Alarm]:
        return [
            m for m in self.out
            if isinstance(m, Alarm) and m.kind == kind and (state is None or m.state == state)
        ]

    def prompts(self) -> list[Prompt]:
        return [m for m in self.out if isinstance(m, Prompt)]

    def steady(self, seconds: int, *, viewers: int = 100, chat_every: int = 5,
               likes: int = 0) -> None:
        """Ordinary stream life: a viewer count every 5 s, chat every few seconds."""
        for i in range(seconds):
            if i % 5 == 0:
                self.feed(self.make.viewers(viewers))
            if chat_every and i % chat_every == 0:
                self.feed(self.make.chat(f"user{i % 7}", "schön hier"))
            if likes:
                self.feed(self.make.like(f"liker{i % 3}", count=likes))
            self.wait(1)


# -- rules file -----------------------------------------------------------------------


def test_shipped_alarms_yaml_is_valid_and_documents_the_defaults() -> None:
    assert load_alarm_rules(REPO_RULES / "alarms.yaml") == AlarmRules()


def test_missing_file_means_defaults(tmp_path: Path) -> None:
    assert load_alarm_rules(tmp_path / "nope.yaml") == AlarmRules()


def test_typo_in_a_threshold_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "alarms.yaml"
    path.write_text("dead_air:\n  after_seconds: 40\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"alarms\.yaml: dead_air: unknown field 'after_seconds'"):
        load_alarm_rules(path)


def test_bad_value_names_the_value(tmp_path: Path) -> None:
    path = tmp_path / "alarms.yaml"
    path.write_text("viewer_drop:\n  drop: 1.5\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"viewer_drop: field 'drop'.*got 1\.5"):
        load_alarm_rules(path)


def test_clear_threshold_must_be_below_raise(tmp_path: Path) -> None:
    path = tmp_path / "alarms.yaml"
    path.write_text("viewer_drop:\n  drop: 0.2\n  clear_drop: 0.3\n", encoding="utf-8")
    with pytest.raises(RulesError, match="clear_drop"):
        load_alarm_rules(path)


def test_rules_are_frozen() -> None:
    rules = AlarmRules()
    with pytest.raises(ValueError):
        rules.dead_air.after_s = 5  # type: ignore[misc]


# -- dead air -------------------------------------------------------------------------


def test_dead_air_fires_after_40_s_not_before_not_twice_and_clears() -> None:
    s = Stream()
    s.feed(s.make.viewers(50), s.make.chat("anna", "hallo"))
    s.wait(39)
    assert s.alarms("dead_air") == []
    s.wait(1)
    raised = s.alarms("dead_air", AlarmState.RAISED)
    assert len(raised) == 1 and raised[0].data["silent_s"] == 40
    prompt = [p for p in s.prompts() if p.alarm_id == raised[0].id]
    assert len(prompt) == 1 and "Seit 40 s kein Chat" in prompt[0].text
    s.wait(120)
    assert len(s.alarms("dead_air")) == 1
    s.feed(s.make.chat("ben", "bin wieder da"))
    cleared = s.alarms("dead_air", AlarmState.CLEARED)
    assert [a.id for a in cleared] == [raised[0].id]
    # the prompt is withdrawn: republished as expired
    withdrawn = [p for p in s.prompts() if p.id == prompt[0].id and p.expires_at == s.now]
    assert len(withdrawn) == 1


def test_dead_air_needs_viewers() -> None:
    s = Stream()
    s.feed(s.make.viewers(0), s.make.chat("anna", "hallo"))
    s.wait(120)
    assert s.alarms("dead_air") == []


def test_dead_air_respects_cooldown_after_clearing() -> None:
    rules = AlarmRules(prompts=FREE, dead_air={"after_s": 10, "cooldown_s": 30})
    s = Stream(rules)
    s.feed(s.make.viewers(50), s.make.chat("anna", "hallo"))
    s.wait(10)
    s.feed(s.make.chat("anna", "da"))
    s.wait(25)  # silent again for 25 s, but within the 30 s cool-down after the clear
    assert len(s.alarms("dead_air", AlarmState.RAISED)) == 1
    s.wait(5)
    assert len(s.alarms("dead_air", AlarmState.RAISED)) == 2


# -- viewer drop ----------------------------------------------------------------------


def test_viewer_drop_fires_at_25_percent_not_at_20_and_clears_on_recovery() -> None:
    s = Stream()
    s.steady(120, viewers=200)
    s.feed(s.make.viewers(160))  # −20 %
    s.wait(5)
    assert s.alarms("viewer_drop") == []
    s.feed(s.make.viewers(148))  # −26 %
    raised = s.alarms("viewer_drop", AlarmState.RAISED)
    assert len(raised) == 1
    assert raised[0].data["before"] == 200 and raised[0].data["after"] == 148
    prompt = [p for p in s.prompts() if p.alarm_id == raised[0].id]
    assert len(prompt) == 1 and "−26 %" in prompt[0].text and prompt[0].priority == 2
    s.feed(s.make.viewers(140))
    s.wait(5)
    assert len(s.alarms("viewer_drop", AlarmState.RAISED)) == 1  # not twice
    s.feed(s.make.viewers(185))  # back within 10 % of the peak
    cleared = s.alarms("viewer_drop", AlarmState.CLEARED)
    assert [a.id for a in cleared] == [raised[0].id]


def test_viewer_drop_clears_once_the_drop_leaves_the_window() -> None:
    s = Stream()
    s.steady(60, viewers=200)
    s.feed(s.make.viewers(100))
    assert len(s.alarms("viewer_drop", AlarmState.RAISED)) == 1
    s.steady(170, viewers=100)
    assert s.alarms("viewer_drop", AlarmState.CLEARED) == []
    s.steady(20, viewers=100)
    assert len(s.alarms("viewer_drop", AlarmState.CLEARED)) == 1


def test_viewer_drop_ignores_small_rooms() -> None:
    s = Stream()
    s.steady(60, viewers=12)
    s.feed(s.make.viewers(4))
    assert s.alarms("viewer_drop") == []


def test_slow_decline_beyond_the_window_is_not_a_drop() -> None:
    s = Stream()
    for viewers in range(200, 120, -2):  # −2 viewers every 10 s: ~−6 % per 3 min
        s.steady(10, viewers=viewers)
    assert s.alarms("viewer_drop") == []


# -- chat and like rate ---------------------------------------------------------------


def test_chat_rate_drop_against_its_baseline() -> None:
    s = Stream(AlarmRules(prompts=FREE, dead_air={"enabled": False}))
    s.steady(400, chat_every=2)  # 30 messages a minute
    assert s.alarms("chat_rate_drop") == []
    s.steady(30, chat_every=10)  # half a minute at 6/min: the minute average is 18/min
    assert s.alarms("chat_rate_drop") == []
    s.steady(30, chat_every=10)
    raised = s.alarms("chat_rate_drop", AlarmState.RAISED)
    assert len(raised) == 1 and raised[0].data["rate"] <= raised[0].data["baseline"] * 0.5
    s.steady(120, chat_every=10)
    assert len(s.alarms("chat_rate_drop", AlarmState.RAISED)) == 1
    s.steady(60, chat_every=2)
    assert len(s.alarms("chat_rate_drop", AlarmState.CLEARED)) == 1


def test_chat_rate_drop_waits_for_a_warm_baseline() -> None:
    s = Stream(AlarmRules(prompts=FREE, dead_air={"enabled": False}))
    s.steady(100, chat_every=2)
    s.steady(120, chat_every=0)
    assert s.alarms("chat_rate_drop") == []


def test_like_rate_drop() -> None:
    s = Stream(AlarmRules(prompts=FREE, dead_air={"enabled": False}))
    s.steady(400, likes=5)  # 300 likes a minute
    assert s.alarms("like_rate_drop") == []
    s.steady(30, likes=2)  # the minute average is still above half the baseline
    assert s.alarms("like_rate_drop") == []
    s.steady(90, likes=1)
    raised = s.alarms("like_rate_drop", AlarmState.RAISED)
    assert len(raised) == 1
    assert any(p.alarm_id == raised[0].id and "Likes" in p.text for p in s.prompts())
    s.steady(100, likes=5)
    assert [a.id for a in s.alarms("like_rate_drop")] == [raised[0].id] * 2
    assert s.alarms("like_rate_drop")[1].state == AlarmState.CLEARED


# -- shitstorm ------------------------------------------------------------------------


def test_shitstorm_fires_on_a_surge_of_negative_messages_and_clears() -> None:
    s = Stream()
    s.steady(120, chat_every=2)
    for i in range(30):  # one in three is toxic or negative
        marker = "[toxic]" if i % 6 == 0 else "[neg]" if i % 3 == 0 else ""
        s.feed(s.make.chat(f"u{i}", f"nachricht {marker}"))
        if i % 3 == 2:
            s.wait(1)
    assert len(s.alarms("shitstorm", AlarmState.RAISED)) == 0  # share still below 30 %
    for i in range(20):
        s.feed(s.make.chat(f"hater{i}", "[toxic] buh"))
        s.wait(1)
    raised = s.alarms("shitstorm", AlarmState.RAISED)
    assert len(raised) == 1 and raised[0].severity == "critical"
    prompt = [p for p in s.prompts() if p.alarm_id == raised[0].id]
    assert len(prompt) == 1 and "Krisenplan" in prompt[0].text and prompt[0].priority == 3
    s.steady(90, chat_every=1)
    assert [a.id for a in s.alarms("shitstorm", AlarmState.CLEARED)] == [raised[0].id]


def test_a_few_insults_are_not_a_shitstorm() -> None:
    s = Stream()
    for _ in range(10):
        s.steady(20, chat_every=1)
        s.feed(s.make.chat("troll", "[toxic] du idiot"))
    assert s.alarms("shitstorm") == []


# -- raid -----------------------------------------------------------------------------
# The spam stage detects raids; its ``raid`` alarm and its ``spam``/``raid`` labels are the
# contract. ``RaidSignals`` stands in for it: ``[raid]`` labels a message, ``[raid!]`` also
# raises the alarm, ``[raid over]`` clears it.


class RaidSignals:
    name = "spam"

    def __init__(self) -> None:
        self.latch = AlarmLatch("s", "raid", self.name, severity=Severity.CRITICAL)

    def process(self, event: LiveEvent, draft: Draft) -> None:
        text = getattr(event, "text", "")
        if "[raid" in text and "over" not in text:
            draft.label("spam", self.name, kind="raid")
        if "[raid!]" in text:
            publish(draft.out, self.latch.raise_(draft.now, "raid", {
                "members": 12, "sample": "FOLLOW @… FOR FREE COINS"}))
        if "[raid over]" in text:
            publish(draft.out, self.latch.clear(draft.now, "over"))

    def tick(self, now: float, out: Outbox) -> None:
        pass


def raid_stream(rules: AlarmRules | None = None) -> Stream:
    s = Stream(rules)
    s.pipeline = Pipeline([RaidSignals(), s.stage], Metrics())
    return s


def greetings(s: Stream) -> list[str]:
    return [p.text for p in s.prompts() if p.text.startswith("Begrüße")]


def test_the_raid_alarm_brings_an_urgent_prompt_withdrawn_when_it_clears() -> None:
    s = raid_stream()
    s.steady(30)
    s.feed(s.make.chat("bot1", "[raid!] FOLLOW @x FOR FREE COINS"))
    (raised,) = s.alarms("raid", AlarmState.RAISED)
    (prompt,) = [p for p in s.prompts() if p.alarm_id == raised.id]
    assert prompt.priority == 3 and prompt.text == (
        "Raid/Bot-Welle: 12 neue Konten schreiben „FOLLOW @… FOR FREE COINS“ — nicht "
        "vorlesen, niemanden davon begrüßen, die Moderation handeln lassen")
    s.wait(5)
    s.feed(s.make.chat("mod", "[raid over]"))
    closed = [p for p in s.prompts() if p.id == prompt.id and p.expires_at == s.now]
    assert closed, "the raid prompt stays up after the raid"


def test_raid_accounts_are_never_greeted() -> None:
    s = raid_stream()
    s.feed(s.make.viewers(100))
    for name in ("anna", "ben", "cem", "dora", "emil", "fritz"):
        s.feed(s.make.join(name))
    s.wait(20)
    for i in range(8):
        s.feed(s.make.join(f"user90{i}"))
        s.feed(s.make.chat(f"user90{i}", "[raid] folgt @x für gratis coins"))
    s.feed(s.make.join("user900"))  # a raid account coming back is not new either
    s.wait(100)
    assert greetings(s) == ["Begrüße die 6 neuen Zuschauer: @ben, @cem, @dora, @emil, @fritz, …"]


def test_no_greeting_during_a_raid_and_no_names_of_who_arrived_around_it() -> None:
    s = raid_stream()
    s.feed(s.make.viewers(100))
    for i in range(6):
        s.feed(s.make.join(f"early{i}"))
    s.wait(100)
    for i in range(10):  # arrive with the raid, never post
        s.feed(s.make.join(f"silent{i}"))
    s.wait(5)
    s.feed(s.make.chat("bot", "[raid!] FOLLOW @x FOR FREE COINS"))
    for i in range(10):
        s.feed(s.make.join(f"during{i}"))
    s.wait(60)  # the greeting is due at 120 s, but the raid is on
    assert greetings(s) == []
    s.feed(s.make.chat("mod", "[raid over]"))
    s.wait(1)
    # Counted (they may be real viewers), but only the early arrivals are named.
    assert greetings(s) == [
        "Begrüße die 26 neuen Zuschauer: @early1, @early2, @early3, @early4, @early5, …"]


def test_a_greeting_still_waiting_when_a_raid_starts_is_dropped() -> None:
    s = raid_stream(AlarmRules(prompts=PromptRules(min_gap_s=60, expire_s=600)))
    s.feed(s.make.viewers(100))
    for i in range(6):
        s.feed(s.make.join(f"v{i}"))
    s.wait(115)
    s.feed(s.make.gift("anna", "Rose", diamonds=1, count=5))  # a thank-you takes the gap
    s.wait(10)  # the greeting is offered at 120 s and waits for the gap
    assert greetings(s) == [] and s.stage.desk.is_waiting("greet")
    s.feed(s.make.chat("bot", "[raid!] FOLLOW @x FOR FREE COINS"))
    assert not s.stage.desk.is_waiting("greet")
    s.feed(s.make.chat("mod", "[raid over]"))
    s.wait(100)
    assert greetings(s) == []


def test_fresh_arrivals_wait_for_the_next_greeting() -> None:
    s = raid_stream()
    s.feed(s.make.viewers(100))
    for i in range(5):
        s.feed(s.make.join(f"old{i}"))
    s.wait(110)
    for i in range(5):
        s.feed(s.make.join(f"new{i}"))
    s.wait(10)
    assert greetings(s) == ["Begrüße die 5 neuen Zuschauer: @old0, @old1, @old2, @old3, @old4"]
    s.wait(120)
    assert greetings(s)[1:] == [
        "Begrüße die 5 neuen Zuschauer: @new0, @new1, @new2, @new3, @new4"]


# -- gift moments ---------------------------------------------------------------------


def test_new_top_gifter_and_big_gift_moments() -> None:
    s = Stream()
    s.feed(s.make.viewers(100))
    s.feed(s.make.gift("anna", "Rose", diamonds=1, count=50, streak="a1", final=False))
    assert s.alarms("gift_moment") == []  # a streak in progress counts for nothing yet
    s.feed(s.make.gift("anna", "Rose", diamonds=1, count=120, streak="a1", final=True))
    top = s.alarms("gift_moment", AlarmState.RAISED)
    assert len(top) == 1 and top[0].data["reason"] == "top_gifter"
    assert top[0].data["total"] == 120
    assert s.stage.summary().diamonds == 120
    s.wait(10)
    s.feed(s.make.gift("ben", "Rose", diamonds=1, count=100))  # below anna: no moment
    assert len(s.alarms("gift_moment", AlarmState.RAISED)) == 1
    s.feed(s.make.gift("ben", "Lion", diamonds=29_999))
    raised = s.alarms("gift_moment", AlarmState.RAISED)
    assert len(raised) == 2 and raised[1].data["reason"] == "big_gift"
    # the earlier moment is cleared before the new one is raised
    assert [a.id for a in s.alarms("gift_moment", AlarmState.CLEARED)] == [top[0].id]
    s.wait(30)
    assert [a.id for a in s.alarms("gift_moment", AlarmState.CLEARED)] == [
        top[0].id, raised[1].id
    ]


def test_thanks_for_a_streak() -> None:
    s = Stream()
    s.feed(s.make.gift("anna", "Rose", diamonds=1, count=5, streak="x", final=True))
    assert [p.text for p in s.prompts()] == ["Danke @anna für die Rose-Serie (5×)"]


def test_english_host_prompts() -> None:
    s = Stream(language="en")
    s.feed(s.make.gift("anna", "Rose", diamonds=1, count=5, streak="x", final=True))
    s.feed(s.make.viewers(50), s.make.chat("ben", "hi"))
    s.wait(40)
    texts = [p.text for p in s.prompts()]
    assert texts[0] == "Thank @anna for the Rose streak (5×)"
    assert texts[1].startswith("Dead air for 40 s — ask the chat: ")


def test_stream_end_clears_every_raised_alarm() -> None:
    s = Stream()
    s.feed(s.make.viewers(50), s.make.chat("anna", "hallo"))
    s.wait(45)
    assert s.stage.active_alarms() == ["s:dead_air:1"]
    s.feed(StatusEvent(id="end", stream="s", at=s.now, received=s.now,
                       state=StreamState.LIVE_ENDED))
    assert [a.id for a in s.alarms("dead_air", AlarmState.CLEARED)] == ["s:dead_air:1"]
    assert s.stage.active_alarms() == []


def _status(s: Stream, state: StreamState) -> None:
    s.feed(StatusEvent(id=f"st{s.now}", stream="s", at=s.now, received=s.now, state=state))


@pytest.mark.parametrize("state", [StreamState.PAUSED, StreamState.DISCONNECTED,
                                   StreamState.OFFLINE])
def test_silence_while_paused_or_disconnected_is_not_dead_air(state: StreamState) -> None:
    s = Stream()
    s.feed(s.make.viewers(50), s.make.chat("anna", "hallo"))
    s.wait(45)
    _status(s, state)  # the raised dead air clears: the stream itself went quiet
    assert [a.state for a in s.alarms("dead_air")] == ["raised", "cleared"]
    s.wait(300)
    assert len(s.alarms("dead_air")) == 2
    _status(s, StreamState.CONNECTED)
    s.wait(39)  # silence counts from the moment the stream is back
    assert len(s.alarms("dead_air")) == 2
    s.wait(1)
    assert [a.state for a in s.alarms("dead_air")] == ["raised", "cleared", "raised"]


def test_a_sticker_ends_dead_air() -> None:
    s = Stream()
    s.feed(s.make.viewers(50), s.make.chat("anna", "hallo"))
    s.wait(40)
    s.feed(EmoteEvent(id="e1", stream="s", at=s.now, received=s.now,
                      user=s.make.user("ben"), emote_ids=("smile",)))
    assert [a.state for a in s.alarms("dead_air")] == ["raised", "cleared"]
