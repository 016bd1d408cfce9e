"""``POST /api/streams`` and ``DELETE /api/streams/{id}`` in one process (memory bus):
a lead adds a simulated stream, it starts here at once and its chat reaches the console;
moderators and observers may not; bad bodies get a 422 naming the field; only streams
added through the API can be ended through it. Real server, real WebSocket."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from websockets.asyncio.client import connect

from livepilot.stream_control import stream_desk
from livepilot.testing import (
    TEST_CONSOLE_TOKEN,
    TEST_MODERATOR_TOKENS,
    TEST_MODERATORS,
    OpenSource,
    running_server,
    settings_for_tests,
)

AUTH = {"Authorization": f"Bearer {TEST_CONSOLE_TOKEN}"}


def _as(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TEST_MODERATOR_TOKENS[name]}"}


async def test_a_lead_adds_and_ends_a_stream_in_this_process() -> None:
    settings = settings_for_tests(moderators=TEST_MODERATORS)
    async with running_server([OpenSource("live", [])], settings) as srv, \
            httpx.AsyncClient(base_url=srv.base, timeout=10) as http:
        missing = await http.post("/api/streams", headers=AUTH,
                                  json={"platform": "simulator", "unique_id": "probe"})
        srv.app.state.stream_desk = stream_desk(
            srv.service, srv.bus, settings, srv.metrics, srv.app.state.parts.audit
        )
        body = {"platform": "simulator", "unique_id": "probe", "seed": 2, "speed": 5}
        moderator = await http.post("/api/streams", headers=_as("mia"), json=body)
        observer = await http.post("/api/streams", headers=_as("otto"), json=body)
        typo = await http.post("/api/streams", headers=AUTH, json={**body, "sped": 2})
        slow = await http.post("/api/streams", headers=AUTH, json={**body, "speed": 0})
        tiktok_seed = await http.post("/api/streams", headers=AUTH,
                                      json={"platform": "tiktok", "unique_id": "@a", "seed": 1})
        taken = await http.post("/api/streams", headers=AUTH,
                                json={"platform": "simulator", "unique_id": "live"})
        async with connect(f"{srv.ws}/ws/console?token={TEST_CONSOLE_TOKEN}",
                           compression=None) as ws:
            added = await http.post("/api/streams", headers=_as("lena"), json=body)
            chat = None
            deadline = time.monotonic() + 30
            while chat is None:
                assert time.monotonic() < deadline, "no chat of the added stream"
                for m in json.loads(await asyncio.wait_for(ws.recv(), 30)):
                    if m.get("type") == "chat" and m.get("stream") == "probe":
                        chat = m
        listed = {s["stream"] for s in (await http.get("/api/streams", headers=AUTH)).json()}
        not_ours = await http.delete("/api/streams/live", headers=AUTH)
        by_moderator = await http.delete("/api/streams/probe", headers=_as("mia"))
        removed = await http.delete("/api/streams/probe", headers=_as("lena"))
        after = {s["stream"] for s in (await http.get("/api/streams", headers=AUTH)).json()}
        unknown = await http.delete("/api/streams/probe", headers=AUTH)
        audit = (await http.get("/api/audit", headers=AUTH)).json()
        sent = srv.metric("livepilot_commands_total", action="stream_add", outcome="sent")
        forbidden = srv.metric("livepilot_commands_total", action="stream_add",
                               outcome="forbidden")
    assert missing.status_code == 501
    assert moderator.status_code == 403 and "needs a lead" in moderator.json()["detail"]
    assert observer.status_code == 403
    assert typo.status_code == 422 and "sped" in typo.text
    assert slow.status_code == 422 and "speed" in slow.text
    assert tiktok_seed.status_code == 422 and "simulated streams only" in tiktok_seed.text
    assert taken.status_code == 409
    assert added.status_code == 201 and added.json() == {"stream": "probe"}
    assert {"live", "probe"} <= listed
    assert not_ours.status_code == 409 and "not added through the API" in not_ours.text
    assert by_moderator.status_code == 403
    assert removed.status_code == 202
    assert "probe" not in after and "live" in after
    assert unknown.status_code == 404
    entries = [(e["action"], e["stream"], e["by"], e["verified"]) for e in audit]
    assert ("stream_add", "probe", "lena", True) in entries
    assert ("stream_remove", "probe", "lena", True) in entries
    assert (sent, forbidden) == (1, 2)
