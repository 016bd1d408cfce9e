"""The Redis bus's log reader: other processes' messages, handed to this one's listeners.

One task reads every stream's log (``XREAD`` over all of them at once) except the logs this
process writes itself (it delivered those as it published them). It skips its own
entries and the repeats of a retried batch (numbers are consecutive per origin and log),
finds the logs of streams that began after it started (``{prefix}:streams``, every 2 s),
and retries with backoff while Redis is away, saying so when Redis came back restarted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

from livepilot.bus.base import Published
from livepilot.bus.redis_link import (
    BLOCK_MS,
    TIMEOUT,
    Backoff,
    RedisKeys,
    RedisLink,
    check_cancelled,
)
from livepilot.wire import decode

__all__ = ["LogReader", "entry_order", "load_logs"]

log = logging.getLogger(__name__)

_STREAMS_REFRESH = 2.0  # how often a reader looks for new streams' logs
_ORIGINS_KEPT = 1_000  # (origin, log) pairs a reader remembers for skipping repeats


def entry_order(entry_id: bytes) -> tuple[int, int]:
    ms, _, n = entry_id.partition(b"-")
    return int(ms), int(n or 0)


async def load_logs(
    link: RedisLink, keys: RedisKeys, entries: int
) -> tuple[dict[bytes, bytes], list[str]]:
    """Each known log's last entry id, and the wire JSON of the newest ``entries`` entries
    of every log, merged in time order (for the console backlog at start)."""
    names = await asyncio.wait_for(link.redis.zrange(keys.streams, 0, -1), TIMEOUT)
    last: dict[bytes, bytes] = {}
    loaded: list[tuple[bytes, Any]] = []
    for name in names:
        key = keys.log(name.decode()).encode()
        found = await asyncio.wait_for(link.redis.xrevrange(key, count=entries), TIMEOUT)
        last[key] = found[0][0] if found else b"0-0"
        loaded.extend(found)
    loaded.sort(key=lambda e: entry_order(e[0]))
    recent = [line for _, fields in loaded for line in fields[b"m"].decode().split("\n")]
    return last, recent


class LogReader:
    """Reads the logs other processes write and delivers their messages here."""

    def __init__(
        self,
        link: RedisLink,
        keys: RedisKeys,
        origin: bytes,
        *,
        read_batch: int,
        own_logs: set[bytes],
        seq: Iterator[int],
        deliver: Callable[[list[Published]], None],
        closing: Callable[[], bool],
    ) -> None:
        self._link = link
        self._keys = keys
        self._origin = origin
        self._read_batch = read_batch
        self._own_logs = own_logs
        self._seq = seq
        self._deliver = deliver
        self._closing = closing

    async def run(self, last: dict[bytes, bytes]) -> None:
        """Read every stream's log and hand other processes' entries to the listeners."""
        from redis.exceptions import RedisError

        link = self._link
        backoff = Backoff()
        seen: OrderedDict[tuple[bytes, bytes], int] = OrderedDict()
        refresh_at = 0.0
        failed = False
        loop = asyncio.get_running_loop()
        while True:
            check_cancelled()
            reply: Any = []
            try:
                if failed:
                    await link.check_restart()
                if loop.time() >= refresh_at:
                    await asyncio.wait_for(self._find_streams(last), TIMEOUT)
                    refresh_at = loop.time() + _STREAMS_REFRESH
                # The logs of streams published here are not read back: their messages
                # were delivered here as they were published.
                others = {k: v for k, v in last.items() if k not in self._own_logs}
                if others:
                    reply = await link.redis.xread(
                        others, count=self._read_batch, block=BLOCK_MS
                    )
                else:  # nothing to read: look for new streams (and at Redis) twice a second
                    refresh_at = loop.time() + 0.5
            except (RedisError, OSError, TimeoutError) as exc:
                check_cancelled()
                if self._closing():
                    return
                failed = True
                link.fail("reader", "read", exc, "reading the event log")
                await asyncio.sleep(backoff.next())
                continue
            if failed:
                failed = False
                backoff.reset()
            link.recovered("reader")
            if not others:
                await asyncio.sleep(0.5)
                continue
            try:
                self._deliver_entries(reply, last, seen)
            except Exception:  # containment: one bad listener must not end the reader
                log.error("redis bus: delivering log entries failed", exc_info=True)

    async def _find_streams(self, last: dict[bytes, bytes]) -> None:
        names = await self._link.redis.zrange(self._keys.streams, 0, -1)
        for name in names:
            key = self._keys.log(name.decode()).encode()
            if key not in last:  # a stream that began after this bus started: all of
                last[key] = b"0-0"  # its log is new here

    def _deliver_entries(
        self,
        reply: Any,
        last: dict[bytes, bytes],
        seen: OrderedDict[tuple[bytes, bytes], int],
    ) -> None:
        metrics = self._link.metrics
        entries: list[tuple[bytes, Any]] = []
        for key, stream_entries in reply:
            if stream_entries:
                last[key] = stream_entries[-1][0]
            entries.extend((key, e) for e in stream_entries)
        if len(reply) > 1:  # several logs: merge them in Redis's time order
            entries.sort(key=lambda item: entry_order(item[1][0]))
        batch: list[Published] = []
        seq = self._seq
        newest = b"0-0"
        for key, (entry_id, fields) in entries:
            origin = fields.get(b"o")
            if origin == self._origin:
                continue  # delivered here when it was published
            lines = fields[b"m"].decode().split("\n")
            if origin is not None:
                # Skip what a retried batch repeats (Redis had written it after all).
                lines = lines[_repeated(seen, (origin, key), fields, len(lines)):]
            for raw in lines:
                try:
                    message = decode(raw)
                except ValueError:
                    metrics.bus_errors.labels("decode").inc()
                    log.error("redis bus: undecodable message in %s on %s skipped",
                              entry_id, key)
                    continue
                batch.append(Published(next(seq), message, raw))
            newest = entry_id
        if batch:
            self._deliver(batch)
            # Bus lag (the dashboard's): Redis stamped the entry id with its own clock in
            # ms when the entry was written; once per read batch, for its newest message.
            written = entry_order(newest)[0] / 1000
            metrics.bus_lag.observe(max(0.0, time.time() - written))


def _repeated(
    seen: OrderedDict[tuple[bytes, bytes], int],
    where: tuple[bytes, bytes],
    fields: Any,
    count: int,
) -> int:
    """How many of the entry's first messages were delivered already (numbers are
    consecutive per origin and log, ``f``..``n``)."""
    try:
        first, last = int(fields[b"f"]), int(fields[b"n"])
    except (KeyError, ValueError):
        return 0
    before = seen.get(where, 0)
    if last > before:
        seen[where] = last
        seen.move_to_end(where)
        if len(seen) > _ORIGINS_KEPT:
            seen.popitem(last=False)
    return min(count, max(0, before - first + 1))
