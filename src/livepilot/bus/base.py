"""The bus protocol.

The pipeline publishes batches of wire messages; the bus keeps them in its event log and
hands each batch to every listener (the hub, the audit log). The memory bus logs first; the
Redis bus hands the batch to this process's listeners at once and writes it to Redis
behind, so an outage never holds a stream up (see :mod:`livepilot.bus.redis`). Moderator
commands travel the other way, from the server to the stream's pipeline, so an action
works the same in one process and across machines.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

from livepilot.events import CommandEvent
from livepilot.wire import WireMessage

__all__ = ["Bus", "BusHealth", "Claim", "Leases", "Listener", "LocalFanout", "Published"]


class Published(NamedTuple):
    """A message as it went out: the model, its wire JSON (serialised once), a sequence no.

    A named tuple, not a frozen dataclass: one is made for every message on the hot path,
    and a tuple is built in half the time (immutable all the same)."""

    seq: int
    message: WireMessage
    json: str

    @property
    def type(self) -> str:
        return self.message.type


@dataclass(frozen=True, slots=True)
class BusHealth:
    """Whether the bus reaches its backend, and what it holds back meanwhile.

    ``problem`` says in words what is wrong while ``up`` is false; ``buffered`` counts the
    messages published here and not yet in the durable log, ``dropped`` those that never
    will be (the outage outlasted the buffer).
    """

    up: bool
    problem: str = ""
    since: float = 0.0
    buffered: int = 0
    dropped: int = 0


#: Called with each published batch, in order. Must not block (no awaits, no I/O waits).
Listener = Callable[[Sequence[Published]], None]


class Bus(Protocol):
    async def start(self) -> None:
        """Connect and load what the log already holds (the app lifespan calls this)."""
        ...

    async def publish(self, messages: Sequence[WireMessage]) -> None:
        """Log the messages and fan them out to listeners; never raises for the backend
        being down (the bus buffers, counts what it drops, and says so in health())."""
        ...

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Register a listener; returns the function that unregisters it."""
        ...

    def recent(self, limit: int) -> list[str]:
        """The wire JSON of the newest ``limit`` messages, oldest first (console backlog)."""
        ...

    def health(self) -> BusHealth:
        """Up or down right now (read by ``/readyz`` and the ``bus_down`` alarm)."""
        ...

    async def put_views(self, stream: str, views: str) -> None:
        """Share a stream's views (a JSON object, view name → value) with processes that
        do not run it; they expire when nobody refreshes them."""
        ...

    async def shared_views(self) -> dict[str, str]:
        """The views other processes share: stream → JSON object (empty: none, or the
        backend is down)."""
        ...

    async def send_command(self, command: CommandEvent) -> None:
        """Deliver a moderator command to the stream's pipeline, wherever it runs.

        Raises :class:`~livepilot.errors.BusUnavailable` when the command cannot be
        handed over (the backend is down or does not answer in time).
        """
        ...

    def commands(self, stream: str) -> AsyncIterator[CommandEvent]: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer to a claim on a stream's lease.

    ``taken``: this worker holds the lease now. ``holder``: who holds it when not taken.
    ``previous``: who held it last before this worker took it (``None`` for a stream no
    worker ran yet); ``last_write``: when the stream's log was last written (Unix
    seconds), where a takeover's data gap starts.
    """

    taken: bool
    holder: str | None = None
    previous: str | None = None
    last_write: float | None = None


@runtime_checkable
class Leases(Protocol):
    """One lease per stream, so each stream runs in exactly one worker (Redis bus only).

    Every call raises :class:`~livepilot.errors.BusUnavailable` when the bus is down.
    """

    async def claim(self, stream: str, holder: str, ttl: float) -> Claim:
        """Take the lease on ``stream`` for ``ttl`` s if nobody holds it."""
        ...

    async def renew(self, stream: str, holder: str, ttl: float) -> bool:
        """Extend ``holder``'s lease (or take it again if it lapsed and is free); false
        when another worker holds it."""
        ...

    async def release(self, stream: str, holder: str) -> None:
        """Give the lease up, if ``holder`` still holds it."""
        ...


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
