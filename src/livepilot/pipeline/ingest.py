"""The bounded queue between a source and its pipeline, with its overflow policy.

Policy: chat, gifts and every other kind are never dropped; when the queue is full,
``put`` waits (backpressure on the source). Likes and joins are the exception: when the
queue is full they are merged into one pending like and one pending join whose counts add
up, counted in ``livepilot_coalesced_events``. So memory stays bounded under a like storm
and the totals stay right; only the per-user attribution of merged likes/joins is lost.
A replay in event time (``coalesce=False``) waits for every kind instead: it has no live
latency to protect, and merging would make its results depend on the machine's speed.
"""

from __future__ import annotations

import asyncio

from livepilot.events import COALESCIBLE_KINDS, JoinEvent, LikeEvent, LiveEvent
from livepilot.metrics import Metrics

__all__ = ["IngestQueue"]

_CLOSED = object()


class IngestQueue:
    def __init__(
        self, stream: str, maxsize: int, metrics: Metrics, *, coalesce: bool = True
    ) -> None:
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize)
        self._coalesce = coalesce
        self._pending: dict[str, LikeEvent | JoinEvent] = {}
        self._closed = False
        #: ``poll`` took the end marker: ``get`` answers the end (after merged events).
        self._ended = False
        self._depth = metrics.queue_depth.labels(stream)
        self._coalesced = {k: metrics.coalesced.labels(stream, k) for k in COALESCIBLE_KINDS}

    def qsize(self) -> int:
        return self._queue.qsize() + len(self._pending)

    async def put(self, event: LiveEvent) -> None:
        if self._coalesce and isinstance(event, LikeEvent | JoinEvent) and self._queue.full():
            self._merge(event)
            return
        # Merged likes/joins came before this event: they go in first, so the order holds
        # (a stream's "ended" never overtakes the last merged likes).
        while self._pending:
            await self._queue.put(self._pending.pop(next(iter(self._pending))))
        await self._queue.put(event)
        self._depth.set(self._queue.qsize())

    def _merge(self, event: LikeEvent | JoinEvent) -> None:
        held = self._pending.get(event.type)
        if held is not None:
            total = event.total if isinstance(event, LikeEvent) else None
            update: dict[str, object] = {"count": held.count + event.count}
            if total is not None:
                update["total"] = total
            # The newest event carries the merged count: its time and user are the latest.
            event = event.model_copy(update=update)
        self._pending[event.type] = event
        self._coalesced[event.type].inc()

    def take_all(self) -> list[LiveEvent]:
        """Everything still waiting, oldest first, taken out at once (a shutdown whose
        drain ran out of time hands these to the bus unprocessed)."""
        taken: list[LiveEvent] = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not _CLOSED:
                taken.append(item)  # type: ignore[arg-type]
        taken.extend(self._pending.values())
        self._pending.clear()
        self._depth.set(0)
        return taken

    async def close(self) -> None:
        """No more events: the consumer gets what is queued, then ``None``."""
        await self._queue.put(_CLOSED)

    def poll(self) -> LiveEvent | None:
        """The next event if one is waiting, else ``None``; never waits. The runner takes
        what is already queued this way to process it as one batch. The end is left to
        :meth:`get` (``None`` here only means "nothing waiting right now")."""
        if self._ended:
            return None
        if self._queue.empty():
            return self._pending.pop(next(iter(self._pending))) if self._pending else None
        item = self._queue.get_nowait()
        if item is _CLOSED:
            self._ended = True
            return None
        return item  # type: ignore[return-value]

    async def get(self) -> LiveEvent | None:
        """The next event, or ``None`` once the queue was closed and drained."""
        if self._ended:
            if self._pending:  # merged likes/joins still owed before the end
                return self._pending.pop(next(iter(self._pending)))
            return None
        if self._pending and self._queue.empty():
            return self._pending.pop(next(iter(self._pending)))
        item = await self._queue.get()
        self._depth.set(self._queue.qsize())
        if item is _CLOSED:
            if self._pending:  # merged likes/joins still owed before the end
                await self._queue.put(_CLOSED)
                return self._pending.pop(next(iter(self._pending)))
            return None
        return item  # type: ignore[return-value]
