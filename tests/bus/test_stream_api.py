"""Streams added and ended through the API on the Redis bus: a stream posted to an API
replica is claimed and run by one of two worker processes, its events reach a console
on the replica, and ``DELETE`` stops it there and gives its lease back. Real Redis
(LIVEPILOT_TEST_REDIS_URL), real ``livepilot`` processes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from tests.bus.conftest import AUTH, URL, Processes, local_streams
from websockets.asyncio.client import connect

from livepilot.testing import TEST_CONSOLE_TOKEN


async def _collect(ws: Any, into: list[dict[str, Any]]) -> None:
    async for frame in ws:
        into.extend(m for m in json.loads(frame) if isinstance(m, dict))


@pytest.mark.timeout(150)
async def test_a_stream_posted_to_a_replica_runs_on_one_worker_until_deleted(
    prefix: str, processes: Processes
) -> None:
    ports = {name: processes.start(name, "worker") for name in ("w1", "w2")}
    replica = processes.start("replica", "serve")
    client: Any = aioredis.Redis.from_url(URL)
    lease = f"{prefix}:lease:gamma"
    seen: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{replica}", timeout=10) as http:
        try:
            await processes.until("the replica answers", lambda: _ok(http), 60)
            bad = await http.post("/api/streams", headers=AUTH,
                                  json={"platform": "youtube", "unique_id": "x"})
            blank = await http.post("/api/streams", headers=AUTH,
                                    json={"platform": "simulator", "unique_id": ""})
            anonymous = await http.post("/api/streams",
                                        json={"platform": "simulator", "unique_id": "gamma"})
            uri = f"ws://127.0.0.1:{replica}/ws/console?token={TEST_CONSOLE_TOKEN}"
            async with connect(uri, compression=None) as ws:
                reader = asyncio.create_task(_collect(ws, seen))
                try:
                    added = await http.post("/api/streams", headers=AUTH, json={
                        "platform": "simulator", "unique_id": "gamma", "seed": 4,
                        "speed": 3, "title": "Probe",
                    })
                    again = await http.post("/api/streams", headers=AUTH, json={
                        "platform": "simulator", "unique_id": "gamma",
                    })

                    async def owner() -> str | None:
                        local = {n: await local_streams(p) for n, p in ports.items()}
                        running = [n for n, streams in local.items() if "gamma" in streams]
                        return running[0] if len(running) == 1 else None

                    runs_on = await processes.until("gamma running on one worker", owner, 60)
                    holder = (await client.get(lease)).decode()
                    assert f"-{processes.procs[runs_on].pid}-" in holder

                    async def chat() -> bool:
                        return any(m["type"] == "chat" and m["stream"] == "gamma"
                                   for m in seen)

                    await processes.until("a chat of gamma on the replica's console", chat, 30)

                    async def listed() -> bool:
                        response = await http.get("/api/streams", headers=AUTH)
                        return "gamma" in {s["stream"] for s in response.json()}

                    await processes.until("gamma listed on the replica", listed, 15)
                    audit = (await http.get("/api/audit", headers=AUTH)).json()
                    removed = await http.delete("/api/streams/gamma", headers=AUTH)

                    async def stopped() -> bool:
                        local = {n: await local_streams(p) for n, p in ports.items()}
                        return await client.get(lease) is None and not any(
                            "gamma" in streams for streams in local.values()
                        )

                    await processes.until("gamma stopped and its lease released", stopped, 15)

                    async def unlisted() -> bool:
                        return not await listed()

                    await processes.until("gamma no longer listed on the replica", unlisted, 15)
                    await asyncio.sleep(2.5)  # two claim ticks: nobody takes it again
                    assert await client.get(lease) is None
                    gone = await http.delete("/api/streams/gamma", headers=AUTH)
                finally:
                    reader.cancel()
        finally:
            await client.aclose()
    assert bad.status_code == 422 and "platform" in bad.text
    assert blank.status_code == 422 and "unique_id" in blank.text
    assert anonymous.status_code == 401
    assert added.status_code == 201 and added.json() == {"stream": "gamma"}
    assert again.status_code == 409, again.text
    assert any(e["action"] == "stream_add" and e["stream"] == "gamma" for e in audit)
    assert removed.status_code == 202, removed.text
    assert gone.status_code == 404
    for name in processes.procs:
        assert "Traceback" not in processes.log(name), processes.log(name)


async def _ok(http: httpx.AsyncClient) -> bool:
    return (await http.get("/readyz")).status_code == 200
