"""The Redis Streams bus against a real Redis (LIVEPILOT_TEST_REDIS_URL).

Each test uses its own key prefix and deletes only its own keys. ``./dev test`` starts a
throwaway redis-server when none answers; these tests never skip.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence

import pytest
import redis.asyncio as aioredis

from livepilot.bus.base import Published
from livepilot.bus.redis import RedisBus
from livepilot.errors import BusUnavailable
from livepilot.events import CommandEvent
from livepilot.testing import EventFactory, FakeClock
from livepilot.wire import encode

URL = os.environ.get("LIVEPILOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def wait_for(predicate: object, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_published_messages_reach_every_subscriber_in_order(prefix: str) -> None:
    writer = RedisBus(URL, prefix=prefix, log_size=1_000)  # the pipeline process
    reader = RedisBus(URL, prefix=prefix, log_size=1_000)  # an API replica
    await writer.start()
    await reader.start()
    got: list[Published] = []

    def listen(batch: Sequence[Published]) -> None:
        got.extend(batch)

    reader.subscribe(listen)
    f = EventFactory(FakeClock(), stream="s")
    sent = [f.chat("anna", f"message {i}") for i in range(250)]
    for i in range(0, 250, 50):
        await writer.publish(sent[i : i + 50])
    await wait_for(lambda: len(got) == 250)
    assert [p.message for p in got] == sent
    assert reader.recent(3) == [p.json for p in got[-3:]]
    # a replica that starts later gets the log as its backlog
    late = RedisBus(URL, prefix=prefix, log_size=1_000)
    await late.start()
    assert late.recent(250) == [p.json for p in got]
    for bus in (writer, reader, late):
        await bus.close()


async def test_commands_travel_to_the_streams_pipeline(prefix: str) -> None:
    api = RedisBus(URL, prefix=prefix)
    pipeline = RedisBus(URL, prefix=prefix)
    await api.start()
    await pipeline.start()
    received: list[CommandEvent] = []

    async def consume() -> None:
        async for command in pipeline.commands("s"):
            received.append(command)

    task = asyncio.create_task(consume())
    for i in range(3):
        await api.send_command(
            CommandEvent(
                id=f"c{i}", stream="s", at=1, received=1, action="hide", target=f"e{i}", by="mod"
            )
        )
    await api.send_command(
        CommandEvent(id="other", stream="t", at=1, received=1, action="hide", by="mod")
    )
    await wait_for(lambda: len(received) == 3)
    task.cancel()
    assert [c.target for c in received] == ["e0", "e1", "e2"]
    await api.close()
    await pipeline.close()


def command(target: str, *, stream: str = "s") -> CommandEvent:
    now = time.time()
    return CommandEvent(
        id=f"c-{target}", stream=stream, at=now, received=now, action="hide", target=target,
        by="mod",
    )


async def take(bus: RedisBus, stream: str, n: int) -> list[str]:
    """The targets of the first ``n`` commands; stops there without taking more."""
    got: list[str] = []
    commands = bus.commands(stream)
    async for c in commands:
        got.append(c.target)
        if len(got) == n:
            break
    await commands.aclose()  # type: ignore[attr-defined]
    return got


async def test_commands_sent_while_no_pipeline_runs_arrive_when_it_starts(prefix: str) -> None:
    api = RedisBus(URL, prefix=prefix)
    await api.start()
    for target in ("e1", "e2"):
        await api.send_command(command(target))  # nobody is reading yet
    pipeline = RedisBus(URL, prefix=prefix)
    await pipeline.start()
    assert await asyncio.wait_for(take(pipeline, "s", 2), 5) == ["e1", "e2"]
    await pipeline.close()
    await api.close()


async def test_a_restarted_pipeline_gets_what_the_old_one_took_but_never_finished(
    prefix: str,
) -> None:
    api = RedisBus(URL, prefix=prefix)
    await api.start()
    for target in ("e1", "e2", "e3"):
        await api.send_command(command(target))
    first = RedisBus(URL, prefix=prefix)
    await first.start()
    # The first pipeline takes e1 and e2 and dies while handling e2: e1 was acknowledged
    # when it asked for the next command, e2 never was.
    assert await asyncio.wait_for(take(first, "s", 2), 5) == ["e1", "e2"]
    await first.close()
    second = RedisBus(URL, prefix=prefix)
    await second.start()
    assert await asyncio.wait_for(take(second, "s", 2), 5) == ["e2", "e3"]
    await api.send_command(command("e4"))
    assert await asyncio.wait_for(take(second, "s", 1), 5) == ["e3"]  # still unacknowledged
    third = RedisBus(URL, prefix=prefix)
    await third.start()
    await second.close()
    assert await asyncio.wait_for(take(third, "s", 2), 5) == ["e3", "e4"]
    await third.close()
    await api.close()


async def test_stale_commands_are_skipped_not_replayed(prefix: str) -> None:
    api = RedisBus(URL, prefix=prefix)
    await api.start()
    raw = aioredis.Redis.from_url(URL)
    yesterday = int((time.time() - 86_400) * 1000)  # Redis stamps entry ids in ms
    await raw.xadd(f"{prefix}:cmd:s", {"m": encode(command("yesterday"))}, id=f"{yesterday}-0")
    await raw.aclose()
    await api.send_command(command("now"))
    pipeline = RedisBus(URL, prefix=prefix, command_max_age=600)
    await pipeline.start()
    assert await asyncio.wait_for(take(pipeline, "s", 1), 5) == ["now"]
    await pipeline.close()
    await api.close()


async def test_an_unreachable_redis_is_a_clear_error() -> None:
    bus = RedisBus("redis://127.0.0.1:1/0")
    with pytest.raises(BusUnavailable, match="redis-server running"):
        await bus.start()
    await bus.close()


async def test_the_server_runs_on_the_redis_bus(prefix: str) -> None:
    import json

    from websockets.asyncio.client import connect

    from livepilot.sources.simulator import Simulator
    from livepilot.testing import (
        TEST_CONSOLE_TOKEN,
        GatedSource,
        running_server,
        settings_for_tests,
    )

    sim = Simulator("demo", seed=3, speed=0, duration=120, start=1_000.0)
    expected = [
        e.id async for e in Simulator("demo", seed=3, speed=0, duration=120, start=1_000.0).events()
    ]
    source = GatedSource(sim)
    settings = settings_for_tests(bus="redis", redis_url=URL, redis_prefix=prefix)
    async with running_server([source], settings) as srv:
        url = f"{srv.ws}/ws/console?token={TEST_CONSOLE_TOKEN}"
        got: list[dict[str, object]] = []
        async with connect(url, compression=None) as ws:
            source.gate.set()
            while not any(m.get("state") == "live_ended" for m in got):
                got.extend(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    client = aioredis.Redis.from_url(URL)
    logged = sum(  # one log per stream; an entry holds a batch, one message per line
        len(fields[b"m"].split(b"\n")) for _, fields in await client.xrange(f"{prefix}:log:demo")
    )
    await client.aclose()
    skip = ("insight", "alarm", "prompt", "moderation", "hello")  # hello: the socket greets
    ids = [m["id"] for m in got if m["type"] not in skip]
    assert ids == expected
    assert logged >= len([m for m in got if m["type"] != "hello"])  # all the console saw
