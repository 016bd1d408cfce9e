"""Fakes that tests and users both need: a fake clock, event builders, a list sink.

``FakeClock`` is advanced by hand instead of sleeping. ``EventFactory`` makes valid events
with unique ids and sensible defaults, so a scenario reads as what happens on stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from livepilot.events import (
    Badge,
    ChatEvent,
    FollowEvent,
    GiftEvent,
    JoinEvent,
    LikeEvent,
    LiveEvent,
    ShareEvent,
    User,
    ViewerCountEvent,
)
from livepilot.settings import Settings
from livepilot.wire import WireMessage

if TYPE_CHECKING:
    from fastapi import FastAPI
    from playwright.async_api import Browser

    from livepilot.bus.base import Bus
    from livepilot.metrics import Metrics
    from livepilot.service import StreamService
    from livepilot.sources.base import Source
    from livepilot.store import StoreSettings

__all__ = [
    "TEST_CONSOLE_TOKEN",
    "TEST_HOST_KEY",
    "TEST_MODERATORS",
    "TEST_MODERATOR_TOKENS",
    "TEST_OVERLAY_KEY",
    "EventFactory",
    "FakeClock",
    "GatedSource",
    "ListSink",
    "OpenSource",
    "RunningServer",
    "ScriptedSource",
    "chromium",
    "running_server",
    "settings_for_tests",
]


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        self._now += seconds
        return self._now

    def set(self, t: float) -> None:
        self._now = t


class EventFactory:
    """Builds events for one stream, timestamped from a clock (a ``FakeClock`` usually)."""

    def __init__(self, clock: FakeClock, stream: str = "test") -> None:
        self.clock = clock
        self.stream = stream
        self._ids = itertools.count(1)

    def user(self, name: str, *badges: Badge, new_account: bool = False) -> User:
        return User(
            id=f"id-{name}",
            unique_id=name,
            nickname=name.capitalize(),
            badges=frozenset(badges),
            new_account=new_account,
        )

    def _base(self, user: str | User | None) -> dict[str, Any]:
        now = self.clock.now()
        base: dict[str, Any] = {
            "id": f"{self.stream}-{next(self._ids)}",
            "stream": self.stream,
            "at": now,
            "received": now,
        }
        if user is not None:
            base["user"] = self.user(user) if isinstance(user, str) else user
        return base

    def chat(self, user: str | User, text: str) -> ChatEvent:
        return ChatEvent(**self._base(user), text=text)

    def gift(
        self,
        user: str | User,
        name: str = "Rose",
        diamonds: int = 1,
        count: int = 1,
        *,
        streak: str | None = None,
        final: bool = True,
    ) -> GiftEvent:
        return GiftEvent(
            **self._base(user),
            gift_id=abs(hash(name)) % 10_000,
            gift_name=name,
            diamond_value=diamonds,
            count=count,
            streak_id=streak,
            final=final,
        )

    def join(self, user: str | User) -> JoinEvent:
        return JoinEvent(**self._base(user))

    def like(self, user: str | User, count: int = 1, total: int | None = None) -> LikeEvent:
        return LikeEvent(**self._base(user), count=count, total=total)

    def follow(self, user: str | User) -> FollowEvent:
        return FollowEvent(**self._base(user))

    def share(self, user: str | User) -> ShareEvent:
        return ShareEvent(**self._base(user))

    def viewers(self, count: int) -> ViewerCountEvent:
        return ViewerCountEvent(**self._base(None), count=count)


class ListSink:
    """A ``Publish`` target that keeps everything in a list."""

    def __init__(self) -> None:
        self.messages: list[WireMessage] = []

    async def __call__(self, messages: Sequence[WireMessage]) -> None:
        self.messages.extend(messages)

    def of_type(self, type_: str) -> list[WireMessage]:
        return [m for m in self.messages if m.type == type_]


TEST_CONSOLE_TOKEN = "console-secret-token"
TEST_OVERLAY_KEY = "overlay-read-only-key"
#: Opens the backstage overlays (host prompts, host screen).
TEST_HOST_KEY = "host-backstage-key"
#: One moderator per role, by name: ``lena`` (lead), ``mia`` (moderator), ``otto``
#: (observer). ``settings_for_tests(moderators=TEST_MODERATORS)`` signs them in.
TEST_MODERATOR_TOKENS = {
    "lena": "lena-lead-token-0001",
    "mia": "mia-moderator-token-0002",
    "otto": "otto-observer-token-0003",
}
TEST_MODERATORS = (
    f"lena:lead:{TEST_MODERATOR_TOKENS['lena']},"
    f"mia:moderator:{TEST_MODERATOR_TOKENS['mia']},"
    f"otto:observer:{TEST_MODERATOR_TOKENS['otto']}"
)


@dataclass
class RunningServer:
    """A server started by :func:`running_server`: its URLs and its parts."""

    base: str
    ws: str
    app: FastAPI
    metrics: Metrics
    service: StreamService
    bus: Bus

    def metric(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


def settings_for_tests(**overrides: Any) -> Settings:
    """Settings with known tokens (``TEST_CONSOLE_TOKEN``, ``TEST_OVERLAY_KEY``,
    ``TEST_HOST_KEY``)."""
    base: dict[str, Any] = {
        "console_token": SecretStr(TEST_CONSOLE_TOKEN),
        "overlay_key": SecretStr(TEST_OVERLAY_KEY),
        "host_key": SecretStr(TEST_HOST_KEY),
        # A test server that fell behind under load must not outlast its test draining.
        "shutdown_drain_s": 5.0,
    }
    base.update(overrides)
    return Settings(**base)


@contextlib.asynccontextmanager
async def running_server(
    sources: list[Source],
    settings: Settings | None = None,
    bus: Bus | None = None,
    *,
    store: StoreSettings | None = None,
    sock: socket.socket | None = None,
) -> AsyncIterator[RunningServer]:
    """Start the real app under uvicorn on a free 127.0.0.1 port in this event loop.

    With ``store`` the streams are recorded as stream history there, as ``livepilot demo``
    does; ``sock`` is a socket already bound (a port a test told someone about first).
    """
    import uvicorn

    from livepilot.bus import create_bus
    from livepilot.metrics import Metrics
    from livepilot.server.app import create_app
    from livepilot.service import StreamService
    from livepilot.store.wiring import start_recorder

    settings = settings or settings_for_tests()
    metrics = Metrics()
    bus = bus if bus is not None else create_bus(settings, metrics)
    recorder = start_recorder(settings, metrics.registry, store) if store is not None else None
    service = StreamService(settings, bus, metrics, recorder=recorder)
    for source in sources:
        service.add(source)
    app = create_app(settings, bus=bus, metrics=metrics, service=service)
    if sock is None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", ws_per_message_deflate=False, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    if not server.started:
        raise RuntimeError("uvicorn did not start within 4 s")
    try:
        yield RunningServer(
            f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", app, metrics, service, bus
        )
    finally:
        server.should_exit = True
        # The lifespan drains the pipelines for up to shutdown_drain_s, then closes.
        await asyncio.wait_for(task, settings.shutdown_drain_s + 10)
        sock.close()
        if recorder is not None:
            recorder.close(deadline=10.0)


class GatedSource:
    """Wraps a source and holds its events back until ``gate`` is set (e.g. until a test
    has connected its clients)."""

    def __init__(self, source: Source) -> None:
        self.stream = source.stream
        self._source = source
        self.gate = asyncio.Event()

    async def events(self) -> AsyncIterator[LiveEvent]:
        await self.gate.wait()
        async for event in self._source.events():
            yield event


class OpenSource:
    """Delivers the given events, then stays connected and quiet until the stream is
    stopped: a live stream whose chat went silent, so commands still reach its stages."""

    def __init__(self, stream: str, events: Sequence[LiveEvent]) -> None:
        self.stream = stream
        self._events = tuple(events)

    async def events(self) -> AsyncIterator[LiveEvent]:
        for event in self._events:
            yield event
        await asyncio.Event().wait()  # until the runner cancels the source


class ScriptedSource:
    """A live stream whose chat the test writes while a page watches; never ends."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.make = EventFactory(FakeClock(time.time()), stream=stream)
        self._queue: asyncio.Queue[LiveEvent] = asyncio.Queue()

    def chat(self, user: str, text: str) -> None:
        self.make.clock.set(max(self.make.clock.now(), time.time()))  # stamped as it is sent
        self._queue.put_nowait(self.make.chat(user, text))

    def emit(self, event: LiveEvent) -> None:
        """Any event, made with :attr:`make` (a gift streak's steps, a follow …)."""
        self._queue.put_nowait(event)

    def feed(self, *events: LiveEvent) -> None:
        """Several events, in this order."""
        for event in events:
            self._queue.put_nowait(event)

    async def events(self) -> AsyncIterator[LiveEvent]:
        while True:
            yield await self._queue.get()


#: Flags that run Debian's chromium headless in a container.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Chromium driven by Playwright (the ``test`` extra): the binary at
    ``LIVEPILOT_TEST_CHROMIUM`` (default Debian's ``/usr/bin/chromium``), never a download.
    """
    from playwright.async_api import async_playwright

    path = os.environ.get("LIVEPILOT_TEST_CHROMIUM", "/usr/bin/chromium")
    if not os.access(path, os.X_OK):
        raise RuntimeError(
            f"Chromium not found at {path}: run the tests with ./dev test, which installs "
            "Debian's chromium, or set LIVEPILOT_TEST_CHROMIUM"
        )
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=path, args=list(CHROMIUM_FLAGS))
        try:
            yield browser
        finally:
            await browser.close()
