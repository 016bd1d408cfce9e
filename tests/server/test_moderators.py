"""Personal moderator tokens and roles: settings, the real server over REST and WebSocket,
the audit log and the per-moderator response-time KPI."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from livepilot.settings import ModeratorRole, Settings
from livepilot.testing import TEST_CONSOLE_TOKEN as CONSOLE_TOKEN
from livepilot.testing import TEST_MODERATOR_TOKENS as TOKENS
from livepilot.testing import TEST_MODERATORS as MODERATORS
from livepilot.testing import TEST_OVERLAY_KEY as OVERLAY_KEY
from livepilot.testing import EventFactory, FakeClock, OpenSource, running_server
from livepilot.testing import settings_for_tests as make_settings

LENA, MIA, OTTO = TOKENS["lena"], TOKENS["mia"], TOKENS["otto"]

# -- settings -----------------------------------------------------------------------------


def test_moderators_parse_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    entries = f" anna : lead : {'a' * 12} ,ben:observer:{'b' * 16}"
    monkeypatch.setenv("LIVEPILOT_MODERATORS", entries)
    team = Settings().moderators
    assert [(m.name, m.role) for m in team] == [
        ("anna", ModeratorRole.LEAD),
        ("ben", ModeratorRole.OBSERVER),
    ]
    assert team[0].token.get_secret_value() == "a" * 12
    assert "a" * 12 not in repr(team)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("anna:boss:abcdefghijklmnop", "entry 1 ('anna'): role 'boss' is not one of lead"),
        ("ben:lead:abcdefghijklmnop,:lead:qrstuvwxyz012345", "entry 2 (no name): name is empty"),
        ("anna:lead:", "entry 1 ('anna'): token is empty or shorter than 12"),
        ("anna:lead:short-token", "entry 1 ('anna'): token is empty or shorter than 12"),
        ("anna:abcdefghijklmnop", "entry 1 ('anna'): expected name:role:token"),
        ("anna:lead:abcdefghijklmnop,anna:observer:qrstuvwxyz012345", "'anna' is listed twice"),
        (
            "anna:lead:abcdefghijklmnop,ben:observer:abcdefghijklmnop",
            "moderators 'anna' and 'ben' have the same token",
        ),
        (f"anna:lead:{CONSOLE_TOKEN}", "'anna' has the same token as the console token"),
        (f"anna:observer:{OVERLAY_KEY}", "'anna' has the same token as the overlay key"),
    ],
)
def test_bad_moderator_entries_are_refused_naming_the_entry(value: str, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        make_settings(moderators=value)
    error = raised.value.errors()[0]
    assert error["loc"] == ("moderators",)
    assert message in error["msg"]
    shown = str(raised.value)  # what a traceback would print: never a token
    for secret in ("abcdefghijklmnop", "qrstuvwxyz012345", "short-token", CONSOLE_TOKEN,
                   OVERLAY_KEY):
        assert secret not in shown


def test_a_token_in_the_role_field_is_not_echoed() -> None:
    with pytest.raises(ValidationError) as raised:
        make_settings(moderators="anna:abcdefghijklmnop:lead")
    message = raised.value.errors()[0]["msg"]
    assert "role is not one of lead, moderator, observer" in message
    assert "abcdefghijklmnop" not in message


def test_moderators_file_adds_to_the_list_and_its_errors_name_the_file(tmp_path: Path) -> None:
    good = tmp_path / "team.yaml"
    good.write_text(
        "- {name: carla, role: moderator, token: carla-token-123456}\n"
        "- {name: dana, role: lead, token: dana-token-1234567}\n",
        encoding="utf-8",
    )
    settings = make_settings(moderators=MODERATORS, moderators_file=good)
    assert [m.name for m in settings.moderators] == ["lena", "mia", "otto", "carla", "dana"]

    bad = tmp_path / "bad.yaml"
    bad.write_text("- {name: erik, role: moderator, token: erik-token-123456, x: 1}\n",
                   encoding="utf-8")
    with pytest.raises(ValidationError) as raised:
        make_settings(moderators_file=bad)
    message = raised.value.errors()[0]["msg"]
    assert f"LIVEPILOT_MODERATORS_FILE {bad} entry 1 ('erik')" in message and "x:" in message

    clash = tmp_path / "clash.yaml"
    clash.write_text("- {name: mia, role: observer, token: another-token-1234}\n", "utf-8")
    with pytest.raises(ValidationError, match="'mia' is listed twice"):
        make_settings(moderators=MODERATORS, moderators_file=clash)

    with pytest.raises(ValidationError, match=r"LIVEPILOT_MODERATORS_FILE .*cannot read it"):
        make_settings(moderators_file=tmp_path / "missing.yaml")


# -- the server ---------------------------------------------------------------------------


def team_settings() -> Settings:
    return make_settings(moderators=MODERATORS)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_api_me_says_who_is_signed_in_and_what_they_may_do() -> None:
    async with running_server([], team_settings()) as srv:
        async with httpx.AsyncClient(base_url=srv.base) as http:
            me = {
                who: (await http.get("/api/me", headers=bearer(token))).json()
                for who, token in [("shared", CONSOLE_TOKEN), *TOKENS.items()]
            }
            by_query = (await http.get("/api/me", params={"token": MIA})).json()
            overlay = await http.get("/api/me", params={"key": OVERLAY_KEY})
            wrong = await http.get("/api/me", headers=bearer("lena-lead-token-0002"))
    assert me["shared"]["name"] is None and me["shared"]["role"] == "lead"
    assert me["shared"]["verified"] is False
    assert me["lena"] | {"actions": None} == {
        "name": "lena", "role": "lead", "verified": True, "actions": None,
        "can": ["chat", "users", "questions", "prompts", "show"],
    }
    assert me["mia"]["role"] == "moderator" and me["mia"]["verified"] is True
    assert me["mia"]["can"] == ["chat", "users", "questions", "prompts"]
    assert "hide" in me["mia"]["actions"] and "poll_start" not in me["mia"]["actions"]
    assert "poll_start" in me["lena"]["actions"]
    assert me["otto"]["can"] == [] and me["otto"]["actions"] == []
    assert by_query == me["mia"]
    assert overlay.status_code == 401 and wrong.status_code == 401


async def test_every_role_may_watch_the_console_and_the_overlay_key_still_may_not() -> None:
    async with running_server([], team_settings()) as srv:
        async with httpx.AsyncClient(base_url=srv.base) as http:
            for token in TOKENS.values():
                for path in ("/", "/api/streams", "/api/recent", "/api/audit"):
                    assert (await http.get(path, headers=bearer(token))).status_code == 200
                assert (await http.get("/overlay/chat", params={"key": token})).status_code == 200
            for path in ("/", "/api/me", "/api/recent", "/api/audit"):
                response = await http.get(path, params={"key": OVERLAY_KEY})
                assert response.status_code == 401, path
                assert "moderator token" in response.json()["detail"]
        async with connect(f"{srv.ws}/ws/console?key={OVERLAY_KEY}", compression=None) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def post(http: httpx.AsyncClient, token: str, action: str, **body: Any) -> httpx.Response:
    return await http.post(
        "/api/commands", headers=bearer(token), json={"stream": "demo", "action": action, **body}
    )


async def test_rest_commands_follow_the_role_and_the_audit_shows_the_verified_name() -> None:
    poll = {"question": "Rot oder Blau?", "options": ["Rot", "Blau"]}
    async with running_server([OpenSource("demo", [])], team_settings()) as srv:
        async with httpx.AsyncClient(base_url=srv.base) as http:
            observer = await post(http, OTTO, "hide", target="demo-1")
            mod_hide = await post(http, MIA, "hide", target="demo-2")
            mod_poll = await post(http, MIA, "poll_start", args=poll)
            mod_unlisted = await post(http, MIA, "frobnicate")
            spoof = await post(http, MIA, "strike", target="u1", by="lena")
            own_name = await post(http, MIA, "strike", target="u2", by="mia")
            lead_poll = await post(http, LENA, "poll_start", args=poll)
            lead_segment = await post(http, LENA, "segment_next")
            shared = await post(http, CONSOLE_TOKEN, "giveaway_start", by="host-phone",
                                args={"keyword": "win"})
            shared_anonymous = await post(http, CONSOLE_TOKEN, "approve", target="demo-3")
            audit = (await http.get("/api/audit", headers=bearer(OTTO))).json()
            counted = (await http.get("/metrics")).text
    assert observer.status_code == 403 and "observer" in observer.json()["detail"]
    # refusals are counted for Grafana; unlisted actions share one label value
    for action, outcome, n in (("hide", "forbidden", 1), ("poll_start", "forbidden", 1),
                               ("other", "forbidden", 1), ("strike", "forbidden", 1),
                               ("hide", "sent", 1), ("poll_start", "sent", 1)):
        assert f'livepilot_commands_total{{action="{action}",outcome="{outcome}"}} {n}.0' in counted
    assert mod_poll.status_code == 403
    assert "mia (moderator) may not run 'poll_start'" in mod_poll.json()["detail"]
    assert mod_unlisted.status_code == 403
    assert spoof.status_code == 403
    assert "signed in as 'mia': cannot act as 'lena'" in spoof.json()["detail"]
    for ok in (mod_hide, own_name, lead_poll, lead_segment, shared, shared_anonymous):
        assert ok.status_code == 202, ok.text
    assert [(a["by"], a["role"], a["verified"], a["action"]) for a in audit] == [
        ("mia", "moderator", True, "hide"),
        ("mia", "moderator", True, "strike"),
        ("lena", "lead", True, "poll_start"),
        ("lena", "lead", True, "segment_next"),
        ("host-phone", "lead", False, "giveaway_start"),
        ("console", "lead", False, "approve"),
    ]


class Inbox:
    """Everything a console socket received, in order; waits read on until it is there."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []

    async def until(self, done: Callable[[list[dict[str, Any]]], bool]) -> None:
        while not done(self.messages):
            self.messages.extend(json.loads(await asyncio.wait_for(self.ws.recv(), 5)))

    async def replies(self, count: int) -> list[dict[str, Any]]:
        """The first ``count`` command replies (acks and errors), in order."""

        def replies(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [m for m in messages if m.get("type") in ("ack", "error")]

        await self.until(lambda got: len(replies(got)) >= count)
        return replies(self.messages)[:count]

    async def label(self, name: str, event_id: str | None = None) -> str:
        """The kind of the first insight label ``name`` (on ``event_id`` if given)."""

        def found(messages: list[dict[str, Any]]) -> str | None:
            for m in messages:
                if m.get("type") == "insight" and event_id in (None, m.get("event_id")):
                    for label in m.get("labels", []):
                        if label["name"] == name:
                            return str(label["kind"])
            return None

        await self.until(lambda got: found(got) is not None)
        return str(found(self.messages))


def frame(action: str, **body: Any) -> str:
    return json.dumps({"stream": "demo", "action": action, **body})


async def test_websocket_commands_follow_the_role() -> None:
    events = EventFactory(FakeClock(), "demo")
    chat = events.chat("zuschauer", "hallo zusammen")
    async with running_server([OpenSource("demo", [chat])], team_settings()) as srv:
        url = f"{srv.ws}/ws/console?token="
        async with connect(url + OTTO, compression=None) as otto:
            watching = Inbox(otto)
            await watching.until(lambda got: any(m.get("id") == chat.id for m in got))
            await otto.send(frame("hide", target=chat.id))
            [refused] = await watching.replies(1)
        async with connect(url + MIA, compression=None) as mia:
            await mia.send(frame("hide", target=chat.id))
            await mia.send(frame("poll_close"))
            await mia.send(frame("hide", target=chat.id, by="otto"))
            mod = await Inbox(mia).replies(3)
        async with connect(url + LENA, compression=None) as lena:
            await lena.send(frame("poll_close"))
            [lead] = await Inbox(lena).replies(1)
        async with httpx.AsyncClient(base_url=srv.base, headers=bearer(LENA)) as http:
            audit = (await http.get("/api/audit")).json()
    assert refused["type"] == "error" and refused["status"] == 403
    assert "observer" in refused["message"]
    assert [r["type"] for r in mod] == ["ack", "error", "error"]
    assert "may not run 'poll_close'" in mod[1]["message"]
    assert "cannot act as 'otto'" in mod[2]["message"]
    assert lead["type"] == "ack"
    # the requests (what the moderation stage applied is a linked entry: test_review.py)
    assert [(a["by"], a["action"], a["verified"]) for a in audit if not a["applied"]] == [
        ("mia", "hide", True),
        ("lena", "poll_close", True),
    ]


async def test_the_response_time_kpi_is_attributed_to_the_token_holder() -> None:
    events = EventFactory(FakeClock(), "demo")
    question = events.chat("kundin", "Wie lange dauert der Versand nach Österreich?")
    async with running_server([OpenSource("demo", [question])], team_settings()) as srv:
        async with connect(f"{srv.ws}/ws/console?token={MIA}", compression=None) as ws:
            console = Inbox(ws)
            item = await console.label("queued", event_id=question.id)
            await ws.send(frame("claim", target=item))
            # answering under someone else's name is refused before it reaches the queue
            await ws.send(frame("answer", target=item, by="lena"))
            await ws.send(frame("answer", target=item, args={"text": "2–3 Tage"}))
            assert [r["type"] for r in await console.replies(3)] == ["ack", "error", "ack"]
            assert await console.label("answered") == item
        async with httpx.AsyncClient(base_url=srv.base, headers=bearer(OTTO)) as http:
            kpi = (await http.get("/api/streams/demo/kpi")).json()
            queue = (await http.get("/api/streams/demo/questions")).json()
    assert set(kpi["moderators"]) == {"mia"}
    assert kpi["moderators"]["mia"]["answered"] == 1
    assert srv.metric(
        "livepilot_question_response_seconds_count", stream="demo", moderator="mia"
    ) == 1
    assert json.dumps(queue).count('"mia"') >= 1 and '"lena"' not in json.dumps(queue)
