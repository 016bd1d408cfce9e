"""Helpers shared by the TikTok source tests (imported by path; not a test module)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from livepilot.events import LiveEvent
from livepilot.metrics import Metrics
from livepilot.settings import Settings
from livepilot.sources.tiktok import TikTokSource
from livepilot.sources.tiktok.testing import FakeTikTok
from livepilot.testing import FakeClock


class Sleeps:
    """An injected ``sleep``: records each delay, advances a fake clock by it, and yields
    to the loop for at most a few milliseconds of real time."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.clock is not None:
            self.clock.advance(seconds)
        await asyncio.sleep(min(seconds, 0.005))


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"tiktok_backoff_initial": 1.0, "tiktok_backoff_max": 60.0}
    values.update(overrides)
    return Settings(**values)


def source(
    fake: FakeTikTok,
    *,
    clock: FakeClock | None = None,
    sleeps: Sleeps | None = None,
    metrics: Metrics | None = None,
    **setting_overrides: Any,
) -> TikTokSource:
    return TikTokSource(
        "@tester",
        settings(**setting_overrides),
        clock,
        metrics,
        transports=fake.transports,
        sleep=sleeps or Sleeps(clock),
        check_interval=1.0 if clock is not None else 0.01,
    )


async def collect(src: TikTokSource, limit: float = 20.0) -> list[LiveEvent]:
    async def run() -> list[LiveEvent]:
        return [event async for event in src.events()]

    return await asyncio.wait_for(run(), limit)


def kinds(events: Sequence[LiveEvent]) -> list[str]:
    return [e.type for e in events]


def of(events: Sequence[LiveEvent], kind: str) -> list[Any]:
    return [e for e in events if e.type == kind]


_LOCAL = ("127.0.0.1", "::1", "localhost")


def forbid_internet(monkeypatch: Any) -> None:
    """Make any connection or DNS lookup beyond this machine fail loudly."""
    import socket

    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in _LOCAL and not host.startswith("/"):
            raise AssertionError(f"test tried to reach {address!r}")
        real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in (*_LOCAL, None):
            raise AssertionError(f"test tried to resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
