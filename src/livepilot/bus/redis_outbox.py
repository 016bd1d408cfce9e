"""The Redis bus's outbox: what this process published, on its way to the event log.

Publishing never waits for Redis: a published batch goes into a bounded outbox, and one
writer task empties it in batches, each one pipelined round trip of ``XADD``\\s (capped
with ``MAXLEN ~``), the streams registry (``ZADD``) and, once a minute, the trim by age
(``XTRIM MINID ~``). Every entry carries its origin (this bus's id) and the per-origin
numbers of its first and last message, so a reader can skip its own entries and the
repeats of a batch that was retried after a timeout (Redis may have run it after all).

During an outage the outbox holds up to ``buffer_size`` messages and drops the oldest
beyond that (counted in ``livepilot_bus_dropped``); the writer retries with backoff.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from livepilot.bus.base import Published
from livepilot.bus.redis_link import TIMEOUT, Backoff, RedisKeys, RedisLink, check_cancelled

__all__ = ["Outbox"]

log = logging.getLogger(__name__)

_TRIM_EVERY = 60.0  # how often the writer trims its logs by age
_ENTRY_MESSAGES = 100  # messages one log entry holds at most


class _Outgoing(NamedTuple):
    """A message waiting in the outbox: its place in the outbox (``g``), its number on
    its log from this origin (``n``, consecutive per log), log key, stream, type, JSON."""

    g: int
    n: int
    key: bytes
    stream: str
    type: str
    json: str


def _by_log(batch: Sequence[_Outgoing]) -> list[tuple[bytes, list[_Outgoing]]]:
    """The batch grouped by log key, in order, at most ``_ENTRY_MESSAGES`` per group."""
    groups: dict[bytes, list[list[_Outgoing]]] = {}
    for item in batch:
        chunks = groups.setdefault(item.key, [[]])
        if len(chunks[-1]) >= _ENTRY_MESSAGES:
            chunks.append([])
        chunks[-1].append(item)
    return [(key, chunk) for key, chunks in groups.items() for chunk in chunks]


class Outbox:
    """The bounded outbox and the one task that writes it to the event log."""

    def __init__(
        self,
        link: RedisLink,
        keys: RedisKeys,
        origin: bytes,
        *,
        log_entries: int,
        write_batch: int,
        buffer_size: int,
        max_age: float,
    ) -> None:
        self._link = link
        self._keys = keys
        self._origin = origin
        self._log_entries = log_entries
        self._write_batch = write_batch
        self.buffer_size = buffer_size
        self._max_age = max_age
        self._places = itertools.count(1)
        self._numbers: dict[bytes, int] = {}
        self._log_keys: dict[str, bytes] = {}
        self._items: deque[_Outgoing] = deque()
        self._wake = asyncio.Event()
        #: The logs this process writes: its reader does not read them back.
        self.written_keys: set[bytes] = set()
        self._trimmed_at = 0.0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    def enqueue(self, batch: Iterable[Published]) -> None:
        outbox, full, own = self._items, self.buffer_size, self.written_keys
        keys = self._log_keys
        for p in batch:
            if len(outbox) >= full:
                self._drop(outbox.popleft())
            stream = p.message.stream
            key = keys.get(stream)
            if key is None:
                key = keys[stream] = self._keys.log(stream).encode()
                own.add(key)
            n = self._numbers[key] = self._numbers.get(key, 0) + 1
            outbox.append(_Outgoing(next(self._places), n, key, stream, p.type, p.json))
        self._wake.set()  # (the writer keeps livepilot_bus_buffered up to date)

    def _drop(self, item: _Outgoing) -> None:
        if self.dropped == 0:
            log.error(
                "redis bus: the outage buffer is full (%d messages): the oldest are no "
                "longer written to the event log (counted in livepilot_bus_dropped)",
                self.buffer_size,
            )
        self.dropped += 1
        self._link.metrics.bus_dropped.labels(item.type).inc()

    def drop_all(self) -> int:
        """Give up on what is left (shutdown): count it as dropped; how many."""
        left = len(self._items)
        for item in self._items:
            self._link.metrics.bus_dropped.labels(item.type).inc()
        self.dropped += left
        self._items.clear()
        return left

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Write the outbox to the event log until cancelled, retrying through outages."""
        from redis.exceptions import RedisError

        metrics = self._link.metrics
        backoff = Backoff()
        while True:
            if not self._items:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = list(itertools.islice(self._items, self._write_batch))
            metrics.bus_buffered.set(len(self._items))
            try:
                await asyncio.wait_for(self._write(batch), TIMEOUT)
            except (RedisError, OSError, TimeoutError) as exc:
                check_cancelled()
                self._link.fail("writer", "write", exc, "writing the event log")
                await asyncio.sleep(backoff.next())
                continue
            except Exception as exc:  # containment: the writer must outlive any failure
                log.error("redis bus: writing the event log failed", exc_info=True)
                self._link.fail("writer", "write", exc, "writing the event log")
                await asyncio.sleep(backoff.next())
                continue
            backoff.reset()
            self._link.recovered("writer")
            # Entries may have been dropped from the left while the batch was in flight:
            # take out by number, not by count.
            newest = batch[-1].g
            while self._items and self._items[0].g <= newest:
                self._items.popleft()
            metrics.bus_written.inc(len(batch))
            metrics.bus_buffered.set(len(self._items))

    async def _write(self, batch: Sequence[_Outgoing]) -> None:
        """One round trip: the batch's entries, the streams registry, and (once a minute)
        the trim by age."""
        pipe = self._link.redis.pipeline(transaction=False)
        origin = self._origin
        for key, items in _by_log(batch):
            # One entry per log and round trip: its messages' JSON one per line (wire JSON
            # is one line), numbered first..last. Per-command overhead, not Redis, was
            # what capped one entry per message at ~1,000 messages/s.
            pipe.xadd(
                key,
                {"m": "\n".join(i.json for i in items), "o": origin, "f": items[0].n,
                 "n": items[-1].n},
                maxlen=self._log_entries, approximate=True,
            )
        now = time.time()
        pipe.zadd(self._keys.streams, {s: int(now * 1000) for s in {i.stream for i in batch}})
        if now - self._trimmed_at >= _TRIM_EVERY:
            oldest = int((now - self._max_age) * 1000)
            for key in self.written_keys:
                pipe.xtrim(key, minid=oldest, approximate=True)
            pipe.zremrangebyscore(self._keys.streams, 0, oldest)
            self._trimmed_at = now
        await pipe.execute()

    async def flush(self, deadline: float) -> int:
        """Wait up to ``deadline`` s for the outbox to reach Redis; how many are left."""
        loop = asyncio.get_running_loop()
        until = loop.time() + deadline
        while self._items and loop.time() < until:
            self._wake.set()
            await asyncio.sleep(0.02)
        return len(self._items)
