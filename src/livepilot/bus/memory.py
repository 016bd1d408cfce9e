"""The default bus: one process, nothing to install.

The event log is a ring of the last ``log_size`` messages (memory stays flat over a long
stream). It keeps only their JSON: strings are invisible to Python's cyclic garbage
collector, while tens of thousands of live model objects made its full collections slow
enough to show up as latency spikes on every client.

Commands wait in a bounded queue per stream; a full queue makes the sender wait
(moderator actions are rare; losing one is worse than waiting for one).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence

from livepilot.bus.base import BusHealth, LocalFanout, Published
from livepilot.events import CommandEvent
from livepilot.wire import WireMessage, encode

__all__ = ["MemoryBus"]


class MemoryBus(LocalFanout):
    def __init__(self, log_size: int = 50_000, command_queue_size: int = 1_000) -> None:
        super().__init__(log_size)
        self._seq = itertools.count(1)
        self._commands: dict[str, asyncio.Queue[CommandEvent]] = {}
        self._command_queue_size = command_queue_size

    async def start(self) -> None:
        pass

    def health(self) -> BusHealth:
        return BusHealth(up=True)

    async def put_views(self, stream: str, views: str) -> None:
        pass  # one process: every stream's views are read where it runs

    async def shared_views(self) -> dict[str, str]:
        return {}

    async def publish(self, messages: Sequence[WireMessage]) -> None:
        self._deliver([Published(next(self._seq), m, encode(m)) for m in messages])

    def _queue(self, stream: str) -> asyncio.Queue[CommandEvent]:
        queue = self._commands.get(stream)
        if queue is None:
            queue = self._commands[stream] = asyncio.Queue(self._command_queue_size)
        return queue

    async def send_command(self, command: CommandEvent) -> None:
        await self._queue(command.stream).put(command)

    async def commands(self, stream: str) -> AsyncIterator[CommandEvent]:
        queue = self._queue(stream)
        while True:
            yield await queue.get()

    async def close(self) -> None:
        self._forget_listeners()
