"""Hide, approve and unhide against the real server: the moderation stage applies them, and
the overlays, /api/recent, the review view and the audit log all show the result."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from livepilot.testing import (
    TEST_MODERATOR_TOKENS,
    TEST_MODERATORS,
    TEST_OVERLAY_KEY,
    ScriptedSource,
    running_server,
    settings_for_tests,
)

LENA, MIA = TEST_MODERATOR_TOKENS["lena"], TEST_MODERATOR_TOKENS["mia"]


async def until(check: Callable[[], Awaitable[Any]], what: str, within: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


class Overlay:
    """What the chat overlay shows, from its socket."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.shown: dict[str, str] = {}  # id -> text, in order

    async def read(self, seconds: float = 0.3) -> None:
        try:
            while True:
                for m in json.loads(await asyncio.wait_for(self.ws.recv(), seconds)):
                    if m["type"] == "chat":
                        self.shown[m["id"]] = m["text"]
                    elif m["type"] == "hide":
                        self.shown.pop(m["id"], None)
        except TimeoutError:
            pass


@pytest.mark.timeout(60)
async def test_hide_approve_unhide_act_everywhere_and_are_audited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = ScriptedSource("demo")
    settings = settings_for_tests(moderators=TEST_MODERATORS)
    async with running_server([source], settings) as srv, \
            httpx.AsyncClient(base_url=srv.base) as http, \
            connect(f"{srv.ws}/ws/overlay/chat?key={TEST_OVERLAY_KEY}", compression=None) as ws:
        lena = {"Authorization": f"Bearer {LENA}"}
        mia = {"Authorization": f"Bearer {MIA}"}

        async def get(path: str, **params: Any) -> Any:
            return (await http.get(path, headers=lena, params=params)).json()

        async def act(action: str, target: str, who: dict[str, str]) -> None:
            reply = await http.post("/api/commands", headers=who,
                                    json={"stream": "demo", "action": action, "target": target})
            assert reply.status_code == 202, reply.text

        async def state(event_id: str) -> str | None:
            return (await get(f"/api/streams/demo/messages/{event_id}"))["state"]  # type: ignore[no-any-return]

        overlay = Overlay(ws)
        source.chat("anna", "hallo zusammen, schöner stream")
        source.chat("troll", "du hurensohn")
        clean, held = "demo-1", "demo-2"

        async def judged() -> bool:
            return await state(clean) == "visible" and await state(held) == "held"

        await until(judged, "both messages judged")

        async def clean_shown() -> bool:
            await overlay.read(0.1)
            return clean in overlay.shown

        await until(clean_shown, "the clean message on the overlay")
        review = await get("/api/streams/demo/review")
        assert review["open"] == 1 and review["open_items"][0]["event_id"] == held
        assert review["open_items"][0]["flags"] == ["toxic:insult"]

        # mia hides the clean message: the overlay takes it down
        await act("hide", clean, mia)

        async def taken_down() -> bool:
            await overlay.read(0.1)
            return clean not in overlay.shown

        await until(taken_down, "the hidden message off the overlay")
        assert held not in overlay.shown  # a held message never showed
        # lena approves the held one: it appears on the overlay, the queue is empty
        await act("approve", held, lena)

        async def approved_shown() -> bool:
            await overlay.read(0.1)
            return held in overlay.shown

        await until(approved_shown, "the approved message on the overlay")
        review = await get("/api/streams/demo/review")
        assert review["open"] == 0 and review["handled"] == 2
        assert [(i["event_id"], i["by"], i["previous"], i["state"])
                for i in review["handled_items"]] == [
            (held, "lena", "held", "visible"), (clean, "mia", "visible", "hidden")]

        # /api/recent says how the messages stand now, not how they were published
        recent = await get("/api/recent")
        insights = {m["event_id"]: m for m in recent if m["type"] == "insight"}
        assert insights[clean]["hidden"] is True and insights[held]["hidden"] is False
        decisions = [(m["event_id"], m["state"], m["by"]) for m in recent
                     if m["type"] == "moderation"]
        assert decisions == [(clean, "hidden", "mia"), (held, "visible", "lena")]

        # the same decision again, and a message nobody knows: accepted, nothing applied
        with caplog.at_level(logging.WARNING, "livepilot.stages.moderation.message_state"):
            await act("hide", clean, lena)
            await act("approve", "demo-999", lena)
            await act("unhide", clean, lena)  # this one applies
            await until(lambda: _true(clean, state, "visible"), "the unhide applied")
        assert "no message 'demo-999'" in caplog.text

        audit = await get("/api/audit")
        rows = [(a["by"], a["action"], a["target"], a["applied"], a["previous"], a["state"],
                 a["role"]) for a in audit]
        assert rows == [
            ("mia", "hide", clean, False, None, None, "moderator"),
            ("mia", "hide", clean, True, "visible", "hidden", "moderator"),
            ("lena", "approve", held, False, None, None, "lead"),
            ("lena", "approve", held, True, "held", "visible", "lead"),
            ("lena", "hide", clean, False, None, None, "lead"),
            ("lena", "approve", "demo-999", False, None, None, "lead"),
            ("lena", "unhide", clean, False, None, None, "lead"),
            ("lena", "unhide", clean, True, "hidden", "visible", "lead"),
        ]
        # each applied entry names the request it answers
        assert audit[1]["command"] == audit[0]["command"] != ""
        assert audit[7]["command"] == audit[6]["command"] != audit[0]["command"]

        # a console that connects now gets the messages as they stand
        async with connect(f"{srv.ws}/ws/console?token={MIA}", compression=None) as console:
            backlog = json.loads(await asyncio.wait_for(console.recv(), 5))
        late = {m["event_id"]: m["hidden"] for m in backlog if m["type"] == "insight"}
        assert late == {clean: False, held: False}


async def _true(event_id: str, state: Callable[[str], Awaitable[str | None]],
                want: str) -> bool:
    return await state(event_id) == want
