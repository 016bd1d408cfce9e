from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from livepilot.events import ChatEvent, GiftEvent, StatusEvent, StreamState
from livepilot.insights import Alarm, Insight, Label, Prompt, Reason
from livepilot.testing import EventFactory, FakeClock
from livepilot.wire import LineError, decode, encode, read_jsonl


def every_kind() -> list[object]:
    f = EventFactory(FakeClock(), stream="s")
    return [
        f.chat("anna", "Hallo ß ü 😀"),
        f.gift("ben", "Rose", 1, 3, streak="x", final=False),
        f.join("cem"),
        f.like("dora", 12, total=500),
        f.follow("emil"),
        f.share("fay"),
        f.viewers(321),
        StatusEvent(id="st", stream="s", at=1, received=1, state=StreamState.CONNECTED),
        Insight(
            event_id="s-1",
            stream="s",
            labels=(Label(name="toxic", source="word_filter"),),
            reasons=(Reason(source="word_filter", text="matched"),),
            scores={"toxicity": 0.9},
        ),
        Alarm(id="a1", stream="s", kind="dead_air", source="engagement", at=5, message="quiet"),
        Prompt(id="p1", stream="s", source="engagement", at=5, text="Ask a question"),
    ]


@pytest.mark.parametrize("message", every_kind(), ids=lambda m: m.type)  # type: ignore[attr-defined]
def test_every_message_round_trips_through_the_wire(message: object) -> None:
    raw = encode(message)  # type: ignore[arg-type]
    assert json.loads(raw)["type"] == message.type  # type: ignore[attr-defined]
    assert decode(raw) == message


def test_gift_diamonds_are_count_times_value() -> None:
    gift = EventFactory(FakeClock()).gift("anna", "Perfume", 20, 4)
    assert isinstance(gift, GiftEvent) and gift.diamonds == 80


def test_events_are_immutable_and_reject_unknown_fields() -> None:
    chat = EventFactory(FakeClock()).chat("anna", "hi")
    with pytest.raises(ValidationError):
        chat.text = "changed"  # type: ignore[misc]
    data = json.loads(encode(chat))
    data["colour"] = "red"
    with pytest.raises(ValidationError):
        decode(json.dumps(data))
    assert isinstance(decode(encode(chat)), ChatEvent)


def test_read_jsonl_names_bad_lines_and_keeps_going(tmp_path: Path) -> None:
    f = EventFactory(FakeClock(), stream="s")
    good = [encode(f.chat("a", "one")), encode(f.chat("b", "two"))]
    path = tmp_path / "rec.jsonl"
    path.write_text(
        "\n".join(
            [
                good[0],
                "{not json",
                '{"type": "chat", "id": "x"}',
                "",
                good[1],
                '{"type": "unknown"}',
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    items = list(read_jsonl(path))
    errors = [i for i in items if isinstance(i, LineError)]
    assert [e.line for e in errors] == [2, 3, 6]
    assert "stream" in errors[1].error or "user" in errors[1].error
    assert [i.text for i in items if isinstance(i, ChatEvent)] == ["one", "two"]
    assert str(errors[0]).startswith(f"{path}:2: ")
