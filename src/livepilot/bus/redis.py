"""The Redis Streams bus: for when one process is not enough.

Published messages go to one Redis stream, ``{prefix}:log`` (capped at ``log_size``
entries): it is the durable event log and the fan-out path at once. Every process that
subscribes (API replicas serving consoles, a headless writer) reads it from its own
position with ``XREAD``; the pipeline process only writes. Moderator commands go to
``{prefix}:cmd:{stream}`` and are read by that stream's pipeline through a consumer group,
so none is lost while the pipeline restarts.

``redis`` is imported only here; its errors become :class:`BusUnavailable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from livepilot.bus.base import LocalFanout, Published
from livepilot.errors import BusUnavailable
from livepilot.events import CommandEvent
from livepilot.wire import WireMessage, decode, encode

__all__ = ["RedisBus"]

log = logging.getLogger(__name__)

_BLOCK_MS = 1_000
_TIMEOUT = 5.0
_GROUP = "pipeline"  # the consumer group of a stream's command stream
_CONSUMER = "pipeline"  # one pipeline per stream: after a restart it is the same consumer


class RedisBus(LocalFanout):
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "livepilot",
        log_size: int = 50_000,
        read_batch: int = 500,
        command_max_age: float = 600.0,
    ) -> None:
        try:
            from redis.asyncio import Redis
        except ImportError as exc:  # pragma: no cover - redis is a core dependency
            raise BusUnavailable("the Redis bus needs the 'redis' package") from exc
        self._url = url
        # redis-py's reply types are unions of every shape a reply can take; this adapter
        # knows the shapes of the few commands it sends.
        self._redis: Any = Redis.from_url(
            url, socket_timeout=_TIMEOUT + _BLOCK_MS / 1000, socket_connect_timeout=_TIMEOUT
        )
        self._prefix = prefix
        self._log_key = f"{prefix}:log"
        self._log_size = log_size
        self._read_batch = read_batch
        self._command_max_age = command_max_age
        super().__init__(log_size)
        self._reader: asyncio.Task[None] | None = None
        self._seq = 0

    def _unavailable(self, exc: Exception, doing: str) -> BusUnavailable:
        return BusUnavailable(
            f"Redis at {self._url} {doing} failed ({exc}); is redis-server running? "
            "(LIVEPILOT_REDIS_URL, or LIVEPILOT_BUS=memory for one process)"
        )

    async def start(self) -> None:
        """Check the connection, load the recent log, and start reading it."""
        from redis.exceptions import RedisError

        try:
            await asyncio.wait_for(self._redis.ping(), _TIMEOUT)
            entries = await self._redis.xrevrange(self._log_key, count=self._log_size)
        except (RedisError, OSError, TimeoutError) as exc:
            raise self._unavailable(exc, "connecting") from exc
        self._remember([fields[b"m"].decode() for _, fields in reversed(entries)])
        last = entries[0][0] if entries else b"0-0"
        self._reader = asyncio.create_task(self._read(last), name="redis-bus-reader")
        log.info("redis bus: connected to %s (%d messages in the log)", self._url, len(entries))

    async def publish(self, messages: Sequence[WireMessage]) -> None:
        from redis.exceptions import RedisError

        if not messages:
            return
        pipe = self._redis.pipeline(transaction=False)
        for message in messages:
            pipe.xadd(
                self._log_key, {"m": encode(message)}, maxlen=self._log_size, approximate=True
            )
        try:
            await asyncio.wait_for(pipe.execute(), _TIMEOUT)
        except (RedisError, OSError, TimeoutError) as exc:
            raise self._unavailable(exc, "writing the event log") from exc

    async def _read(self, last: bytes) -> None:
        from redis.exceptions import RedisError

        delay = 0.1
        while True:
            try:
                reply = await self._redis.xread(
                    {self._log_key: last}, count=self._read_batch, block=_BLOCK_MS
                )
                delay = 0.1
            except (RedisError, OSError) as exc:
                log.warning(
                    "redis bus: reading the log failed (%s); retrying in %.1f s", exc, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            for _, entries in reply:
                batch: list[Published] = []
                for entry_id, fields in entries:
                    last = entry_id
                    raw = fields[b"m"].decode()
                    self._seq += 1
                    try:
                        batch.append(Published(self._seq, decode(raw), raw))
                    except ValueError:
                        log.error("redis bus: undecodable log entry %s skipped", entry_id)
                if batch:
                    self._deliver(batch)

    def _command_key(self, stream: str) -> str:
        return f"{self._prefix}:cmd:{stream}"

    async def send_command(self, command: CommandEvent) -> None:
        from redis.exceptions import RedisError

        try:
            await asyncio.wait_for(
                self._redis.xadd(
                    self._command_key(command.stream),
                    {"m": encode(command)},
                    maxlen=10_000,
                    approximate=True,
                ),
                _TIMEOUT,
            )
        except (RedisError, OSError, TimeoutError) as exc:
            raise self._unavailable(exc, "sending a command") from exc

    async def commands(self, stream: str) -> AsyncIterator[CommandEvent]:
        """The stream's commands, at least once, across pipeline restarts.

        The pipeline reads through a consumer group and acknowledges a command once the
        runner has taken it, so what was sent while no pipeline ran (a restart, a deploy)
        or taken by one that died is delivered on the next start. Commands older than
        ``command_max_age`` seconds are acknowledged and skipped: a moderator's "hide" from
        yesterday must not act on today's stream.
        """
        from redis.exceptions import RedisError, ResponseError

        key = self._command_key(stream)
        try:
            await self._redis.xgroup_create(key, _GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise self._unavailable(exc, "creating the command group") from exc
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc, "creating the command group") from exc
        # First page through what this consumer took and never acknowledged (ids after
        # ``last``), then read new commands (">").
        last: Any = "0"
        catching_up = True
        while True:
            try:
                reply = await self._redis.xreadgroup(
                    _GROUP, _CONSUMER, {key: last}, count=100, block=_BLOCK_MS
                )
            except (RedisError, OSError) as exc:
                log.warning("redis bus: reading commands failed (%s)", exc)
                await asyncio.sleep(1.0)
                continue
            entries = [e for _, stream_entries in reply for e in stream_entries]
            if catching_up and not entries:
                catching_up, last = False, ">"
                continue
            for entry_id, fields in entries:
                if catching_up:
                    last = entry_id
                command = self._command(key, entry_id, fields)
                if command is not None:
                    yield command  # resumes once the runner has queued it
                await self._ack(key, entry_id)

    def _command(self, key: str, entry_id: bytes, fields: Any) -> CommandEvent | None:
        if fields is None or b"m" not in fields:
            return None  # trimmed from the capped stream while pending
        try:
            command = decode(fields[b"m"])
        except ValueError:
            log.error("redis bus: bad command %s on %s skipped", entry_id, key)
            return None
        if not isinstance(command, CommandEvent):
            return None
        # The entry id starts with Redis's own clock in ms: no trust in the sender's clock.
        age = time.time() - int(entry_id.split(b"-")[0]) / 1000
        if age > self._command_max_age:
            log.warning(
                "redis bus: skipped %s command %s for %s, sent %.0f s ago (older than %.0f s)",
                command.action, command.id, command.stream, age, self._command_max_age,
            )
            return None
        return command

    async def _ack(self, key: str, entry_id: bytes) -> None:
        from redis.exceptions import RedisError

        try:
            await self._redis.xack(key, _GROUP, entry_id)
        except (RedisError, OSError) as exc:  # it stays pending and comes again on restart
            log.warning("redis bus: acknowledging command %s failed (%s)", entry_id, exc)

    async def close(self) -> None:
        self._forget_listeners()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._redis.aclose()
