"""WebSocket fan-out: one bounded buffer and one relay task per client.

The bus hands every published batch to :meth:`Hub.dispatch`, which never awaits: it
appends the batch's JSON (serialised once per audience, joined once per batch) to each
interested client's buffer. One timer per hub, not one per client, fires on the hub's
next tick (one every ``coalesce_ms``, the same for every client): it turns each waiting
buffer into one frame — a JSON array of messages; clients that got the same batches hold
the same buffer, and the frame is built once for all of them — and wakes each client's
relay task once, which does the ``await send``. So a frame costs each client one task
wake-up and one send, and nothing per message; a client still sending its last frame
keeps buffering and gets the rest on the first tick after its send completes.
Permessage-deflate is off (see the server config): per-message compression is what caps
fan-out on small machines.

Clients are indexed by the stream they watch (``?stream=``; ``None`` for all streams), so
a batch costs only the clients of its stream plus the all-streams ones: a stream nobody
watches adds nothing to anybody's fan-out.

A client whose buffer exceeds ``max_backlog`` messages has fallen too far behind; it is
disconnected with close code 4429 and a reason, and counted. A slow or stalled client
never slows the pipeline or the other clients.

Per stream the hub keeps the recent messages as they stand now (:class:`Backlog`: insight
updates and moderation decisions folded in, every message numbered with the stream's
``seq``) and the overlay state (:class:`OverlayProjector`). A console that reconnects
names the server run (``epoch``) and the last ``seq`` it applied per stream and gets
exactly what it missed, or a snapshot when it is too far behind; an overlay always starts
from a snapshot of its stream's state, and an alert overlay that names the same run and the
last alert ``seq`` it showed also gets the alerts it missed (bounded by time and count).
Either way the first message is a ``hello`` (``docs/wire-format.md``), and the opening is
computed and the client registered with no ``await`` in between, so nothing published
meanwhile is lost or sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client import Counter
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from livepilot.bus.base import Published
from livepilot.metrics import Metrics
from livepilot.server.alert_log import ALERT_KINDS
from livepilot.server.audience import OverlayProjector
from livepilot.server.backlog import Backlog
from livepilot.wire import decode

__all__ = ["CLOSE_TOO_SLOW", "Hub", "Resume"]

log = logging.getLogger(__name__)

#: Close code for a client that fell too far behind (4000–4999 are application codes).
CLOSE_TOO_SLOW = 4429
_SEND_TIMEOUT = 10.0


def _audience(channel: str) -> str:
    """The metric label for a channel: ``console`` or ``overlay``."""
    return channel.partition(":")[0]


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a reconnecting console left off: the server run and, per stream, the last
    ``seq`` it applied. The default (no epoch) asks for a snapshot."""

    epoch: str | None = None
    since: Mapping[str, int] = field(default_factory=dict)
    #: Overlays: replay missed alerts from at most this many seconds back, at most
    #: ``replay_max`` of them per stream (0: none).
    replay_s: float = 0.0
    replay_max: int = 0


class _Stream:
    """One stream's recent messages and overlay state."""

    __slots__ = ("backlog", "projector")

    def __init__(self, backlog: Backlog, projector: OverlayProjector) -> None:
        self.backlog = backlog
        self.projector = projector


