"""An API replica (a server that runs no stream) serves a stream a worker runs: the
stream is listed, its views come from what the worker shares on the Redis bus, and a
command sent to the replica reaches the worker's stages. Real Redis
(LIVEPILOT_TEST_REDIS_URL), both servers real, in one test process."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from tests.bus.conftest import AUTH, URL
from websockets.asyncio.client import connect

from livepilot.testing import (
    TEST_CONSOLE_TOKEN,
    EventFactory,
    FakeClock,
    OpenSource,
    running_server,
    settings_for_tests,
)


async def poll(http: httpx.AsyncClient, path: str, within: float = 10.0) -> httpx.Response:
    """GET ``path`` until it answers 200."""
    deadline = time.monotonic() + within
    while True:
        response = await http.get(path, headers=AUTH)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.2)


async def test_a_replica_serves_and_commands_a_stream_a_worker_runs(prefix: str) -> None:
    make = EventFactory(FakeClock(time.time()), stream="live")
    chat = [make.chat("anna", "Wie viel kostet das Set?"), make.chat("ben", "Hallo zusammen")]
    settings = settings_for_tests(bus="redis", redis_url=URL, redis_prefix=prefix)
    async with running_server([OpenSource("live", chat)], settings) as worker, \
            running_server([], settings) as replica, \
            httpx.AsyncClient(base_url=replica.base, timeout=10) as http:
        listed = await poll(http, "/api/streams")
        deadline = time.monotonic() + 10
        while ("live", "running") not in {(s["stream"], s["pipeline"]) for s in listed.json()}:
            assert time.monotonic() < deadline, listed.json()
            await asyncio.sleep(0.2)
            listed = await poll(http, "/api/streams")
        summary = await poll(http, "/api/streams/live/summary")
        questions = await poll(http, "/api/streams/live/questions")
        keyed = await http.get("/api/streams/live/users/id-anna", headers=AUTH)
        async with connect(f"{replica.ws}/ws/console?token={TEST_CONSOLE_TOKEN}",
                           compression=None) as ws:
            sent = await http.post("/api/commands", headers=AUTH, json={
                "stream": "live", "action": "hide", "target": chat[1].id,
            })
            decision = None
            while decision is None:
                for m in json.loads(await asyncio.wait_for(ws.recv(), 10)):
                    if m["type"] == "moderation" and m["event_id"] == chat[1].id:
                        decision = m
        ready = await http.get("/readyz")
        applied = worker.service.view("live", "review", time.time())
    status = next(s for s in listed.json() if s["stream"] == "live")
    assert status["remote"] is True and status["pipeline"] == "running"
    assert summary.status_code == 200 and isinstance(summary.json(), dict)
    assert "Wie viel kostet das Set?" in questions.text
    assert keyed.status_code == 404 and "only where the stream runs" in keyed.json()["detail"]
    assert sent.status_code == 202
    assert decision["moderator"] is True
    assert ready.status_code == 200
    assert chat[1].id in json.dumps(applied)
