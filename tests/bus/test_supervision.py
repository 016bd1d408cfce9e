"""A stream whose pipeline crashes is logged, counted and restarted, and ``/readyz``
says 503 while it is down (memory bus: supervision does not depend on Redis)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import connect

from livepilot.events import LiveEvent
from livepilot.testing import TEST_CONSOLE_TOKEN, EventFactory, FakeClock, running_server


class CrashesOnce:
    """A live source whose first connection breaks with an error after three messages
    (a bug, not a disconnect the source handles itself); the second one stays up."""

    def __init__(self) -> None:
        self.stream = "live"
        self.passes = 0
        self.go = asyncio.Event()

    async def events(self) -> AsyncIterator[LiveEvent]:
        self.passes += 1
        make = EventFactory(FakeClock(time.time()), stream=self.stream)
        await self.go.wait()
        for i in range(3):
            yield make.chat("anna", f"Pass {self.passes}, Nachricht {i}")
        if self.passes == 1:
            raise RuntimeError("the source broke")
        await asyncio.Event().wait()


async def test_a_crashed_pipeline_is_logged_counted_and_restarted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = CrashesOnce()
    caplog.set_level(logging.ERROR, logger="livepilot.service")
    async with running_server([source]) as srv:
        srv.service.restart_delay = 1.5
        async with connect(f"{srv.ws}/ws/console?token={TEST_CONSOLE_TOKEN}",
                           compression=None) as ws, \
                httpx.AsyncClient(base_url=srv.base) as http:
            assert (await http.get("/readyz")).status_code == 200
            source.go.set()
            texts: list[str] = []
            statuses: list[int] = []
            while len(texts) < 6:
                for m in json.loads(await asyncio.wait_for(ws.recv(), 10)):
                    if m["type"] == "chat":
                        texts.append(m["text"])
                statuses.append((await http.get("/readyz")).status_code)
            after = (await http.get("/readyz")).json()
            ready = (await http.get("/readyz")).status_code
            running = srv.metric("livepilot_pipeline_running", stream="live")
    assert texts == [f"Pass {p}, Nachricht {i}" for p in (1, 2) for i in range(3)]
    assert 503 in statuses and ready == 200, statuses
    assert after["streams"][0]["restarts"] == 1
    assert srv.metric("livepilot_pipeline_restarts_total", stream="live") == 1
    assert running == 1
    assert any("pipeline crashed" in r.getMessage() and r.exc_info for r in caplog.records)
