"""The real server on a free port, real WebSocket clients, the simulator as the source."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from livepilot.events import COALESCIBLE_KINDS, ChatEvent, LikeEvent, LiveEvent
from livepilot.insights import Insight
from livepilot.server import hub as hub_module
from livepilot.server.hub import CLOSE_TOO_SLOW
from livepilot.sources.simulator import Simulator
from livepilot.testing import TEST_CONSOLE_TOKEN as CONSOLE_TOKEN
from livepilot.testing import TEST_OVERLAY_KEY as OVERLAY_KEY
from livepilot.testing import GatedSource, running_server
from livepilot.testing import settings_for_tests as make_settings
from livepilot.wire import EVENT_TYPES, decode


async def expected_events(**kwargs: Any) -> list[LiveEvent]:
    return [e async for e in Simulator(**kwargs).events()]


#: Messages about the connection (resume, who is at the console), not wire messages.
SERVER_ONLY = frozenset({"hello", "presence", "presence_refused"})


async def read_until_ended(
    ws: ClientConnection, stream_end: str = "live_ended"
) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    last_seq: dict[str, int] = {}
    async for frame in ws:
        batch = json.loads(frame)
        assert isinstance(batch, list), "every frame is a JSON array of messages"
        for m in batch:
            if m.get("type") in SERVER_ONLY:
                continue  # the connection's own messages, not the stream's
            seq = m.pop("seq")
            assert seq > last_seq.get(m["stream"], 0), "seq rises per stream, nothing twice"
            last_seq[m["stream"]] = seq
            got.append(m)
        if any(m.get("type") == "status" and m.get("state") == stream_end for m in batch):
            return got
    raise AssertionError("socket closed before the stream ended")


def up_to_end(got: list[dict[str, Any]], stream_end: str = "live_ended") -> list[dict[str, Any]]:
    for i, m in enumerate(got):
        if m.get("type") == "status" and m.get("state") == stream_end:
            return got[: i + 1]
    raise AssertionError("no end marker")


async def test_console_gets_every_event_and_insight_in_order_with_the_documented_schema() -> None:
    sim_args = {"stream": "demo", "seed": 11, "speed": 0, "duration": 240, "start": 1_000.0}
    source = GatedSource(Simulator(**sim_args))  # type: ignore[arg-type]
    expected = await expected_events(**sim_args)
    async with running_server([source]) as srv:
        url = f"{srv.ws}/ws/console?token={CONSOLE_TOKEN}"
        async with connect(url, compression=None) as a, connect(url, compression=None) as b:
            source.gate.set()
            got_a, got_b = await asyncio.gather(read_until_ended(a), read_until_ended(b))
        async with httpx.AsyncClient(base_url=srv.base) as http:
            metrics = (await http.get("/metrics")).text
            ready = (await http.get("/readyz")).json()
    # Clients batch on their own timers, so the frame carrying "live_ended" may also carry
    # late model updates for one client and not the other: compare up to the end marker.
    assert up_to_end(got_a) == up_to_end(got_b)
    messages = [decode(json.dumps(m)) for m in got_a]  # every message fits the wire schema
    events = [m for m in messages if m.type in EVENT_TYPES]
    assert [e.id for e in events] == [e.id for e in expected]  # all of them, in order
    seen_chat: set[str] = set()
    insights: dict[str, Insight] = {}
    for m in messages:
        if isinstance(m, ChatEvent):
            seen_chat.add(m.id)
        elif isinstance(m, Insight):
            assert m.event_id in seen_chat, "an insight never arrives before its event"
            insights.setdefault(m.event_id, m)
    assert seen_chat == set(insights), "every chat message gets an insight"
    labels = {name for i in insights.values() for name in i.label_names}
    assert {"toxic", "question"} <= labels
    assert 'livepilot_events_total{stream="demo",type="chat"}' in metrics
    assert ready["ready"] is True and ready["streams"][0]["stream"] == "demo"


def small_buffer_socket(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    return sock


async def test_a_stalled_client_is_dropped_while_a_healthy_one_keeps_receiving() -> None:
    sim_args = {"stream": "demo", "seed": 2, "speed": 0, "duration": 1500, "start": 1_000.0}
    source = GatedSource(Simulator(**sim_args))  # type: ignore[arg-type]
    expected = await expected_events(**sim_args)
    settings = make_settings(client_queue_size=4000, coalesce_ms=5)
    async with running_server([source], settings) as srv:
        url = f"{srv.ws}/ws/console?token={CONSOLE_TOKEN}"
        port = int(srv.ws.rsplit(":", 1)[1])
        stalled = await connect(url, compression=None, max_queue=1, sock=small_buffer_socket(port))
        async with connect(url, compression=None) as healthy:
            source.gate.set()
            got = await asyncio.wait_for(read_until_ended(healthy), 40)
        dropped = srv.metric("livepilot_hub_slow_disconnects_total", channel="console")
        # the stalled client now reads what it was sent, then learns why it was dropped
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(stalled.recv(), 10)
    # At full speed the ingest queue fills up, so likes/joins may be merged; nothing else is.
    events = [m for m in got if m["type"] in EVENT_TYPES - COALESCIBLE_KINDS]
    assert [e["id"] for e in events] == [e.id for e in expected if e.type not in COALESCIBLE_KINDS]
    likes = sum(m["count"] for m in got if m["type"] == "like")
    assert likes == sum(e.count for e in expected if isinstance(e, LikeEvent))
    assert dropped == 1
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_TOO_SLOW
    assert "too slow" in closed.value.rcvd.reason


async def test_a_client_whose_send_stalls_is_dropped_even_with_room_in_its_buffer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The buffer limit never trips here: what drops the client is its send not completing.
    monkeypatch.setattr(hub_module, "_SEND_TIMEOUT", 1.0)
    sim_args = {"stream": "demo", "seed": 2, "speed": 0, "duration": 1500, "start": 1_000.0}
    source = GatedSource(Simulator(**sim_args))  # type: ignore[arg-type]
    settings = make_settings(client_queue_size=1_000_000, coalesce_ms=5)
    async with running_server([source], settings) as srv:
        url = f"{srv.ws}/ws/console?token={CONSOLE_TOKEN}"
        port = int(srv.ws.rsplit(":", 1)[1])
        # No keepalive from this end: its pong would wait behind everything unread.
        stalled = await connect(url, compression=None, max_queue=1, ping_interval=None,
                                sock=small_buffer_socket(port))
        source.gate.set()
        for _ in range(400):
            if srv.metric("livepilot_hub_slow_disconnects_total", channel="console"):
                break
            await asyncio.sleep(0.1)
        dropped = srv.metric("livepilot_hub_slow_disconnects_total", channel="console")
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(stalled.recv(), 10)
    assert dropped == 1
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_TOO_SLOW
    assert closed.value.rcvd.reason == "too slow: a send took more than 1 s"


CONSOLE_HTTP = [
    ("GET", "/"),
    ("GET", "/api/streams"),
    ("GET", "/api/recent"),
    ("GET", "/api/audit"),
    ("POST", "/api/commands"),
]


@pytest.mark.parametrize("credential", [None, "wrong", OVERLAY_KEY])
async def test_console_needs_the_console_token(credential: str | None) -> None:
    async with running_server([]) as srv:
        params = {"token": credential} if credential else {}
        async with httpx.AsyncClient(base_url=srv.base) as http:
            for method, path in CONSOLE_HTTP:
                response = await http.request(method, path, params=params, json={})
                assert response.status_code == 401, (method, path)
                assert "console token" in response.json()["detail"]
            assert (await http.get("/healthz")).status_code == 200
        query = f"?token={credential}" if credential else ""
        async with connect(f"{srv.ws}/ws/console{query}", compression=None) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert srv.metric("livepilot_auth_failures_total", where="websocket") == 1


async def test_overlay_key_gets_overlay_data_only() -> None:
    sim_args = {"stream": "demo", "seed": 4, "speed": 0, "duration": 300, "start": 1_000.0}
    source = GatedSource(Simulator(**sim_args))  # type: ignore[arg-type]
    async with running_server([source]) as srv:
        async with httpx.AsyncClient(base_url=srv.base) as http:
            page = await http.get("/overlay/chat", params={"key": OVERLAY_KEY})
            assert page.status_code == 200 and "<html" in page.text.lower()
            assert (await http.get("/overlay/chat")).status_code == 401
        async with connect(f"{srv.ws}/ws/overlay/all?key={OVERLAY_KEY}", compression=None) as ws:
            source.gate.set()
            got: list[dict[str, Any]] = []
            while not any(m.get("type") == "chat" for m in got) or len(got) < 200:
                got.extend(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    types = {m["type"] for m in got}
    assert types <= {"hello", "chat", "hide", "gift", "follow", "share", "counters", "tally"}
    assert "insight" not in types and "alarm" not in types
    for m in got:
        assert "reasons" not in m and "labels" not in m
        if "user" in m:
            assert set(m["user"]) == {"unique_id", "nickname"}  # no platform ids, no badges
    # chat the rule stages hid never reaches an overlay
    shown = {m["text"] for m in got if m["type"] == "chat"}
    assert not any("hurensohn" in t.lower() for t in shown)


async def test_commands_are_validated_audited_and_delivered_to_the_stream() -> None:
    source = GatedSource(Simulator(stream="demo", seed=1, speed=0, duration=5, start=0))
    async with running_server([source]) as srv:
        auth = {"Authorization": f"Bearer {CONSOLE_TOKEN}"}
        async with httpx.AsyncClient(base_url=srv.base, headers=auth) as http:
            bad = await http.post("/api/commands", json={"stream": "demo", "action": "Hide!"})
            assert bad.status_code == 422
            unknown = await http.post("/api/commands", json={"stream": "nope", "action": "hide"})
            assert unknown.status_code == 404
            # arguments a stage could only log are refused here, with the reason
            one_option = await http.post("/api/commands", json={
                "stream": "demo", "action": "poll_start",
                "args": {"question": "Farbe?", "options": ["Blau"]},
            })
            assert one_option.status_code == 422
            assert "poll_start: args.options" in one_option.json()["detail"]
            counted = (await http.get("/metrics")).text
            assert 'livepilot_commands_total{action="poll_start",outcome="invalid"} 1.0' in counted
            assert 'livepilot_commands_total{action="hide",outcome="no_stream"} 1.0' in counted
            ok = await http.post(
                "/api/commands",
                json={"stream": "demo", "action": "hide", "target": "demo-5", "by": "mod-anna"},
            )
            assert ok.status_code == 202
            audit = (await http.get("/api/audit")).json()
        assert [(a["by"], a["action"], a["target"]) for a in audit] == [
            ("mod-anna", "hide", "demo-5")
        ]
        async with connect(f"{srv.ws}/ws/console?token={CONSOLE_TOKEN}", compression=None) as ws:
            await ws.send("{not json")
            await ws.send(json.dumps({"stream": "demo", "action": "giveaway_start"}))
            await ws.send(json.dumps({"stream": "demo", "action": "strike", "target": "u1"}))
            replies: list[dict[str, Any]] = []
            while len([r for r in replies if r["type"] in ("ack", "error")]) < 3:
                replies.extend(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        errors = [r for r in replies if r["type"] == "error"]
        acks = [r for r in replies if r["type"] == "ack"]
        assert len(errors) == 2 and "bad command frame" in errors[0]["message"]
        assert "giveaway_start: args.keyword: Field required" in errors[1]["message"]
        assert len(acks) == 1
