"""The bus protocol.

The pipeline publishes batches of wire messages; the bus writes them to its event log
first, then hands the batch to every listener (the hub, a headless writer). Moderator
commands travel the other way, from the server to the stream's pipeline, so an action
works the same in one process and across machines.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from livepilot.events import CommandEvent
from livepilot.wire import WireMessage

__all__ = ["Bus", "Listener", "LocalFanout", "Published"]


@dataclass(frozen=True, slots=True)
class Published:
    """A message as it went out: the model, its wire JSON (serialised once), a sequence no."""

    seq: int
    message: WireMessage
    json: str

    @property
    def type(self) -> str:
        return self.message.type


#: Called with each published batch, in order. Must not block (no awaits, no I/O waits).
Listener = Callable[[Sequence[Published]], None]


class Bus(Protocol):
    async def start(self) -> None:
        """Connect and load what the log already holds (the app lifespan calls this)."""
        ...

    async def publish(self, messages: Sequence[WireMessage]) -> None:
        """Log the messages, then fan them out to listeners."""
        ...

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Register a listener; returns the function that unregisters it."""
        ...

    def recent(self, limit: int) -> list[str]:
        """The wire JSON of the newest ``limit`` messages, oldest first (console backlog)."""
        ...

    async def send_command(self, command: CommandEvent) -> None: ...

    def commands(self, stream: str) -> AsyncIterator[CommandEvent]: ...

    async def close(self) -> None: ...


class LocalFanout:
    """What every bus keeps in its own process: the listeners, and a ring of the most
    recent messages' JSON for console backlogs. Strings only: the cyclic garbage
    collector does not scan them (see :mod:`livepilot.bus.memory`)."""

    def __init__(self, size: int) -> None:
        self._listeners: list[Listener] = []
        self._recent: deque[str] = deque(maxlen=size)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def recent(self, limit: int) -> list[str]:
        if limit <= 0:
            return []
        items = self._recent
        return [items[i] for i in range(max(0, len(items) - limit), len(items))]

    def _deliver(self, batch: Sequence[Published]) -> None:
        """Remember the batch, then hand it to every listener, in order."""
        self._recent.extend(p.json for p in batch)
        for listener in tuple(self._listeners):
            listener(batch)

    def _remember(self, raw: Sequence[str]) -> None:
        self._recent.extend(raw)

    def _forget_listeners(self) -> None:
        self._listeners.clear()
