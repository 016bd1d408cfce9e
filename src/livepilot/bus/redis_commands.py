"""Moderator commands over Redis: from any API replica to the stream's pipeline.

``{prefix}:cmd:{stream}`` is a capped stream read through a consumer group, so no command
is lost while the pipeline restarts: a command is acknowledged once the runner has taken
it, and what was sent while no pipeline ran (or taken by one that died) is delivered on
the next start. Commands older than ``command_max_age`` seconds are skipped. Redis being
away only pauses reading; a Redis that came back without the group gets it recreated.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from livepilot.bus.redis_link import (
    BLOCK_MS,
    TIMEOUT,
    Backoff,
    RedisKeys,
    RedisLink,
    check_cancelled,
    why,
)
from livepilot.events import CommandEvent
from livepilot.wire import decode, encode

__all__ = ["CommandChannel"]

log = logging.getLogger(__name__)

_GROUP = "pipeline"  # the consumer group of a stream's command stream
_CONSUMER = "pipeline"  # one pipeline per stream: after a restart it is the same consumer


class CommandChannel:
    def __init__(
        self, link: RedisLink, keys: RedisKeys, max_age: float, closing: Callable[[], bool]
    ) -> None:
        self._link = link
        self._keys = keys
        self._max_age = max_age
        self._closing = closing

    async def send(self, command: CommandEvent) -> None:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import RedisError

        link = self._link
        key, fields = self._keys.command(command.stream), {"m": encode(command)}
        for attempt in (1, 2):
            try:
                await asyncio.wait_for(
                    link.redis.xadd(key, fields, maxlen=10_000, approximate=True), TIMEOUT
                )
                return
            except RedisConnectionError as exc:
                # An idle pooled connection to a Redis that restarted fails on first use;
                # a second attempt takes a fresh one.
                link.metrics.bus_errors.labels("command_send").inc()
                if attempt == 2:
                    raise link.unavailable(exc, "sending a command") from exc
            except (RedisError, OSError, TimeoutError) as exc:
                link.metrics.bus_errors.labels("command_send").inc()
                raise link.unavailable(exc, "sending a command") from exc

    async def read(self, stream: str) -> AsyncIterator[CommandEvent]:
        """The stream's commands, at least once, across pipeline restarts (see above)."""
        from redis.exceptions import RedisError, ResponseError

        link = self._link
        key = self._keys.command(stream)
        backoff = Backoff()
        grouped = False
        # First page through what this consumer took and never acknowledged (ids after
        # ``last``), then read new commands (">").
        last: Any = "0"
        catching_up = True
        while True:
            check_cancelled()  # redis-py may also return normally from a cancelled read
            try:
                if not grouped:
                    await self._create_group(key)
                    grouped = True
                reply = await link.redis.xreadgroup(
                    _GROUP, _CONSUMER, {key: last}, count=100, block=BLOCK_MS
                )
            except ResponseError as exc:
                check_cancelled()
                if "NOGROUP" not in str(exc):
                    raise link.unavailable(exc, f"reading commands of {stream!r}") from exc
                log.warning("redis bus: the command group of %s is gone (Redis restarted "
                            "empty?); recreating it", stream)
                link.metrics.bus_errors.labels("group").inc()
                grouped, last, catching_up = False, "0", True
                continue
            except (RedisError, OSError, TimeoutError) as exc:
                check_cancelled()
                if self._closing():
                    return
                link.metrics.bus_errors.labels("command_read").inc()
                delay = backoff.next()
                log.warning("redis bus: reading commands of %s failed (%s); again in %.1f s",
                            stream, why(exc), delay)
                await asyncio.sleep(delay)
                continue
            backoff.reset()
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

    async def _create_group(self, key: str) -> None:
        from redis.exceptions import ResponseError

        try:
            await asyncio.wait_for(
                self._link.redis.xgroup_create(key, _GROUP, id="0", mkstream=True), TIMEOUT
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

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
        if age > self._max_age:
            log.warning(
                "redis bus: skipped %s command %s for %s, sent %.0f s ago (older than %.0f s)",
                command.action, command.id, command.stream, age, self._max_age,
            )
            return None
        return command

    async def _ack(self, key: str, entry_id: bytes) -> None:
        from redis.exceptions import RedisError

        try:
            await asyncio.wait_for(self._link.redis.xack(key, _GROUP, entry_id), TIMEOUT)
        except (RedisError, OSError, TimeoutError) as exc:  # pending: it comes again
            log.warning("redis bus: acknowledging command %s failed (%s)", entry_id, why(exc))
