"""The console backlog folds updates in: the latest insight, moderators' decisions applied."""

from __future__ import annotations

import json
from typing import Any

from livepilot.bus.base import Published
from livepilot.insights import Insight, ModerationDecision, Visibility
from livepilot.server.backlog import Backlog
from livepilot.testing import EventFactory, FakeClock
from livepilot.wire import WireMessage, encode

f = EventFactory(FakeClock(), stream="s")


def add(backlog: Backlog, *messages: WireMessage) -> None:
    backlog.add([Published(i, m, encode(m)) for i, m in enumerate(messages)])


def decision(event_id: str, previous: Visibility, state: Visibility, by: str = "mia",
             action: str = "hide") -> ModerationDecision:
    return ModerationDecision(event_id=event_id, stream="s", at=1.0, previous=previous,
                              state=state, action=action, by=by, moderator=True,
                              command=f"cmd-{action}")


def read(backlog: Backlog, limit: int = 100) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in backlog.recent(limit)]


def test_a_hidden_message_comes_back_hidden_after_its_event_and_insight() -> None:
    backlog = Backlog()
    one, two = f.chat("anna", "eins"), f.chat("ben", "zwei")
    add(backlog, one, Insight(event_id=one.id, stream="s"), two,
        Insight(event_id=two.id, stream="s"))
    add(backlog, decision(one.id, Visibility.VISIBLE, Visibility.HIDDEN))
    got = read(backlog)
    assert [(m["type"], m.get("id") or m.get("event_id")) for m in got] == [
        ("chat", one.id), ("insight", one.id), ("chat", two.id), ("insight", two.id),
        ("moderation", one.id),
    ]
    assert got[1]["hidden"] is True and got[3]["hidden"] is False
    assert got[4]["state"] == "hidden" and got[4]["by"] == "mia"
    # unhidden again: the same places, the latest decision
    add(backlog, decision(one.id, Visibility.HIDDEN, Visibility.VISIBLE, "lena", "unhide"))
    got = read(backlog)
    assert len(got) == 5 and got[1]["hidden"] is False
    assert (got[4]["state"], got[4]["by"]) == ("visible", "lena")


def test_the_latest_insight_version_replaces_the_earlier_in_place() -> None:
    backlog = Backlog()
    chat = f.chat("anna", "na?")
    add(backlog, chat, Insight(event_id=chat.id, stream="s", pending=("toxicity",)),
        f.chat("ben", "hi"))
    add(backlog, Insight(event_id=chat.id, stream="s", version=1, hidden=True))
    add(backlog, Insight(event_id=chat.id, stream="s", version=0))  # stale, dropped
    got = read(backlog)
    assert [m["type"] for m in got] == ["chat", "insight", "chat"]
    assert got[1]["version"] == 1 and got[1]["hidden"] is True and got[1]["pending"] == []


def test_an_insight_after_a_decision_says_what_the_decision_says() -> None:
    backlog = Backlog()
    chat = f.chat("anna", "hmm")
    add(backlog, chat, Insight(event_id=chat.id, stream="s", hidden=True),
        decision(chat.id, Visibility.HELD, Visibility.VISIBLE, action="approve"))
    add(backlog, Insight(event_id=chat.id, stream="s", version=1, hidden=True))
    assert read(backlog)[1]["hidden"] is False


def test_bounded_and_seeded_from_the_bus_log() -> None:
    backlog = Backlog(size=10)
    chats = [f.chat("anna", f"nr {i}") for i in range(20)]
    for chat in chats:
        add(backlog, chat, Insight(event_id=chat.id, stream="s"))
    assert len(backlog) == 10
    assert read(backlog, 2)[0]["id"] == chats[-1].id
    # an insight whose slot fell off comes back as a new entry, never a stale pointer
    add(backlog, decision(chats[0].id, Visibility.VISIBLE, Visibility.HIDDEN))
    assert len(backlog) == 10 and read(backlog, 1)[0]["type"] == "moderation"

    seeded = Backlog()
    log = [encode(chats[0]), encode(Insight(event_id=chats[0].id, stream="s")), "{broken",
           encode(decision(chats[0].id, Visibility.VISIBLE, Visibility.HIDDEN))]
    seeded.seed(log)
    got = read(seeded)
    assert [m["type"] for m in got] == ["chat", "insight", "moderation"]
    assert got[1]["hidden"] is True
    assert seeded.recent(0) == []


def test_every_message_gets_the_next_seq_and_since_returns_exactly_what_came_after() -> None:
    backlog = Backlog(size=10)
    chats = [f.chat("anna", f"nr {i}") for i in range(4)]
    sent = backlog.add([Published(0, c, encode(c)) for c in chats])
    assert [json.loads(raw)["seq"] for raw in sent] == [1, 2, 3, 4] and backlog.head == 4
    add(backlog, Insight(event_id=chats[0].id, stream="s"))  # seq 5
    add(backlog, Insight(event_id=chats[0].id, stream="s", version=1))  # seq 6, in place
    missed = [json.loads(raw) for raw in backlog.since(3) or []]
    assert [(m["seq"], m["type"]) for m in missed] == [(4, "chat"), (6, "insight")]
    assert backlog.since(6) == [] and backlog.since(7) is None  # from the future: snapshot
    for i in range(20):
        add(backlog, f.chat("ben", f"mehr {i}"))
    assert backlog.since(3) is None  # what came after 3 has partly fallen off
    assert [json.loads(r)["seq"] for r in backlog.since(backlog.head - 2) or []] == [
        backlog.head - 1, backlog.head]
