"""WebSocket fan-out: one bounded buffer and one relay task per client.

The bus hands every published batch to :meth:`Hub.dispatch`, which never awaits: it
appends the batch's JSON (serialised once per audience) to each interested client's
buffer. Each client's relay task waits ``coalesce_ms``, then sends everything buffered as
one frame — a JSON array of messages. Permessage-deflate is off (see the server config):
per-message compression is what caps fan-out on small machines.

A client whose buffer exceeds ``max_backlog`` messages has fallen too far behind; it is
disconnected with close code 4429 and a reason, and counted. A slow or stalled client
never slows the pipeline or the other clients.

The hub also keeps the recent messages as they stand now (:class:`Backlog`: insight
updates and moderation decisions folded in), for a console's backlog and ``/api/recent``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from prometheus_client import Counter
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from livepilot.bus.base import Published
from livepilot.metrics import Metrics
from livepilot.server.audience import OverlayProjector
from livepilot.server.backlog import Backlog

__all__ = ["CLOSE_TOO_SLOW", "Hub"]

log = logging.getLogger(__name__)

#: Close code for a client that fell too far behind (4000–4999 are application codes).
CLOSE_TOO_SLOW = 4429
_SEND_TIMEOUT = 10.0


def _audience(channel: str) -> str:
    """The metric label for a channel: ``console`` or ``overlay``."""
    return channel.partition(":")[0]


@dataclass(eq=False, slots=True)
class _Client:
    ws: WebSocket
    channel: str  # "console" or "overlay:<name>"
    kinds: frozenset[str] | None  # overlay message types wanted; None = everything
    messages: Counter  # this audience's queued-messages counter, looked up once
    buffer: list[str] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str = ""


class Hub:
    def __init__(
        self,
        metrics: Metrics,
        *,
        max_backlog: int = 5_000,
        coalesce_ms: float = 15.0,
        overlay_hold_ms: float = 1_500.0,
        recent_size: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._metrics = metrics
        self._max_backlog = max_backlog
        self._coalesce = coalesce_ms / 1000
        self._consoles: set[_Client] = set()
        self._overlays: set[_Client] = set()
        self._projector = OverlayProjector(hold=overlay_hold_ms / 1000)
        self._backlog = Backlog(recent_size)
        self._console_messages = metrics.hub_messages.labels("console")
        self._clock = clock
        self._closing = False

    @property
    def client_count(self) -> int:
        return len(self._consoles) + len(self._overlays)

    def seed(self, raw: Sequence[str]) -> None:
        """Start the recent messages from the bus's log (its JSON, oldest first)."""
        self._backlog.seed(raw)

    def recent(self, limit: int) -> list[str]:
        """The newest ``limit`` messages as they stand now, oldest first (JSON)."""
        return self._backlog.recent(limit)

    def dispatch(self, batch: Sequence[Published]) -> None:
        """Bus listener: queue ``batch`` for every client. Never blocks."""
        self._backlog.add(batch)
        if self._consoles:
            console = [p.json for p in batch]
            queued = sum(self._offer(client, console) for client in tuple(self._consoles))
            # One counter update per batch, not per client: the counter takes a lock.
            self._console_messages.inc(queued * len(console))
        if not self._overlays:
            return  # nobody to project for: an overlay that connects later starts fresh
        self._to_overlays(self._projector.project(batch, self._clock()))

    def _to_overlays(self, projected: list[tuple[str, str]]) -> None:
        if not projected:
            return
        for client in tuple(self._overlays):
            assert client.kinds is not None
            wanted = [j for kind, j in projected if kind in client.kinds]
            if wanted and self._offer(client, wanted):
                client.messages.inc(len(wanted))

    async def run(self, interval: float = 0.1) -> None:
        """Release overlay chat held for a verdict that did not come in time."""
        while True:
            await asyncio.sleep(interval)
            if self._overlays:
                self._to_overlays(self._projector.expire(self._clock()))

    def _offer(self, client: _Client, messages: list[str]) -> bool:
        """Queue ``messages`` for ``client``; False if it is (now) dropped as too slow."""
        if client.dropped.is_set():
            return False
        if len(client.buffer) + len(messages) > self._max_backlog:
            client.reason = f"too slow: more than {self._max_backlog} messages behind"
            client.buffer.clear()
            client.dropped.set()
            self._metrics.hub_disconnects.labels(_audience(client.channel)).inc()
            log.warning("disconnecting %s client: %s", client.channel, client.reason)
            return False
        client.buffer.extend(messages)
        client.wake.set()
        return True

    async def serve(
        self,
        ws: WebSocket,
        channel: str,
        *,
        kinds: frozenset[str] | None = None,
        backlog: Sequence[str] = (),
        on_frame: Callable[[str], Awaitable[str | None]] | None = None,
    ) -> None:
        """Relay to an accepted socket until it closes, falls behind, or the hub closes.

        ``backlog`` is sent first (console history). ``on_frame`` handles text the client
        sends and may return a reply (one wire message as JSON), which is queued like any
        other message, so only the relay task ever sends on the socket. Overlays are
        read-only and their frames are ignored.
        """
        audience = _audience(channel)
        client = _Client(
            ws=ws,
            channel=channel,
            kinds=kinds,
            messages=self._metrics.hub_messages.labels(audience),
        )
        group = self._consoles if kinds is None else self._overlays
        gauge = self._metrics.hub_clients.labels(audience)
        if backlog:
            client.buffer.extend(backlog)
            client.messages.inc(len(backlog))
            client.wake.set()
        group.add(client)
        gauge.inc()
        relay = asyncio.create_task(self._relay(client), name=f"relay:{channel}")
        reader = asyncio.create_task(self._read(client, on_frame), name=f"reader:{channel}")
        dropped = asyncio.create_task(client.dropped.wait())
        try:
            await asyncio.wait({relay, reader, dropped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            group.discard(client)
            gauge.dec()
            for task in (relay, reader, dropped):
                task.cancel()
            await asyncio.gather(relay, reader, dropped, return_exceptions=True)
        if client.dropped.is_set():
            if self._closing:
                await self._close(ws, 1001, "server shutting down", wait=1.0)
            else:
                # The close frame queues behind what the peer has not read yet; give a
                # stalled peer time to get there and learn why it was dropped.
                await self._close(ws, CLOSE_TOO_SLOW, client.reason, wait=30.0)
        elif relay.done() and not relay.cancelled() and relay.exception() is not None:
            log.info("%s client send failed: %s", channel, relay.exception())

    async def _relay(self, client: _Client) -> None:
        frames = self._metrics.hub_frames.labels(_audience(client.channel))
        while True:
            await client.wake.wait()
            if self._coalesce:
                await asyncio.sleep(self._coalesce)
            batch, client.buffer = client.buffer, []
            client.wake.clear()
            if not batch:
                continue
            frame = "[" + ",".join(batch) + "]"
            await asyncio.wait_for(client.ws.send_text(frame), _SEND_TIMEOUT)
            frames.inc()

    async def _read(
        self, client: _Client, on_frame: Callable[[str], Awaitable[str | None]] | None
    ) -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                text = await client.ws.receive_text()
                if on_frame is not None:
                    reply = await on_frame(text)
                    if reply is not None and self._offer(client, [reply]):
                        client.messages.inc()

    async def _close(self, ws: WebSocket, code: int, reason: str, *, wait: float) -> None:
        if ws.application_state != WebSocketState.CONNECTED:
            return
        # A stalled peer may never read the close frame; don't wait on it forever.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(code=code, reason=reason[:120]), wait)

    async def close(self) -> None:
        """Disconnect every client with 1001 (going away)."""
        self._closing = True
        for client in (*self._consoles, *self._overlays):
            client.reason = "server shutting down"
            client.dropped.set()
        for _ in range(50):
            if not self.client_count:
                break
            await asyncio.sleep(0.02)
