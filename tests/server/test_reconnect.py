"""Reconnecting consoles against the real server: resume from the last ``seq`` with
nothing lost and nothing twice, a snapshot when too far behind, and across a server restart
(Redis bus: the log outlives the process).

The client here follows the rule ``docs/wire-format.md`` gives every client: keep the epoch
and, per stream, the highest ``seq`` applied; on ``resume`` apply what follows, on
``snapshot`` drop the stream and rebuild from what follows.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from livepilot.settings import Settings
from livepilot.testing import (
    TEST_CONSOLE_TOKEN,
    EventFactory,
    FakeClock,
    ScriptedSource,
    running_server,
    settings_for_tests,
)

STREAM = "demo"


@dataclass
class Console:
    """A console's view of one stream, kept by the documented client rule."""

    epoch: str = ""
    head: int = 0
    opening: set[int] = field(default_factory=set)
    last: dict[str, int] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    modes: list[str] = field(default_factory=list)

    def url(self, base: str) -> str:
        url = f"{base}/ws/console?token={TEST_CONSOLE_TOKEN}&stream={STREAM}"
        if self.epoch:
            url += f"&epoch={self.epoch}&since={self.last.get(STREAM, 0)}"
        return url

    def apply(self, frame: str) -> None:
        for m in json.loads(frame):
            kind = m.get("type")
            if kind == "hello":
                self.epoch = m["epoch"]
                state = m["streams"].get(STREAM, {"mode": "resume", "head": 0})
                self.modes.append(state["mode"])
                if state["mode"] == "snapshot":
                    self.messages = [x for x in self.messages if x["stream"] != STREAM]
                self.opening = set()
                self.head = state["head"]
                self.last[STREAM] = self.head
                continue
            if "seq" not in m:
                continue  # the connection's own messages (presence, ack)
            seq = m["seq"]
            if seq <= self.head:  # the opening: each entry once, in the stream's order
                assert seq not in self.opening, f"seq {seq} twice in the opening"
                self.opening.add(seq)
            else:
                assert seq > self.last[m["stream"]], f"seq {seq} sent twice or out of order"
                self.last[m["stream"]] = seq
            self.messages.append(m)

    def chats(self) -> list[str]:
        return [m["text"] for m in self.messages if m["type"] == "chat"]


async def read_until(ws: ClientConnection, console: Console, texts: set[str],
                     within: float = 20.0) -> None:
    async def _read() -> None:
        while not texts <= set(console.chats()):
            console.apply(str(await ws.recv()))
    try:
        await asyncio.wait_for(_read(), within)
    except TimeoutError:
        missing = sorted(texts - set(console.chats()))
        raise AssertionError(f"not received within {within} s: {missing[:5]} "
                             f"(modes {console.modes}, {len(console.messages)} messages)") from None


def chats(source: ScriptedSource, make: EventFactory, texts: list[str]) -> None:
    for i, text in enumerate(texts):
        source.emit(make.chat(f"user{i % 7}", text))


async def test_a_dropped_console_gets_exactly_what_it_missed() -> None:
    source = ScriptedSource(STREAM)
    make = EventFactory(FakeClock(1_800_000_000.0), stream=STREAM)
    console = Console()
    async with running_server([source]) as srv:
        async with connect(console.url(srv.ws), compression=None) as ws:
            chats(source, make, [f"erste {i}" for i in range(30)])
            await read_until(ws, console, {f"erste {i}" for i in range(30)})
        assert console.modes == ["snapshot"]  # a first connection starts from a snapshot
        # while the console is away the stream goes on
        chats(source, make, [f"zweite {i}" for i in range(30)])
        hub = srv.app.state.parts.hub
        for _ in range(500):
            if "zweite 29" in "".join(hub.recent(100)):
                break
            await asyncio.sleep(0.02)
        async with connect(console.url(srv.ws), compression=None) as ws:
            chats(source, make, [f"dritte {i}" for i in range(10)])
            await read_until(ws, console, {f"dritte {i}" for i in range(10)})
    assert console.modes == ["snapshot", "resume"]
    expected = ([f"erste {i}" for i in range(30)] + [f"zweite {i}" for i in range(30)]
                + [f"dritte {i}" for i in range(10)])
    assert console.chats() == expected  # every message once, in order: no gap, no duplicate
    # every chat still has its insight: the resume carried the results as well
    insights = {m["event_id"] for m in console.messages if m["type"] == "insight"}
    chat_ids = {m["id"] for m in console.messages if m["type"] == "chat"}
    assert chat_ids <= insights


