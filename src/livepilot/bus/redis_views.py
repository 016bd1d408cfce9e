"""Views shared through Redis, for API replicas that do not run a stream.

The process that runs a stream writes its views (summary, questions, …) as one JSON
object to ``{prefix}:views:{stream}`` every second, expiring after 10 s: a replica never
serves the views of a stream whose worker stopped refreshing them as if they were live.
Failures are counted and logged at debug level: the next refresh tries again.
"""

from __future__ import annotations

import asyncio
import logging

from livepilot.bus.redis_link import TIMEOUT, RedisKeys, RedisLink, why

__all__ = ["SharedViews"]

log = logging.getLogger(__name__)

_VIEWS_TTL = 10  # seconds a stream's shared views live without a refresh


class SharedViews:
    def __init__(self, link: RedisLink, keys: RedisKeys) -> None:
        self._link = link
        self._keys = keys

    async def put(self, stream: str, views: str) -> None:
        from redis.exceptions import RedisError

        try:
            await asyncio.wait_for(
                self._link.redis.set(self._keys.views(stream), views, ex=_VIEWS_TTL), TIMEOUT
            )
        except (RedisError, OSError, TimeoutError) as exc:
            self._link.metrics.bus_errors.labels("views").inc()
            log.debug("redis bus: sharing the views of %s failed (%s)", stream, why(exc))

    async def shared(self) -> dict[str, str]:
        from redis.exceptions import RedisError

        redis = self._link.redis
        try:
            names = await asyncio.wait_for(redis.zrange(self._keys.streams, 0, -1), TIMEOUT)
            if not names:
                return {}
            streams = [n.decode() for n in names]
            values = await asyncio.wait_for(
                redis.mget([self._keys.views(s) for s in streams]), TIMEOUT
            )
        except (RedisError, OSError, TimeoutError) as exc:
            self._link.metrics.bus_errors.labels("views").inc()
            log.debug("redis bus: reading shared views failed (%s)", why(exc))
            return {}
        return {s: v.decode() for s, v in zip(streams, values, strict=True) if v is not None}
