"""The Redis bus through outages, against a real throwaway redis-server.

Each test starts its own ``redis-server`` on a free port (no persistence, ``DEBUG``
allowed from localhost), runs the real server on it with a live-paced chat source and a
console socket, then kills or stalls that Redis (never the shared one on 6379). The
stream must go on by itself, ``/readyz`` must say 503 meanwhile, commands must get a
clear 503 during the outage and work afterwards, and every loss must be counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from tests.bus.conftest import ThrowawayRedis
from websockets.asyncio.client import ClientConnection, connect

from livepilot.bus.base import Published
from livepilot.bus.redis import RedisBus
from livepilot.events import LiveEvent
from livepilot.testing import (
    TEST_CONSOLE_TOKEN,
    EventFactory,
    FakeClock,
    RunningServer,
    running_server,
    settings_for_tests,
)

pytestmark = pytest.mark.timeout(120)

AUTH = {"Authorization": f"Bearer {TEST_CONSOLE_TOKEN}"}


class PacedChat:
    """A live stream that chats every ``interval`` s until it is stopped; numbered
    messages, so the test can tell exactly which ones arrived."""

    def __init__(self, stream: str = "live", interval: float = 0.02) -> None:
        self.stream = stream
        self.interval = interval
        self.sent: list[str] = []

    async def events(self) -> AsyncIterator[LiveEvent]:
        make = EventFactory(FakeClock(time.time()), stream=self.stream)
        while True:
            make.clock.set(time.time())
            event = make.chat("anna", f"Nachricht {len(self.sent)}")
            self.sent.append(event.id)
            yield event
            await asyncio.sleep(self.interval)


class Console:
    """Reads a console socket in the background: chat ids and alarms as they come."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.chats: list[str] = []
        self.alarms: list[dict[str, Any]] = []
        self.decisions: list[dict[str, Any]] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for frame in self.ws:
            for m in json.loads(frame):
                if m.get("type") == "chat":
                    self.chats.append(m["id"])
                elif m.get("type") == "alarm" and m.get("kind") == "bus_down":
                    self.alarms.append(m)
                elif m.get("type") == "moderation":
                    self.decisions.append(m)

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def until(predicate: Any, within: float, what: str) -> float:
    """Wait for ``predicate()``; how long it took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not predicate():
        if loop.time() - start > within:
            raise AssertionError(f"{what}: not within {within} s")
        await asyncio.sleep(0.05)
    return loop.time() - start


async def ready_status(http: httpx.AsyncClient) -> int:
    return (await http.get("/readyz")).status_code


async def watch_readiness(http: httpx.AsyncClient, seen: list[int]) -> None:
    while True:
        seen.append(await ready_status(http))
        await asyncio.sleep(0.1)


async def hide(http: httpx.AsyncClient, target: str) -> httpx.Response:
    return await http.post(
        "/api/commands", json={"stream": "live", "action": "hide", "target": target},
        headers=AUTH,
    )


@contextlib.asynccontextmanager
async def live_setup(
    throwaway_redis: ThrowawayRedis,
) -> AsyncIterator[tuple[RunningServer, PacedChat, Console, httpx.AsyncClient, list[Published]]]:
    """The server on the throwaway Redis, its console, and a second process's view of
    the log (another bus on the same Redis: what an API replica would see)."""
    source = PacedChat()
    settings = settings_for_tests(
        bus="redis", redis_url=throwaway_redis.url, redis_prefix="outage", backlog=0
    )
    replica = RedisBus(throwaway_redis.url, prefix="outage")
    elsewhere: list[Published] = []

    def collect(batch: Sequence[Published]) -> None:
        elsewhere.extend(batch)

    async with running_server([source], settings) as srv:
        await replica.start()
        replica.subscribe(collect)
        async with connect(f"{srv.ws}/ws/console?token={TEST_CONSOLE_TOKEN}",
                           compression=None) as ws, \
                httpx.AsyncClient(base_url=srv.base, timeout=15) as http:
            console = Console(ws)
            try:
                yield srv, source, console, http, elsewhere
            finally:
                await console.close()
                await replica.close()


def chats(messages: Sequence[Published]) -> list[str]:
    return [p.message.id for p in messages if p.type == "chat"]  # type: ignore[union-attr]


async def test_a_killed_redis_that_comes_back_empty_never_stops_the_stream(
    throwaway_redis: ThrowawayRedis,
) -> None:
    async with live_setup(throwaway_redis) as (srv, source, console, http, elsewhere):
        await until(lambda: len(console.chats) >= 20, 10, "chat before the outage")
        assert await ready_status(http) == 200
        readiness: list[int] = []
        watcher = asyncio.create_task(watch_readiness(http, readiness))
        throwaway_redis.kill()
        killed_at = len(source.sent)
        await until(lambda: any(a["state"] == "raised" for a in console.alarms), 5,
                    "bus_down alarm on the console")
        refused = await hide(http, console.chats[0])
        await asyncio.sleep(10)
        during = len(source.sent)
        await throwaway_redis.start()  # empty: --save '' --appendonly no
        took = await until(lambda: readiness[-1:] == [200], 20, "ready again")
        watcher.cancel()
        await until(lambda: any(a["state"] == "cleared" for a in console.alarms), 5,
                    "bus_down cleared on the console")
        # a command after the outage reaches the stage (its consumer group was recreated)
        target = console.chats[-1]
        accepted = await hide(http, target)
        await until(lambda: len(console.decisions) == 1, 10, "the hide applied")
        first, sent_until = source.sent.index(console.chats[0]), len(source.sent)
        await until(lambda: set(source.sent[first:sent_until]) <= set(console.chats), 5,
                    "every chat on the console")
        await until(lambda: set(source.sent[killed_at:during]) <= set(chats(elsewhere)), 10,
                    "the outage's chat reached the other process")
        metrics = (await http.get("/metrics")).text
    print(f"back {took:.1f} s after the restart; {during - killed_at} chats during the outage")
    assert 503 in readiness and readiness[-1] == 200
    assert refused.status_code == 503
    assert "bus is down" in refused.json()["detail"]
    assert accepted.status_code == 202
    assert console.decisions[0]["event_id"] == target
    # every chat reached the console once, in order, outage or not
    assert console.chats == source.sent[first : first + len(console.chats)]
    # and the other process saw each one at most once (the outage's ones after it)
    seen = chats(elsewhere)
    assert len(seen) == len(set(seen))
    assert srv.metric("livepilot_bus_up") == 1
    assert srv.metric("livepilot_bus_errors_total", op="write") >= 1
    assert srv.metric("livepilot_bus_errors_total", op="restart") == 1
    assert srv.metric("livepilot_bus_dropped_total", type="chat") == 0
    assert srv.metric("livepilot_pipeline_restarts_total", stream="live") == 0
    assert srv.metric("livepilot_commands_total", action="hide", outcome="unavailable") == 1
    assert "livepilot_bus_buffered" in metrics


async def test_a_stalled_redis_is_an_outage_and_writes_nothing_twice(
    throwaway_redis: ThrowawayRedis,
) -> None:
    async with live_setup(throwaway_redis) as (srv, source, console, http, elsewhere):
        await until(lambda: len(console.chats) >= 20, 10, "chat before the stall")
        first = source.sent.index(console.chats[0])
        readiness: list[int] = []
        watcher = asyncio.create_task(watch_readiness(http, readiness))
        stall = aioredis.Redis.from_url(throwaway_redis.url, socket_timeout=20)
        started = len(source.sent)
        await stall.execute_command("DEBUG", "SLEEP", "6")  # blocks Redis for 6 s
        await stall.aclose()
        stalled = len(source.sent)
        await until(lambda: readiness[-1:] == [200], 20, "ready again")
        watcher.cancel()
        accepted = await hide(http, console.chats[-1])
        await until(lambda: len(console.decisions) == 1, 10, "the hide applied")
        sent_until = len(source.sent)
        # (what the log held when the other process started is its backlog, not news)
        since = source.sent.index(chats(elsewhere)[0])
        await until(lambda: set(source.sent[since:sent_until]) <= set(chats(elsewhere)), 10,
                    "every chat reached the other process")
        raw = aioredis.Redis.from_url(throwaway_redis.url)
        logged = sum(  # an entry holds a batch: its messages one per line
            len(fields[b"m"].split(b"\n")) for _, fields in await raw.xrange("outage:log:live")
        )
        await raw.aclose()
    assert stalled - started >= 200  # the stream went on during the stall (~50/s)
    assert 503 in readiness and readiness[-1] == 200
    assert accepted.status_code == 202
    assert console.chats == source.sent[first : first + len(console.chats)]
    seen = chats(elsewhere)
    # A batch cut off by the 5 s timeout ran once Redis woke up and was written again:
    # the log may hold it twice, the other process shows it once.
    assert len(seen) == len(set(seen)) and seen == sorted(seen, key=source.sent.index)
    assert logged >= len(set(seen))
    assert srv.metric("livepilot_bus_errors_total", op="write") >= 1
    assert srv.metric("livepilot_bus_dropped_total", type="chat") == 0


async def test_a_full_outage_buffer_drops_the_oldest_and_counts_them(
    throwaway_redis: ThrowawayRedis,
) -> None:
    from livepilot.metrics import Metrics

    metrics = Metrics()
    bus = RedisBus(throwaway_redis.url, prefix="full", buffer_size=1_000, metrics=metrics)
    await bus.start()
    shown: list[Published] = []

    def show(batch: Sequence[Published]) -> None:
        shown.extend(batch)

    bus.subscribe(show)
    throwaway_redis.kill()
    await until(lambda: not bus.health().up, 5, "the bus notices")
    make = EventFactory(FakeClock(), stream="live")
    sent = [make.chat("anna", f"Nachricht {i}") for i in range(1_500)]
    for i in range(0, 1_500, 50):
        await bus.publish(sent[i : i + 50])
    health = bus.health()
    await throwaway_redis.start()
    await until(lambda: bus.health().up and bus.health().buffered == 0, 20, "written")
    raw = aioredis.Redis.from_url(throwaway_redis.url)
    logged = [
        line for _, fields in await raw.xrange("full:log:live")
        for line in fields[b"m"].decode().split("\n")
    ]
    await raw.aclose()
    await bus.close()
    assert len(shown) == 1_500  # this process's consoles lost nothing
    assert (health.up, health.buffered, health.dropped) == (False, 1_000, 500)
    assert "reading the event log failed" in health.problem
    assert [json.loads(line)["id"] for line in logged] == [e.id for e in sent[500:]]
    assert metrics.registry.get_sample_value("livepilot_bus_dropped_total",
                                             {"type": "chat"}) == 500
    assert metrics.registry.get_sample_value("livepilot_bus_written_total") == 1_000


async def test_shutdown_drains_or_hands_the_backlog_to_the_log(
    throwaway_redis: ThrowawayRedis, caplog: pytest.LogCaptureFixture,
) -> None:
    from livepilot.settings import DEFAULT_STAGES
    from livepilot.testing import OpenSource

    make = EventFactory(FakeClock(time.time()), stream="live")
    backlog = [make.chat("anna", f"Nachricht {i}") for i in range(3_000)]
    settings = settings_for_tests(
        bus="redis", redis_url=throwaway_redis.url, redis_prefix="drain",
        stages=tuple(s for s in DEFAULT_STAGES if s != "toxicity"), shutdown_drain_s=0.1,
    )
    async with running_server([OpenSource("live", backlog)], settings) as srv:
        await until(lambda: srv.service.runners["live"].processed > 0, 10, "started")
        queued = srv.service.runners["live"].queued
    raw = aioredis.Redis.from_url(throwaway_redis.url)
    logged = [
        json.loads(line)["id"] for _, fields in await raw.xrange("drain:log:live")
        for line in fields[b"m"].decode().split("\n") if b'"type":"chat"' in fields[b"m"]
        if json.loads(line)["type"] == "chat"
    ]
    await raw.aclose()
    print(f"{queued} events were queued when the server was told to stop")
    assert queued > 0
    assert logged == [e.id for e in backlog]
    # 0.1 s is too short for 3,000 events (even at 10,000 events/s): the rest went to the
    # log unprocessed
    handed = [r.getMessage() for r in caplog.records if "unprocessed" in r.getMessage()]
    assert len(handed) == 1 and "did not drain within 0.1 s" in handed[0]
