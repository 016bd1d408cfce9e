"""Commands through the real server: unknown actions and oversized bodies, targets and
arguments are refused with the field named, and none of them reaches the audit log."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from livepilot.testing import TEST_CONSOLE_TOKEN, OpenSource, RunningServer, running_server
from livepilot.testing import settings_for_tests as make_settings

AUTH = {"Authorization": f"Bearer {TEST_CONSOLE_TOKEN}"}


def command(action: str, **body: Any) -> dict[str, Any]:
    return {"stream": "demo", "action": action, **body}


async def audit_of(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await http.get("/api/audit")
    assert response.status_code == 200
    entries: list[dict[str, Any]] = response.json()
    return entries


async def test_unknown_actions_are_refused_with_422_and_never_audited() -> None:
    async with running_server([OpenSource("demo", [])]) as srv:
        async with httpx.AsyncClient(base_url=srv.base, headers=AUTH) as http:
            replies = [
                await http.post("/api/commands", json=command(action, target="x"))
                for action in ("send_chat", "frobnicate")
            ]
            known = await http.post("/api/commands", json=command("hide", target="demo-1"))
            audit = await audit_of(http)
    for reply, action in zip(replies, ("send_chat", "frobnicate"), strict=True):
        assert reply.status_code == 422
        detail = reply.json()["detail"]
        assert detail.startswith(f"{action}: action: unknown action; known: ")
        assert "hide" in detail and "poll_start" in detail
    assert known.status_code == 202
    assert [a["action"] for a in audit] == ["hide"]
    assert srv.metric("livepilot_commands_total", action="other", outcome="invalid") == 2


async def test_a_missing_target_or_a_stray_argument_is_refused_naming_it() -> None:
    async with running_server([OpenSource("demo", [])]) as srv:
        async with httpx.AsyncClient(base_url=srv.base, headers=AUTH) as http:
            no_target = await http.post("/api/commands", json=command("strike"))
            stray = await http.post(
                "/api/commands", json=command("hide", target="demo-1", args={"reason": "x"})
            )
            audit = await audit_of(http)
    assert no_target.status_code == 422
    assert no_target.json()["detail"] == "strike: target: required: the user id"
    assert stray.status_code == 422
    assert stray.json()["detail"] == "hide: args.reason: unknown argument"
    assert audit == []


async def test_a_five_megabyte_argument_is_refused_before_it_is_read() -> None:
    huge = json.dumps(command("answer", target="q1", args={"text": "x" * 5_000_000}))
    async with running_server([OpenSource("demo", [])]) as srv:
        async with httpx.AsyncClient(base_url=srv.base, headers=AUTH, timeout=20) as http:
            declared = await http.post(
                "/api/commands", content=huge, headers={"content-type": "application/json"}
            )

            async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted
                data = huge.encode()
                for start in range(0, len(data), 64 * 1024):
                    yield data[start:start + 64 * 1024]

            chunked = await http.post(
                "/api/commands", content=chunks(), headers={"content-type": "application/json"}
            )
            audit = await audit_of(http)
    for reply in (declared, chunked):
        assert reply.status_code == 413
        assert "LIVEPILOT_MAX_BODY_BYTES" in reply.json()["detail"]
    assert audit == []
    assert srv.metric("livepilot_bad_input_total", where="body") == 2


async def test_fields_over_their_bounds_are_refused_naming_the_field() -> None:
    async with running_server([OpenSource("demo", [])]) as srv:
        async with httpx.AsyncClient(base_url=srv.base, headers=AUTH) as http:
            long_target = await http.post("/api/commands", json=command("hide", target="x" * 201))
            long_text = await http.post(
                "/api/commands", json=command("answer", target="q1", args={"text": "x" * 2_001})
            )
            long_stream = await http.post(
                "/api/commands", json={"stream": "s" * 201, "action": "poll_close"}
            )
            # the largest poll the schema allows fits the default body cap
            biggest = command("poll_start", args={
                "question": "q" * 500,
                "options": [f"{n}" + "o" * 119 for n in range(9)],
                "keywords": {f"{n}" + "o" * 119: ["k" * 40] * 20 for n in range(9)},
            })
            assert len(json.dumps(biggest)) < make_settings().max_body_bytes
            accepted = await http.post("/api/commands", json=biggest)
            audit = await audit_of(http)
    assert long_target.status_code == 422
    assert long_target.json()["detail"][0]["loc"] == ["body", "target"]
    assert long_text.status_code == 422
    assert long_text.json()["detail"].startswith("answer: args.text: ")
    assert long_stream.status_code == 422
    assert long_stream.json()["detail"][0]["loc"] == ["body", "stream"]
    assert accepted.status_code == 202, accepted.text
    assert [a["action"] for a in audit] == ["poll_start"]
    assert len(json.dumps(audit)) < 16_384


async def replies(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    while len(got) < count:
        batch = json.loads(await asyncio.wait_for(ws.recv(), 5))
        got.extend(m for m in batch if m.get("type") in ("ack", "error"))
    return got


async def socket_commands(srv: RunningServer, *frames: str) -> list[dict[str, Any]]:
    url = f"{srv.ws}/ws/console?token={TEST_CONSOLE_TOKEN}"
    async with connect(url, compression=None, max_size=None) as ws:
        for frame in frames:
            await ws.send(frame)
        return await replies(ws, len(frames))


async def test_the_console_socket_refuses_the_same_with_error_frames() -> None:
    settings = make_settings(max_body_bytes=4_096)
    async with running_server([OpenSource("demo", [])], settings) as srv:
        got = await socket_commands(
            srv,
            json.dumps(command("frobnicate", target="x")),
            json.dumps(command("answer", target="q1", args={"text": "x" * 100_000})),
            json.dumps(command("hide", target="x" * 201)),
            json.dumps(command("answer", target="q1", args={"text": "x" * 2_001})),
            json.dumps(command("hide", target="demo-1")),  # and the socket still works
        )
        async with httpx.AsyncClient(base_url=srv.base, headers=AUTH) as http:
            audit = await audit_of(http)
    unknown, too_big, long_target, long_text, ok = got
    assert (unknown["type"], unknown["status"], unknown["field"]) == ("error", 422, "action")
    assert "unknown action" in unknown["message"]
    assert (too_big["type"], too_big["status"]) == ("error", 413)
    assert "larger than 4096 bytes" in too_big["message"]
    assert (long_target["status"], long_target["field"]) == (422, "target")
    assert long_target["message"].startswith("bad command frame: target: ")
    assert (long_text["status"], long_text["field"]) == (422, "args.text")
    assert ok["type"] == "ack"
    assert [(a["action"], a["target"]) for a in audit] == [("hide", "demo-1")]
    assert srv.metric("livepilot_bad_input_total", where="websocket") == 2
