"""Strike ladder: points from labels, decay, recommended actions, moderator commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from livepilot.events import CommandEvent
from livepilot.insights import Action, Insight
from livepilot.metrics import Metrics
from livepilot.pipeline.context import StageContext
from livepilot.pipeline.runner import Pipeline
from livepilot.pipeline.stage import Draft, Outbox
from livepilot.settings import Settings
from livepilot.stages.moderation.moderation import ModerationStage, build
from livepilot.stages.registry import build_pipeline
from livepilot.testing import EventFactory, FakeClock

RULES = Path(__file__).resolve().parents[3] / "rules"


class Flagger:
    """Stands in for the filters: ``[toxic]``, ``[threat]``, ``[spam]``, ``[mild]`` markers."""

    name = "flagger"

    def process(self, event: object, draft: Draft) -> None:
        text = getattr(event, "text", "")
        if "[toxic]" in text:
            draft.label("toxic", self.name, kind="insult")
            draft.recommend(Action.HIDE)
        if "[threat]" in text:
            draft.label("toxic", self.name, kind="threat")
            draft.recommend(Action.HIDE)
        if "[spam]" in text:
            draft.label("spam", self.name, kind="caps")
            draft.recommend(Action.HIDE)
        if "[mild]" in text:
            draft.label("toxic", self.name, kind="insult")
            draft.recommend(Action.REVIEW)

    def tick(self, now: float, out: Outbox) -> None:
        pass


class Room:
    def __init__(self, rules_dir: Path = RULES) -> None:
        self.stage: ModerationStage = build(StageContext(Settings(rules_dir=rules_dir),
                                                         Metrics(), stream="test"))
        self.pipeline = Pipeline([Flagger(), self.stage], Metrics())
        self.clock = FakeClock()
        self.events = EventFactory(self.clock)

    def chat(self, user: str, text: str, after: float = 10.0) -> Insight:
        self.clock.advance(after)
        out = self.pipeline.handle(self.events.chat(user, text), self.clock.now())
        return next(m for m in out if isinstance(m, Insight))

    def command(self, action: str, target: str, **args: object) -> None:
        command = CommandEvent(id=f"cmd-{action}-{self.clock.now()}", stream="test",
                               at=self.clock.now(), received=self.clock.now(), action=action,
                               target=target, by="mod_lisa", args=args)
        assert self.pipeline.handle(command, self.clock.now()) == []

    def moderation(self, insight: Insight) -> list[str]:
        return [r.text for r in insight.reasons if r.source == "moderation"]


@pytest.fixture
def room() -> Room:
    return Room()


def test_ladder_escalates_with_reasons(room: Room) -> None:
    first = room.chat("anna", "[toxic] 1")
    assert first.action is Action.HIDE  # the filter's own recommendation
    assert room.moderation(first) == ["@anna: strike score 1.0 (1 hit) → note for the moderators"]
    second = room.chat("anna", "[toxic] 2")
    assert room.moderation(second) == [
        "@anna: strike score 2.0 (2 hits in 1 min) → hide from overlays"
    ]
    third = room.chat("anna", "[toxic] 3")
    assert third.action is Action.TIMEOUT and third.hidden
    assert room.moderation(third)[0].startswith("@anna: strike score 3.0 (3 hits in 1 min)")
    assert room.moderation(third)[0].endswith("→ timeout in the TikTok app")
    for i in range(3):
        last = room.chat("anna", f"[threat] {i}")
    assert last.action is Action.BLOCK
    assert room.moderation(last)[0].endswith("→ block in the TikTok app")


def test_points_depend_on_label_kind_and_review_counts_half(room: Room) -> None:
    room.chat("ben", "[threat] once")
    assert room.stage.score("id-ben", room.clock.now()) == pytest.approx(2.0)
    room.chat("cleo", "[mild] du depp")
    assert room.stage.score("id-cleo", room.clock.now()) == pytest.approx(0.5)
    room.chat("dave", "[spam] KAUFT")
    assert room.stage.score("id-dave", room.clock.now()) == pytest.approx(0.5)


def test_score_decays_with_the_half_life(room: Room) -> None:
    room.chat("anna", "[threat] x", after=0)
    start = room.clock.now()
    assert room.stage.score("id-anna", start + 600) == pytest.approx(1.0)   # 10 min half-life
    assert room.stage.score("id-anna", start + 1200) == pytest.approx(0.5)
    # after an hour a new hit starts nearly from scratch
    later = room.chat("anna", "[toxic] again", after=3600)
    assert room.moderation(later)[0].startswith("@anna: strike score 1.0")


def test_clean_messages_of_a_user_high_on_the_ladder_stay_hidden(room: Room) -> None:
    room.chat("troll", "[threat] a")
    clean = room.chat("troll", "hallo")
    assert clean.hidden and clean.action is None and not clean.labels
    assert room.moderation(clean) == [
        "@troll: strike score 2.0 — messages hidden from overlays until it decays"
    ]
    much_later = room.chat("troll", "hallo", after=3600)
    assert not much_later.hidden and much_later.reasons == ()
    # a user with only a note-level score is not hidden
    room.chat("fan", "[toxic] once")
    assert not room.chat("fan", "sorry").hidden


def test_strike_and_pardon_commands(room: Room) -> None:
    room.command("strike", "id-eve", points=2.5)
    assert room.stage.score("id-eve", room.clock.now()) == pytest.approx(2.5)
    insight = room.chat("eve", "[toxic] again", after=0)
    assert insight.action is Action.TIMEOUT
    room.command("pardon", "id-eve")
    assert room.stage.score("id-eve", room.clock.now()) == 0.0
    assert not room.chat("eve", "hallo").hidden
    room.command("strike", "id-eve", points="viel")   # a bad value counts as one strike
    assert room.stage.score("id-eve", room.clock.now()) == pytest.approx(1.0)


def test_block_and_unblock_commands(room: Room) -> None:
    room.command("block", "id-frank")
    blocked = room.chat("frank", "ganz normale Nachricht")
    assert blocked.hidden and "@frank is blocked by @mod_lisa" in blocked.reasons[0].text
    room.command("unblock", "id-frank")
    assert not room.chat("frank", "wieder da").hidden
    room.command("ban", "id-frank")
    assert room.chat("frank", "x").hidden
    room.command("pardon", "id-frank")
    assert not room.chat("frank", "y").hidden


def test_unknown_commands_and_commands_without_target_do_nothing(room: Room) -> None:
    room.command("answer", "id-anna")
    room.command("strike", "")
    assert room.stage.tracked_users == 0


def test_state_is_bounded_and_forgotten_when_decayed(tmp_path: Path) -> None:
    (tmp_path / "moderation.yaml").write_text("max_users: 50\nhalf_life_minutes: 1\n")
    room = Room(tmp_path)
    for i in range(500):
        room.chat(f"user{i}", "[toxic] x", after=0.01)
    assert room.stage.tracked_users == 50
    for step in range(5):
        room.stage.tick(room.clock.now() + 600 + step, Outbox())
    assert room.stage.tracked_users == 0


def test_runs_after_the_real_filters_in_the_default_chain() -> None:
    settings = Settings(rules_dir=RULES)
    pipeline = build_pipeline(("word_filter", "spam", "moderation"),
                              StageContext(settings, Metrics(), stream="test"))
    clock = FakeClock()
    events = EventFactory(clock)
    for text in ("du h*rensohn", "ich bring dich um"):
        clock.advance(5)
        out = pipeline.handle(events.chat("troll", text), clock.now())
    insight = next(m for m in out if isinstance(m, Insight))
    assert insight.action is Action.TIMEOUT and insight.hidden
    assert any(r.text.startswith("@troll: strike score 3.0 (2 hits in 1 min)")
               for r in insight.reasons)


def test_user_state_of_an_unknown_user_is_a_clean_zero_state(room: Room) -> None:
    assert room.stage.user_state("id-nobody", room.clock.now()) == {
        "user_id": "id-nobody",
        "handle": "",
        "score": 0.0,
        "hits": 0,
        "step": None,
        "recommended": None,
        "reason": "no strikes",
        "hidden": False,
        "blocked": False,
        "blocked_by": None,
        "total_hits": 0,
        "streams": 0,
        "repeat": False,
    }
    assert room.stage.tracked_users == 0  # reading does not create state


def test_user_state_shows_the_score_decaying_with_the_clock(room: Room) -> None:
    room.chat("anna", "[threat] x", after=0)
    room.chat("anna", "[toxic] y", after=60)
    state = room.stage.user_state("id-anna", room.clock.now())
    assert state["handle"] == "anna"
    assert state["score"] == 2.9  # 2 decayed for a minute (1.87), plus 1; one decimal
    assert state["hits"] == 2
    assert (state["step"], state["recommended"]) == ("hide", "hide from overlays")
    assert state["reason"] == "@anna: strike score 2.9 (2 hits in 1 min) → hide from overlays"
    assert state["hidden"] and not state["blocked"]

    later = room.stage.user_state("id-anna", room.clock.now() + 600)  # one half-life
    assert later["score"] == 1.4  # 2.87 halved
    assert (later["step"], later["hidden"]) == ("note", False)
    much_later = room.stage.user_state("id-anna", room.clock.now() + 3 * 3600)
    assert much_later["score"] == 0.0 and much_later["step"] is None
    assert much_later["hits"] == 0 and much_later["reason"] == "no strikes"


def test_user_state_reflects_strike_pardon_block_and_unblock(room: Room) -> None:
    now = room.clock.now
    room.command("strike", "id-eve", points=3, handle="eve")
    state = room.stage.user_state("id-eve", now())
    assert (state["score"], state["hits"], state["step"]) == (3.0, 1, "timeout")
    assert state["recommended"] == "timeout in the TikTok app" and state["handle"] == "eve"
    room.command("strike", "id-eve")
    assert room.stage.user_state("id-eve", now())["score"] == 4.0
    room.command("block", "id-eve")
    blocked = room.stage.user_state("id-eve", now())
    assert blocked["blocked"] and blocked["blocked_by"] == "@mod_lisa" and blocked["hidden"]
    room.command("pardon", "id-eve")
    pardoned = room.stage.user_state("id-eve", now())
    assert (pardoned["score"], pardoned["blocked"], pardoned["hidden"]) == (0.0, False, False)
    room.command("block", "id-eve")
    room.command("unblock", "id-eve")
    assert room.stage.user_state("id-eve", now())["blocked_by"] is None
    # a block alone (no strikes) still hides the user's messages
    room.command("ban", "id-zed")
    zed = room.stage.user_state("id-zed", now())
    assert zed["hidden"] and zed["score"] == 0.0 and zed["reason"] == "no strikes"


def test_watch_list_puts_blocks_first_then_the_highest_scores(room: Room) -> None:
    room.chat("low", "[spam] x")
    room.chat("high", "[threat] x")
    room.chat("mid", "[toxic] x")
    room.command("block", "id-quiet")
    room.command("strike", "id-gone", points=1)
    room.clock.advance(7 * 3600)  # every score decays to nothing; a block stays
    room.chat("high", "[threat] again", after=0)
    room.chat("mid", "[toxic] again", after=0)
    room.chat("low", "[spam] again", after=0)
    order = [u["user_id"] for u in room.stage.watch_list(room.clock.now())]
    assert order == ["id-quiet", "id-high", "id-mid", "id-low"]
    assert [u["user_id"] for u in room.stage.watch_list(room.clock.now(), limit=2)] == [
        "id-quiet", "id-high"
    ]