async def test_a_console_too_far_behind_gets_a_snapshot_instead() -> None:
    source = ScriptedSource(STREAM)
    make = EventFactory(FakeClock(1_800_000_000.0), stream=STREAM)
    console = Console()
    settings = settings_for_tests(event_log_size=100, backlog=40)
    async with running_server([source], settings) as srv:
        async with connect(console.url(srv.ws), compression=None) as ws:
            chats(source, make, ["vorher"])
            await read_until(ws, console, {"vorher"})
        chats(source, make, [f"weg {i}" for i in range(120)])  # more than the backlog holds
        async with connect(console.url(srv.ws), compression=None) as ws:
            chats(source, make, ["danach"])
            await read_until(ws, console, {"danach"})
    assert console.modes == ["snapshot", "snapshot"]
    got = console.chats()
    assert got[-1] == "danach" and "vorher" not in got  # rebuilt from the snapshot
    assert len(got) == len(set(got))  # nothing twice
    assert got[-2] == "weg 119"  # the snapshot reaches up to the newest message


async def test_a_bad_since_is_refused_with_the_reason() -> None:
    async with running_server([]) as srv:
        url = f"{srv.ws}/ws/console?token={TEST_CONSOLE_TOKEN}&epoch=x&since=demo:abc"
        async with connect(url, compression=None) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert "since" in closed.value.rcvd.reason


async def test_a_console_bound_to_one_stream_gets_only_that_stream() -> None:
    shop, demo = ScriptedSource("shop"), ScriptedSource(STREAM)
    make_shop = EventFactory(FakeClock(1_800_000_000.0), stream="shop")
    make_demo = EventFactory(FakeClock(1_800_000_000.0), stream=STREAM)
    console = Console()
    async with running_server([shop, demo]) as srv:
        async with connect(console.url(srv.ws), compression=None) as ws:
            chats(shop, make_shop, [f"shop {i}" for i in range(20)])
            chats(demo, make_demo, [f"demo {i}" for i in range(5)])
            await read_until(ws, console, {f"demo {i}" for i in range(5)})
    assert {m["stream"] for m in console.messages} == {STREAM}


async def test_after_a_server_restart_the_console_rebuilds_without_duplicates(
    redis_settings: Settings,
) -> None:
    make = EventFactory(FakeClock(1_800_000_000.0), stream=STREAM)
    console = Console()
    source = ScriptedSource(STREAM)
    async with running_server([source], redis_settings) as srv:
        async with connect(console.url(srv.ws), compression=None) as ws:
            chats(source, make, [f"vor dem Neustart {i}" for i in range(20)])
            await read_until(ws, console, {f"vor dem Neustart {i}" for i in range(20)})
    first_epoch = console.epoch
    source = ScriptedSource(STREAM)
    async with running_server([source], redis_settings) as srv:
        async with connect(console.url(srv.ws), compression=None) as ws:
            chats(source, make, [f"nach dem Neustart {i}" for i in range(10)])
            await read_until(ws, console, {f"nach dem Neustart {i}" for i in range(10)})
    assert console.epoch != first_epoch and console.modes == ["snapshot", "snapshot"]
    expected = ([f"vor dem Neustart {i}" for i in range(20)]
                + [f"nach dem Neustart {i}" for i in range(10)])
    assert console.chats() == expected  # from the log, once each, and what came after