@dataclass(eq=False, slots=True)
class _Client:
    ws: WebSocket
    channel: str  # "console" or "overlay:<name>"
    stream: str | None  # the stream it watches; None = all
    kinds: frozenset[str] | None  # overlay message types wanted; None = everything
    messages: Counter  # this audience's queued-messages counter, looked up once
    #: Queued JSON, each item one or more messages already joined with "," (a batch is
    #: joined once for all consoles); ``pending`` counts the messages.
    buffer: list[str] = field(default_factory=list)
    pending: int = 0
    #: The frame the hub's tick built for the relay to send next (``None``: none yet).
    frame: str | None = None
    #: Waiting for the hub's next tick, or the relay still sending: not to be queued again.
    busy: bool = False
    #: Out of the hub: the tick skips it.
    gone: bool = False
    #: When (loop time) the send in progress started; ``None``: not sending.
    sending: float | None = None
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
        self._consoles: dict[str | None, set[_Client]] = {}
        self._overlays: dict[str | None, set[_Client]] = {}
        self._streams: dict[str, _Stream] = {}
        self._hold = overlay_hold_ms / 1000
        self._recent_size = recent_size
        self._order = iter(range(2**62))  # one order across every stream's backlog
        self._console_messages = metrics.hub_messages.labels("console")
        self._clock = clock
        self._closing = False
        #: Clients with a buffer waiting for the next tick, and that tick's timer.
        self._due: list[_Client] = []
        self._tick: asyncio.Handle | None = None
        self._tick_loop: asyncio.AbstractEventLoop | None = None
        #: This server run; a console's ``since`` from another run asks for a snapshot.
        self.epoch = secrets.token_hex(5)

    @property
    def client_count(self) -> int:
        return sum(map(len, self._consoles.values())) + sum(map(len, self._overlays.values()))

    def _stream(self, name: str) -> _Stream:
        state = self._streams.get(name)
        if state is None:
            state = _Stream(
                Backlog(self._recent_size, order=self._order),
                OverlayProjector(hold=self._hold, stream=name),
            )
            self._streams[name] = state
        return state

    def seed(self, raw: Sequence[str]) -> None:
        """Start each stream's recent messages and overlay state from the bus's log (its
        JSON, oldest first); undecodable lines are skipped and counted in the log."""
        skipped = 0
        now = self._clock()
        for line in raw:
            try:
                message = decode(line)
            except ValueError:
                skipped += 1
                continue
            state = self._stream(message.stream)
            item = Published(0, message, line)
            state.backlog.add_one(item)
            state.projector.project((item,), now, state.backlog.head)
        if skipped:
            log.warning("hub: %d undecodable log entries skipped", skipped)

    def recent(self, limit: int) -> list[str]:
        """The newest ``limit`` messages of every stream as they stand now, oldest first."""
        tails = [s.backlog.tail(limit) for s in self._streams.values()]
        if len(tails) == 1:
            return [raw for _, raw in tails[0]]
        merged = list(heapq.merge(*tails))
        return [raw for _, raw in merged[max(0, len(merged) - limit):]]

    def dispatch(self, batch: Sequence[Published]) -> None:
        """Bus listener: number, remember and queue ``batch`` for every client of its
        stream(s). Never blocks."""
        groups: dict[str, list[Published]] = {}
        for item in batch:
            groups.setdefault(item.message.stream, []).append(item)
        everyone = self._consoles.get(None)
        all_streams: list[str] = []
        now = self._clock()
        for name, items in groups.items():
            state = self._stream(name)
            tagged = state.backlog.add(items)
            watchers = self._consoles.get(name)
            if watchers:
                self._to_consoles(watchers, tagged)
            if everyone:
                all_streams.extend(tagged)
            # Overlay state is kept whether or not an overlay is connected: the next one
            # to connect starts from it. The batch's messages were numbered on from here:
            first = state.backlog.head - len(items) + 1
            self._to_overlays(name, state.projector.project(items, now, first))
        if everyone and all_streams:
            self._to_consoles(everyone, all_streams)

    def to_consoles(self, message: str) -> None:
        """Queue one server message (JSON, no ``seq``: not a stream's) for every console."""
        for clients in tuple(self._consoles.values()):
            self._to_consoles(clients, [message])

    def _to_consoles(self, clients: set[_Client], messages: list[str]) -> None:
        # Joined once here, not once per console (nor again in each relay).
        chunk, count = ",".join(messages), len(messages)
        offer = self._offer
        queued = 0
        for client in tuple(clients):
            queued += offer(client, chunk, count)
        # One counter update per batch, not per client: the counter takes a lock.
        self._console_messages.inc(queued * len(messages))

    def _to_overlays(self, stream: str, projected: list[tuple[str, str]]) -> None:
        if not projected:
            return
        for key in (stream, None):
            for client in tuple(self._overlays.get(key, ())):
                kinds = client.kinds
                if kinds is None:
                    continue
                wanted = [j for kind, j in projected if kind in kinds]
                if wanted and self._offer(client, ",".join(wanted), len(wanted)):
                    client.messages.inc(len(wanted))

    async def run(self, interval: float = 0.1) -> None:
        """Release overlay chat held for a verdict that did not come in time, and drop
        clients whose send has not completed within ``_SEND_TIMEOUT``."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            now = self._clock()
            for name, state in tuple(self._streams.items()):
                self._to_overlays(name, state.projector.expire(now))
            self._drop_stuck(loop.time() - _SEND_TIMEOUT)

    def _drop_stuck(self, started_before: float) -> None:
        for group in (*self._consoles.values(), *self._overlays.values()):
            for client in group:
                if (client.sending is not None and client.sending < started_before
                        and not client.dropped.is_set()):
                    self._drop(client, f"too slow: a send took more than {_SEND_TIMEOUT:g} s")

    def console_opening(self, stream: str | None, resume: Resume, limit: int) -> list[str]:
        """The ``hello`` and what a console missed (or a snapshot), per the wire format."""
        names = [stream] if stream is not None else list(self._streams)
        info: dict[str, dict[str, object]] = {}
        missed: list[str] = []
        snapshot: list[list[tuple[int, str]]] = []
        same_run = resume.epoch == self.epoch
        for name in names:
            state = self._streams.get(name)
            if state is None:  # nothing published yet
                info[name] = {"mode": "resume" if same_run else "snapshot", "head": 0}
                continue
            backlog = state.backlog
            # A stream the client has not heard of yet (started since) resumes from 0.
            gap = backlog.since(resume.since.get(name, 0)) if same_run else None
            if gap is None:
                info[name] = {"mode": "snapshot", "head": backlog.head}
                snapshot.append(backlog.tail(limit))
            else:
                info[name] = {"mode": "resume", "head": backlog.head}
                missed.extend(gap)
        hello = self._hello(stream, info)
        merged = list(heapq.merge(*snapshot))
        merged = merged[max(0, len(merged) - limit):]
        return [hello, *(raw for _, raw in merged), *missed]

    def overlay_opening(
        self, stream: str | None, kinds: frozenset[str], resume: Resume | None = None
    ) -> list[str]:
        """The ``hello``, the state snapshot an overlay starts from, then the alerts it
        missed since ``resume`` (same server run only; ``seq`` is per run)."""
        names = [stream] if stream is not None else list(self._streams)
        info: dict[str, dict[str, object]] = {}
        out: list[str] = []
        missed: list[str] = []
        now = self._clock()
        resume = resume or Resume()
        same_run = resume.epoch == self.epoch
        for name in names:
            state = self._streams.get(name)
            if state is None:
                info[name] = {"mode": "snapshot", "head": 0}
                continue
            info[name] = {"mode": "snapshot", "head": state.backlog.head}
            out.extend(state.projector.snapshot(kinds, now))
            since = resume.since.get(name) if same_run else None
            if since is not None and kinds & ALERT_KINDS:
                alerts = state.projector.missed_alerts(since, now, resume.replay_s,
                                                       resume.replay_max, kinds)
                info[name]["replayed"] = len(alerts)
                missed.extend(alerts)
        return [self._hello(stream, info), *out, *missed]

    def _hello(self, stream: str | None, info: dict[str, dict[str, object]]) -> str:
        return json.dumps(
            {"type": "hello", "epoch": self.epoch, "stream": stream, "streams": info},
            ensure_ascii=False,
        )

    def _offer(self, client: _Client, chunk: str, count: int) -> bool:
        """Queue ``count`` messages (their JSON joined with ",") for ``client``; False if
        it is (now) dropped as too slow."""
        if client.dropped.is_set():
            return False
        if client.pending + count > self._max_backlog:
            self._drop(client, f"too slow: more than {self._max_backlog} messages behind")
            return False
        client.buffer.append(chunk)
        client.pending += count
        if not client.busy:
            self._enqueue(client)
        return True

    def _drop(self, client: _Client, reason: str) -> None:
        """Disconnect ``client`` as too slow (close code 4429, ``reason``), counted."""
        client.reason = reason
        client.buffer.clear()
        client.pending = 0
        client.dropped.set()
        self._metrics.hub_disconnects.labels(_audience(client.channel)).inc()
        log.warning("disconnecting %s client: %s", client.channel, reason)

    def _enqueue(self, client: _Client) -> None:
        """Queue ``client``'s buffer for the next tick, arming the tick if it is not."""
        client.busy = True
        self._due.append(client)
        loop = asyncio.get_running_loop()
        # (A tick armed on another loop, one that has since ended, never fires.)
        if self._tick is None or self._tick_loop is not loop:
            self._tick_loop = loop
            if self._coalesce:
                # Frames go out on one hub-wide tick every ``coalesce`` s, not ``coalesce``
                # after each message: at most one frame per client and window, a message
                # waits the rest of the window (half of one on average), and every client
                # with something to send is served by the same tick and shares its frame.
                now = loop.time()
                self._tick = loop.call_at(now + self._coalesce - now % self._coalesce,
                                          self._on_tick)
            else:
                self._tick = loop.call_soon(self._on_tick)

    def _on_tick(self) -> None:
        """Build each waiting client's frame (once per distinct buffer) and wake its relay."""
        self._tick = None
        due, self._due = self._due, []
        # Within one tick every buffer is alive, so the ids of its chunks name its content:
        # consoles that got the same batches share one frame.
        built: dict[tuple[int, ...], str] = {}
        for client in due:
            if client.gone:
                continue
            batch, client.buffer, client.pending = client.buffer, [], 0
            if not batch:
                client.busy = False
                continue
            key = tuple(map(id, batch))
            frame = built.get(key)
            if frame is None:
                frame = built[key] = "[" + ",".join(batch) + "]"
            client.frame = frame
            client.wake.set()

    async def serve(
        self,
        ws: WebSocket,
        channel: str,
        *,
        stream: str | None = None,
        kinds: frozenset[str] | None = None,
        resume: Resume | None = None,
        backlog: int = 500,
        on_frame: Callable[[str], Awaitable[str | None]] | None = None,
    ) -> None:
        """Relay to an accepted socket until it closes, falls behind, or the hub closes.

        A console (``kinds`` is ``None``) first gets what it missed since ``resume`` or the
        newest ``backlog`` messages; an overlay first gets its stream's state. ``on_frame``
        handles text the client sends and may return a reply (one wire message as JSON),
        which is queued like any other message, so only the relay task ever sends on the
        socket. Overlays are read-only and their frames are ignored.
        """
        audience = _audience(channel)
        client = _Client(
            ws=ws,
            channel=channel,
            stream=stream,
            kinds=kinds,
            messages=self._metrics.hub_messages.labels(audience),
        )
        index = self._consoles if kinds is None else self._overlays
        group = index.setdefault(stream, set())
        gauge = self._metrics.hub_clients.labels(audience)
        # No await from here to ``group.add``: nothing published in between is missed.
        if kinds is None:
            opening = self.console_opening(stream, resume or Resume(), backlog)
        else:
            opening = self.overlay_opening(stream, kinds, resume)
        client.buffer.extend(opening)
        client.pending += len(opening)
        client.messages.inc(len(opening))
        self._enqueue(client)
        group.add(client)
        gauge.inc()
        relay = asyncio.create_task(self._relay(client), name=f"relay:{channel}")
        reader = asyncio.create_task(self._read(client, on_frame), name=f"reader:{channel}")
        dropped = asyncio.create_task(client.dropped.wait())
        try:
            await asyncio.wait({relay, reader, dropped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            client.gone = True
            group.discard(client)
            if not group and index.get(stream) is group:
                del index[stream]
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
        send = client.ws.send_text
        clock = asyncio.get_running_loop().time
        while True:
            await client.wake.wait()  # set by the tick, with the frame to send
            client.wake.clear()
            frame, client.frame = client.frame, None
            if frame is None:
                continue
            # No timer per send (``wait_for`` or ``timeout`` cost more than the send
            # itself): :meth:`run` drops a client whose send has taken too long.
            client.sending = clock()
            await send(frame)
            client.sending = None
            frames.inc()
            if client.buffer:
                self._enqueue(client)  # what came in while sending: the next tick
            else:
                client.busy = False

    async def _read(
        self, client: _Client, on_frame: Callable[[str], Awaitable[str | None]] | None
    ) -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                text = await client.ws.receive_text()
                if on_frame is not None:
                    reply = await on_frame(text)
                    if reply is not None and self._offer(client, reply, 1):
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
        clients = [c for g in (*self._consoles.values(), *self._overlays.values()) for c in g]
        for client in clients:
            client.reason = "server shutting down"
            client.dropped.set()
        for _ in range(50):
            if not self.client_count:
                break
            await asyncio.sleep(0.02)
