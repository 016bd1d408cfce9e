"""Who is moderating: seats, hello, claims and what a bad presence frame gets back."""

from __future__ import annotations

import json
from typing import Any

from livepilot.server.auth import Principal
from livepilot.server.presence import MAX_CLAIMS, Presence
from livepilot.settings import ModeratorRole

LENA = Principal(name="lena", role=ModeratorRole.MODERATOR, verified=True)
SHARED = Principal(name=None, role=ModeratorRole.LEAD, verified=False)


class Sent(list[dict[str, Any]]):
    def __call__(self, message: str) -> None:
        self.append(json.loads(message))


def frame(**fields: Any) -> str:
    return json.dumps({"type": "presence", **fields})


def test_each_change_is_sent_to_every_console_and_a_closed_socket_takes_its_claims() -> None:
    presence, sent = Presence(), Sent()
    lena = presence.seat(LENA, sent)
    assert sent[-1]["moderators"] == [{"name": "lena", "role": "moderator", "verified": True,
                                       "connections": 1, "claims": []}]
    shared = presence.seat(SHARED, sent)
    assert shared.frame(frame(op="hello", name="  Maria\u0000 ")) == (True, None)
    assert [m["name"] for m in sent[-1]["moderators"]] == ["lena", "Maria"]
    # a verified moderator keeps her own name whatever the page says
    assert lena.frame(frame(op="hello", name="someone else")) == (True, None)
    assert [m["name"] for m in sent[-1]["moderators"]] == ["lena", "Maria"]

    assert lena.frame(frame(op="claim", stream="demo", target="demo-2"))[0]
    second_tab = presence.seat(LENA, sent)
    second_tab.frame(frame(op="claim", stream="demo", target="demo-5"))
    lena_now = sent[-1]["moderators"][0]
    assert lena_now["connections"] == 2
    assert lena_now["claims"] == [{"stream": "demo", "target": "demo-2"},
                                  {"stream": "demo", "target": "demo-5"}]
    lena.frame(frame(op="release", stream="demo", target="demo-2"))
    assert sent[-1]["moderators"][0]["claims"] == [{"stream": "demo", "target": "demo-5"}]

    second_tab.leave()
    lena.leave()
    assert [m["name"] for m in sent[-1]["moderators"]] == ["Maria"]
    assert len(presence) == 1
    count = len(sent)
    lena.leave()  # twice: nothing more to say
    assert len(sent) == count


def test_a_seat_holds_at_most_max_claims_newest_kept() -> None:
    presence, sent = Presence(), Sent()
    seat = presence.seat(LENA, sent)
    for i in range(MAX_CLAIMS + 5):
        seat.frame(frame(op="claim", stream="demo", target=f"demo-{i}"))
    claims = sent[-1]["moderators"][0]["claims"]
    assert len(claims) == MAX_CLAIMS
    assert claims[-1]["target"] == f"demo-{MAX_CLAIMS + 4}" and claims[0]["target"] == "demo-5"


def test_commands_pass_through_and_bad_presence_frames_are_refused_by_name() -> None:
    presence, sent = Presence(), Sent()
    seat = presence.seat(LENA, sent)
    before = len(sent)
    command = json.dumps({"stream": "demo", "action": "hide", "target": "demo-1"})
    assert seat.frame(command) == (False, None)
    assert seat.frame("not json, mentions \"presence\"") == (False, None)
    assert seat.frame("x" * 5000) == (False, None)
    for bad, where in [
        (frame(op="shout"), "op"),
        (frame(op="hello", name="n" * 81), "name"),
        (frame(op="claim", stream="demo", target="t" * 201), "target"),
        (frame(op="claim", stream="demo", target="x", extra=1), "extra"),
    ]:
        handled, reply = seat.frame(bad)
        assert handled and reply is not None
        refused = json.loads(reply)
        assert refused["type"] == "presence_refused" and where in refused["message"], refused
    handled, reply = seat.frame(frame(op="claim"))
    assert handled and reply is not None and "needs a stream and a target" in reply
    assert len(sent) == before  # nothing refused changed anything
