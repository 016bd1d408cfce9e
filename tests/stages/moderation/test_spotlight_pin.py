"""``pin`` / ``unpin``: the moderation stage puts a visible message on the on-screen
spotlight and publishes it back as a ``pin`` event; a held or hidden message never."""

from __future__ import annotations

from pathlib import Path

from livepilot.events import CommandEvent, PinEvent
from livepilot.metrics import Metrics
from livepilot.pipeline.context import StageContext
from livepilot.pipeline.runner import Pipeline
from livepilot.pipeline.stage import Draft, Outbox
from livepilot.settings import Settings
from livepilot.stages.moderation.moderation import build
from livepilot.testing import EventFactory, FakeClock
from livepilot.wire import WireMessage

RULES = Path(__file__).resolve().parents[3] / "rules"
clock = FakeClock(1_800_000_000.0)
make = EventFactory(clock, stream="s")


class Hider:
    """Stands in for the filters: a message with ``[hide]`` is held."""

    name = "word_filter"

    def process(self, event: object, draft: Draft) -> None:
        if "[hide]" in getattr(event, "text", ""):
            draft.label("toxic", self.name, kind="insult")
            draft.hidden = True

    def tick(self, now: float, out: Outbox) -> None:
        pass


def room() -> Pipeline:
    stage = build(StageContext(Settings(rules_dir=RULES), Metrics(), stream="s"))
    return Pipeline([Hider(), stage], Metrics())


def command(action: str, target: str) -> CommandEvent:
    now = clock.now()
    return CommandEvent(id=f"cmd-{action}-{target}", stream="s", at=now, received=now,
                        action=action, target=target, by="mia")


def pins(published: list[WireMessage]) -> list[PinEvent]:
    return [m for m in published if isinstance(m, PinEvent)]


def test_a_visible_message_is_pinned_and_unpinned() -> None:
    pipeline = room()
    question = make.chat("anna", "Was kostet das Set?")
    pipeline.handle(question, clock.now())
    (pin,) = pins(pipeline.handle(command("pin", question.id), clock.now()))
    assert (pin.target, pin.pinned, pin.text) == (question.id, True, "Was kostet das Set?")
    assert pin.user is not None and pin.user.unique_id == "anna"
    (unpin,) = pins(pipeline.handle(command("unpin", question.id), clock.now()))
    assert unpin.pinned is False


def test_a_held_or_unknown_message_is_never_pinned() -> None:
    pipeline = room()
    held = make.chat("troll", "du [hide]")
    pipeline.handle(held, clock.now())
    assert pins(pipeline.handle(command("pin", held.id), clock.now())) == []
    assert pins(pipeline.handle(command("pin", "s-unknown"), clock.now())) == []
