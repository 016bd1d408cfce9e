"""The stream registry on Redis: one hash, ``{prefix}:declared`` (stream → spec JSON).

``HSETNX`` makes a declaration atomic however many API replicas race to add the same
stream; workers read the whole hash once per claim tick (one round trip). Removing a
stream also drops its shared views, so replicas stop listing it at once rather than when
the views expire.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from livepilot.bus.redis_link import TIMEOUT, RedisKeys, RedisLink

__all__ = ["RedisRegistry"]


class RedisRegistry:
    """:class:`~livepilot.bus.registry.StreamRegistry` on Redis."""

    def __init__(self, link: RedisLink, keys: RedisKeys) -> None:
        self._link = link
        self._keys = keys
        self._key = f"{keys.prefix}:declared"

    async def _call(self, call: Awaitable[Any], doing: str) -> Any:
        from redis.exceptions import RedisError

        try:
            return await asyncio.wait_for(call, TIMEOUT)
        except (RedisError, OSError, TimeoutError) as exc:
            self._link.metrics.bus_errors.labels("registry").inc()
            raise self._link.unavailable(exc, doing) from exc

    async def declare(self, stream: str, spec: str) -> bool:
        added = await self._call(
            self._link.redis.hsetnx(self._key, stream, spec), f"declaring stream {stream!r}"
        )
        return bool(added)

    async def undeclare(self, stream: str) -> bool:
        pipe = self._link.redis.pipeline(transaction=True)
        pipe.hdel(self._key, stream)
        pipe.delete(self._keys.views(stream))
        removed, _ = await self._call(pipe.execute(), f"removing stream {stream!r}")
        return bool(removed)

    async def declared(self) -> dict[str, str]:
        found = await self._call(self._link.redis.hgetall(self._key), "reading the streams")
        return {k.decode(): v.decode() for k, v in found.items()}
