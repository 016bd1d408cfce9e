"""Strikes that outlive the stream: recalled at start, every change remembered."""

from __future__ import annotations

from pathlib import Path

from livepilot.events import CommandEvent
from livepilot.insights import Action, Insight
from livepilot.metrics import Metrics
from livepilot.pipeline.context import StageContext
from livepilot.pipeline.runner import Pipeline
from livepilot.pipeline.stage import Draft, Outbox
from livepilot.settings import Settings
from livepilot.stages.moderation.moderation import ModerationStage, build
from livepilot.stages.moderation.strike_memory import RememberedUser
from livepilot.testing import EventFactory, FakeClock

RULES = Path(__file__).resolve().parents[3] / "rules"


class Toxic:
    """Labels every message containing ``[toxic]`` as an insult."""

    name = "flagger"

    def process(self, event: object, draft: Draft) -> None:
        if "[toxic]" in getattr(event, "text", ""):
            draft.label("toxic", self.name, kind="insult")
            draft.recommend(Action.HIDE)

    def tick(self, now: float, out: Outbox) -> None:
        pass


class Memory:
    def __init__(self) -> None:
        self.kept: dict[str, RememberedUser] = {}

    def remember(self, user: RememberedUser) -> None:
        self.kept[user.user_id] = user


class Room:
    def __init__(self) -> None:
        self.stage: ModerationStage = build(StageContext(Settings(rules_dir=RULES),
                                                         Metrics(), stream="anna"))
        self.pipeline = Pipeline([Toxic(), self.stage], Metrics())
        self.clock = FakeClock()
        self.events = EventFactory(self.clock, stream="anna")
        self.memory = Memory()

    def chat(self, user: str, text: str, after: float = 10.0) -> Insight:
        self.clock.advance(after)
        out = self.pipeline.handle(self.events.chat(user, text), self.clock.now())
        return next(m for m in out if isinstance(m, Insight))

    def command(self, action: str, target: str) -> None:
        now = self.clock.now()
        self.pipeline.handle(CommandEvent(id=f"c-{action}-{now}", stream="anna", at=now,
                                          received=now, action=action, target=target,
                                          by="lisa"), now)


def test_every_change_is_remembered_with_hits_across_streams() -> None:
    room = Room()
    room.stage.recall([], room.memory, room.clock.now())
    room.chat("troll", "[toxic] eins")
    room.chat("troll", "[toxic] zwei")
    kept = room.memory.kept["id-troll"]
    assert (kept.handle, kept.hits, kept.streams, kept.blocked_by) == ("troll", 2, 1, None)
    assert 1.9 < kept.score < 2.0 and kept.at == room.clock.now()  # 10 s of decay
    room.command("block", "id-troll")
    assert room.memory.kept["id-troll"].blocked_by == "@lisa"
    room.command("pardon", "id-troll")
    pardoned = room.memory.kept["id-troll"]
    assert (pardoned.score, pardoned.hits, pardoned.streams, pardoned.blocked_by) == (0, 0, 0, None)


def test_a_repeat_offender_is_named_in_the_next_stream() -> None:
    room = Room()
    week_ago = room.clock.now() - 7 * 86400
    room.stage.recall(
        [RememberedUser("id-troll", "troll", 3.0, week_ago, hits=4, streams=2)],
        room.memory, room.clock.now(),
    )
    # A week of decay left no score: the ladder starts from zero, the history does not.
    assert room.stage.user_state("id-troll", room.clock.now())["score"] == 0.0
    insight = room.chat("troll", "[toxic] wieder da")
    assert [r.text for r in insight.reasons if r.source == "moderation"] == [
        "@troll: strike score 1.0 (1 hit) → note for the moderators; "
        "repeat offender: 5 hits in 3 streams"
    ]
    state = room.stage.user_state("id-troll", room.clock.now())
    assert (state["total_hits"], state["streams"], state["repeat"]) == (5, 3, True)
    assert room.memory.kept["id-troll"].streams == 3


def test_after_a_restart_the_score_goes_on_decaying_and_blocks_hold() -> None:
    room = Room()
    now = room.clock.now()
    room.stage.recall(
        [RememberedUser("id-troll", "troll", 4.0, now - 60, hits=3, streams=1),
         RememberedUser("id-spammer", "spammer", 0.0, now - 30, hits=0, streams=0,
                        blocked_by="@lisa")],
        room.memory, now, continuing_since=now - 600,
    )
    troll = room.stage.user_state("id-troll", now)
    assert 3.5 < troll["score"] < 4.0 and troll["step"] is not None
    # The hits were in this same stream (before the restart): not a repeat offender.
    assert (troll["total_hits"], troll["streams"], troll["repeat"]) == (3, 1, False)
    room.chat("troll", "[toxic] noch mal")
    assert room.memory.kept["id-troll"].streams == 1
    assert room.chat("spammer", "harmlos").hidden
    assert room.stage.user_state("id-spammer", now)["blocked_by"] == "@lisa"
