"""Overlays follow the moderators: a held or hidden message never shows, an approved one
shows then, one hidden after it was shown is taken down."""

from __future__ import annotations

import json
from collections.abc import Sequence

from livepilot.bus.base import Published
from livepilot.insights import Insight, ModerationDecision, Visibility
from livepilot.server.audience import OverlayProjector
from livepilot.testing import EventFactory, FakeClock
from livepilot.wire import WireMessage, encode

f = EventFactory(FakeClock(), stream="s")


def batch(*messages: WireMessage) -> Sequence[Published]:
    return [Published(i, m, encode(m)) for i, m in enumerate(messages)]


def decided(event_id: str, previous: Visibility, state: Visibility,
            moderator: bool = True) -> ModerationDecision:
    return ModerationDecision(event_id=event_id, stream="s", at=0.0, previous=previous,
                              state=state, action="x", by="mia", moderator=moderator)


def kinds(out: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(kind, json.loads(raw)["id"]) for kind, raw in out]


def test_approve_shows_a_held_message_and_hide_takes_a_shown_one_down() -> None:
    p = OverlayProjector()
    held, shown = f.chat("troll", "du opfer"), f.chat("anna", "hallo")
    out = p.project(batch(held, Insight(event_id=held.id, stream="s", hidden=True),
                          shown, Insight(event_id=shown.id, stream="s")), now=0)
    assert kinds(out) == [("chat", shown.id)]
    out = p.project(batch(decided(held.id, Visibility.HELD, Visibility.VISIBLE)), now=1)
    assert kinds(out) == [("chat", held.id)]
    out = p.project(batch(decided(shown.id, Visibility.VISIBLE, Visibility.HIDDEN)), now=2)
    assert kinds(out) == [("hide", shown.id)]
    # the same decision again, or a later insight, changes nothing on screen
    assert p.project(batch(decided(shown.id, Visibility.VISIBLE, Visibility.HIDDEN),
                           Insight(event_id=shown.id, stream="s", version=1)), now=3) == []


def test_a_decision_while_the_model_is_pending_wins_over_the_hold_and_the_verdict() -> None:
    p = OverlayProjector(hold=1.5)
    chat = f.chat("anna", "na?")
    assert p.project(batch(chat, Insight(event_id=chat.id, stream="s",
                                         pending=("toxicity",))), now=0) == []
    out = p.project(batch(decided(chat.id, Visibility.VISIBLE, Visibility.HIDDEN)), now=0.1)
    assert out == [] and p.expire(now=5.0) == []  # never released by the hold either
    late = Insight(event_id=chat.id, stream="s", version=1)
    assert p.project(batch(late), now=5.1) == []


def test_a_stage_hold_takes_a_shown_message_down() -> None:
    p = OverlayProjector()
    chat = f.chat("anna", "harmlos?")
    p.project(batch(chat, Insight(event_id=chat.id, stream="s")), now=0)
    out = p.project(batch(decided(chat.id, Visibility.VISIBLE, Visibility.HELD, False)), now=1)
    assert kinds(out) == [("hide", chat.id)]
