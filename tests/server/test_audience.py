"""What overlays get: the projection of published messages, without console data."""

from __future__ import annotations

import json
from collections.abc import Sequence

from livepilot.bus.base import Published
from livepilot.events import DeleteEvent
from livepilot.insights import Insight
from livepilot.server.audience import OverlayProjector
from livepilot.testing import EventFactory, FakeClock
from livepilot.wire import WireMessage, encode


def batch(*messages: WireMessage) -> Sequence[Published]:
    return [Published(i, m, encode(m)) for i, m in enumerate(messages)]


def shown(out: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(kind, json.loads(raw).get("text", json.loads(raw)["id"])) for kind, raw in out]


f = EventFactory(FakeClock(), stream="s")


def insight(event_id: str, version: int = 0, *, hidden: bool = False,
            pending: tuple[str, ...] = ()) -> Insight:
    return Insight(event_id=event_id, stream="s", version=version, hidden=hidden,
                   pending=pending)


def test_clean_chat_is_shown_once_its_verdict_allows() -> None:
    p = OverlayProjector()
    chat = f.chat("anna", "hallo zusammen")
    out = p.project(batch(chat, insight(chat.id)), now=0)
    assert shown(out) == [("chat", "hallo zusammen")]
    data = json.loads(out[0][1])
    assert set(data["user"]) == {"unique_id", "nickname"} and "labels" not in data


def test_a_hidden_verdict_never_reaches_the_overlay() -> None:
    p = OverlayProjector()
    chat = f.chat("troll", "du opfer")
    assert p.project(batch(chat, insight(chat.id, hidden=True)), now=0) == []


def test_pending_chat_waits_for_the_model_and_never_flashes() -> None:
    p = OverlayProjector(hold=1.5)
    bad, good = f.chat("troll", "geh sterben"), f.chat("anna", "schöner Stream")
    out = p.project(batch(bad, insight(bad.id, pending=("toxicity",)),
                          good, insight(good.id, pending=("toxicity",))), now=10.0)
    assert out == []
    out = p.project(batch(insight(bad.id, 1, hidden=True), insight(good.id, 1)), now=10.2)
    assert shown(out) == [("chat", "schöner Stream")]
    assert p.expire(now=20.0) == []  # nothing left waiting


def test_a_verdict_that_never_comes_releases_the_message_after_the_hold() -> None:
    p = OverlayProjector(hold=1.5)
    chat = f.chat("anna", "wie geht's?")
    assert p.project(batch(chat, insight(chat.id, pending=("toxicity",))), now=10.0) == []
    assert p.expire(now=11.0) == []
    assert shown(p.expire(now=11.6)) == [("chat", "wie geht's?")]
    # the late update then changes nothing on screen
    assert p.project(batch(insight(chat.id, 1)), now=12.0) == []


def test_a_later_hide_or_platform_delete_removes_a_shown_message() -> None:
    p = OverlayProjector()
    one, two = f.chat("a", "eins"), f.chat("b", "zwei")
    p.project(batch(one, insight(one.id), two, insight(two.id)), now=0)
    out = p.project(batch(insight(one.id, 1, hidden=True)), now=1)
    assert out == [("hide", json.dumps({"type": "hide", "id": one.id}))]
    gone = DeleteEvent(id="d", stream="s", at=2, received=2, target=two.id)
    assert p.project(batch(gone), now=2) == [("hide", json.dumps({"type": "hide", "id": two.id}))]


def test_overlay_state_is_kept_for_a_snapshot_and_never_holds_a_prompt_for_public() -> None:
    from livepilot.insights import Prompt
    from livepilot.server.audience import PUBLIC

    p = OverlayProjector(stream="s")
    chat = f.chat("anna", "hallo")
    p.project(batch(chat, insight(chat.id), f.gift("ben", "Lion", diamonds=29_999),
                    f.gift("anna", "Rose", diamonds=1, count=5), f.like("cara", 40),
                    f.viewers(120),
                    Prompt(id="s:prompt:1", stream="s", source="engagement", at=f.clock.now(),
                           text="nicht vorlesen", expires_at=f.clock.now() + 60)), now=0)
    counters = json.loads(p.snapshot(PUBLIC["stats"], now=1)[0])
    assert (counters["diamonds"], counters["likes"], counters["viewers"]) == (30_004, 40, 120)
    leaders = json.loads(p.snapshot(PUBLIC["leaderboard"], now=1)[0])["leaders"]
    assert [(x["unique_id"], x["diamonds"]) for x in leaders] == [("ben", 29_999), ("anna", 5)]
    assert [json.loads(m)["text"] for m in p.snapshot(PUBLIC["chat"], now=1)] == ["hallo"]
    for name, kinds in PUBLIC.items():
        assert "nicht vorlesen" not in "".join(p.snapshot(kinds, now=1)), name
    assert "nicht vorlesen" in "".join(p.snapshot(frozenset({"prompt"}), now=1))


def test_the_spotlight_shows_a_pinned_message_until_unpinned_or_hidden() -> None:
    from livepilot.events import PinEvent

    p = OverlayProjector(stream="s")
    chat = f.chat("anna", "Was kostet das Set?")
    p.project(batch(chat, insight(chat.id)), now=0)
    pin = PinEvent(id="c1:pin", stream="s", at=1.0, received=1.0, target=chat.id,
                   text=chat.text, user=chat.user)
    out = p.project(batch(pin), now=1)
    assert [(k, json.loads(j)["text"]) for k, j in out] == [("spotlight", "Was kostet das Set?")]
    assert set(json.loads(out[0][1])["user"]) == {"unique_id", "nickname"}
    assert len(p.snapshot(frozenset({"spotlight"}), now=2)) == 1
    out = p.project(batch(insight(chat.id, 1, hidden=True)), now=2)  # the model hides it
    assert ("spotlight", json.dumps({"type": "spotlight", "id": chat.id, "pinned": False})) in out
    assert p.snapshot(frozenset({"spotlight"}), now=3) == []
