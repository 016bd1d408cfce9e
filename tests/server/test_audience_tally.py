"""The ``poll`` overlay gets poll and giveaway tallies and nothing of the console's data."""

from __future__ import annotations

import json
from collections.abc import Sequence

from livepilot.bus.base import Published
from livepilot.insights import Alarm, AlarmState, Insight, Label, Prompt, Reason, Tally, TallyOption
from livepilot.server.audience import OVERLAY_KINDS, OverlayProjector
from livepilot.testing import EventFactory, FakeClock
from livepilot.wire import WireMessage, encode

f = EventFactory(FakeClock(), stream="s")

POLL = Tally(id="s:poll:1", stream="s", source="polls", at=1.0, kind="poll", open=True,
             title="Welche Farbe?", voters=1,
             options=(TallyOption(option="Blau", votes=1, share=1.0),
                      TallyOption(option="Rot", votes=0, share=0.0)))
GIVEAWAY = Tally(id="s:giveaway:1", stream="s", source="polls", at=2.0, kind="giveaway",
                 open=False, keyword="#gewinn", entries=3, eligible=1, winners=("anna",))


def batch(*messages: WireMessage) -> Sequence[Published]:
    return [Published(i, m, encode(m)) for i, m in enumerate(messages)]


def for_overlay(name: str, projected: list[tuple[str, str]]) -> list[dict[str, object]]:
    """What the hub would send to overlay ``name``."""
    return [json.loads(raw) for kind, raw in projected if kind in OVERLAY_KINDS[name]]


def console_traffic() -> list[WireMessage]:
    vote = f.chat("anna", "1")
    troll = f.chat("troll", "#gewinn du idiot")
    return [
        vote,
        Insight(event_id=vote.id, stream="s", labels=(Label(name="vote", source="polls"),)),
        troll,
        Insight(event_id=troll.id, stream="s", hidden=True,
                labels=(Label(name="toxic", source="word_filter"),),
                reasons=(Reason(source="word_filter", text="matched 'idiot'"),)),
        Alarm(id="s:poll:1", stream="s", kind="poll", source="polls", at=1.0,
              state=AlarmState.RAISED, message="Welche Farbe?",
              data={"results": [{"option": "Blau", "votes": 1}]}),
        Prompt(id="s:prompt:1", stream="s", source="polls", at=1.0, text="Gewinner: @anna"),
        f.gift("ben", "Rose", 1, 1),
        f.viewers(120),
    ]


def test_the_poll_overlay_gets_tallies_and_nothing_else() -> None:
    projected = OverlayProjector().project(
        batch(*console_traffic(), POLL, GIVEAWAY), now=0.0)
    sent = for_overlay("poll", projected)
    assert sent == [json.loads(encode(POLL)), json.loads(encode(GIVEAWAY))]
    flat = json.dumps(sent)
    assert "troll" not in flat and "idiot" not in flat and "labels" not in flat


def test_the_combined_overlay_shows_tallies_beside_chat_but_never_host_prompts() -> None:
    projected = OverlayProjector().project(batch(*console_traffic(), POLL), now=0.0)
    kinds = [m["type"] for m in for_overlay("all", projected)]
    assert "tally" in kinds and "chat" in kinds
    assert "prompt" not in kinds and "alarm" not in kinds and "insight" not in kinds
    # the host's screen gets the prompts
    assert "prompt" in [m["type"] for m in for_overlay("host", projected)]


def test_other_overlays_do_not_get_tallies() -> None:
    projected = OverlayProjector().project(batch(POLL), now=0.0)
    for name in ("chat", "alerts", "prompts", "stats", "leaderboard", "goal"):
        assert for_overlay(name, projected) == []
