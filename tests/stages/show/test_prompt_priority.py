"""Host prompts by priority: a big gift's thanks or an alarm's prompt never waits behind
routine ones; routine prompts age so they are not starved."""

from __future__ import annotations

from livepilot.events import LiveEvent
from livepilot.insights import Prompt
from livepilot.metrics import Metrics
from livepilot.pipeline.runner import Pipeline
from livepilot.pipeline.stage import Outbox
from livepilot.stages.show.alarms import AlarmRules, PromptRules
from livepilot.stages.show.engagement import EngagementStage
from livepilot.stages.show.prompts import AGE_STEP_S, PromptDesk
from livepilot.testing import EventFactory, FakeClock
from livepilot.wire import WireMessage


class Live:
    """The engagement stage with the default prompt limits (15 s gap, 4 per 2 min)."""

    def __init__(self) -> None:
        self.clock = FakeClock(1_700_000_000.0)
        self.make = EventFactory(self.clock, stream="s")
        self.stage = EngagementStage("s", AlarmRules(), metrics=Metrics())
        self.pipeline = Pipeline([self.stage], Metrics())
        self.out: list[tuple[float, WireMessage]] = []

    def feed(self, event: LiveEvent) -> None:
        now = self.clock.now()
        self.out.extend((now, m) for m in self.pipeline.handle(event, now))

    def wait(self, seconds: int) -> None:
        for _ in range(seconds):
            self.clock.advance(1)
            now = self.clock.now()
            self.out.extend((now, m) for m in self.pipeline.tick(now))

    def prompts(self) -> list[tuple[float, str]]:
        start = 1_700_000_000.0
        return [(at - start, m.text) for at, m in self.out if isinstance(m, Prompt)]


def test_the_lion_is_thanked_at_once_even_right_after_a_rose_thanks() -> None:
    live = Live()
    live.feed(live.make.gift("rosa", "Rose", diamonds=1, count=5))
    live.wait(3)
    live.feed(live.make.gift("leo", "Lion", diamonds=29_999))
    shown = live.prompts()
    assert shown[0][1].startswith("Danke @rosa")
    lion = [(at, t) for at, t in shown if "@leo" in t]
    assert lion and lion[0][0] == 3.0, shown  # not 12 s later, at the end of the gap


def test_a_lion_offered_after_queued_rose_thanks_goes_first() -> None:
    desk = PromptDesk("s", "engagement", PromptRules())
    box = Outbox()
    desk.offer(0.0, "greet", "Begrüße …", priority=1)
    desk.release(0.0, box)  # the greeting starts the 15 s gap
    desk.offer(1.0, "thanks", "Danke @rosa für die Rose", priority=0)
    desk.offer(2.0, "gift_moment", "Danke @leo für den Lion!", priority=2, key="gift:leo")
    desk.release(2.0, box)
    desk.release(20.0, box)
    assert [p.text for p in box.prompts] == [
        "Begrüße …", "Danke @leo für den Lion!", "Danke @rosa für die Rose",
    ]


def test_an_important_prompt_still_waits_for_the_gap_another_important_one_started() -> None:
    desk = PromptDesk("s", "engagement", PromptRules(min_gap_s=15))
    box = Outbox()
    desk.offer(0.0, "viewer_drop", "Zuschauer gehen", priority=2)
    desk.release(0.0, box)
    desk.offer(1.0, "gift_moment", "Danke @leo", priority=2)
    desk.release(1.0, box)
    assert [p.text for p in box.prompts] == ["Zuschauer gehen"]
    desk.release(15.0, box)
    assert [p.text for p in box.prompts] == ["Zuschauer gehen", "Danke @leo"]


def test_routine_prompts_age_but_never_past_an_important_one() -> None:
    rules = PromptRules(min_gap_s=10, max_per_window=100, expire_s=600)
    desk = PromptDesk("s", "engagement", rules)
    box = Outbox()
    desk.offer(0.0, "first", "erste", priority=1)
    desk.release(0.0, box)
    desk.offer(1.0, "thanks", "alter Dank", priority=0)  # waits a long time
    desk.offer(1.0 + 2 * AGE_STEP_S, "cta", "frischer Hinweis", priority=1)
    desk.offer(1.0 + 2 * AGE_STEP_S, "dead_air", "Stille!", priority=2)
    for now in (1.0 + 2 * AGE_STEP_S, 60.0 + 2 * AGE_STEP_S, 120.0 + 2 * AGE_STEP_S):
        desk.release(now, box)
    assert [p.text for p in box.prompts] == ["erste", "Stille!", "alter Dank", "frischer Hinweis"]
