"""Stream leases on Redis: each stream runs in exactly one ``livepilot worker``.

``{prefix}:lease:{stream}`` holds the id of the worker that runs the stream and expires
unless renewed; ``{prefix}:owner:{stream}`` remembers the last worker that took it, so a
takeover knows where the failover gap in the log starts. Each step is one Lua script, so
a claim, a renewal or a release is atomic however many workers race for the stream.
"""

from __future__ import annotations

import asyncio
from typing import Any

from livepilot.bus.base import Claim
from livepilot.bus.redis_link import TIMEOUT, RedisKeys, RedisLink

__all__ = ["RedisLeases"]

#: Take a free lease; remember the taker; answer the last holder and the log's last write.
_CLAIM = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {0, redis.call('GET', KEYS[1]) or ''}
end
local previous = redis.call('GET', KEYS[2]) or ''
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[3])
return {1, previous, redis.call('ZSCORE', KEYS[3], ARGV[4]) or ''}
"""
#: Extend our lease; take it again if it lapsed and nobody took it meanwhile (a Redis
#: outage longer than the lease); 0 when another worker holds it or held it since.
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder and redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLeases:
    """:class:`~livepilot.bus.base.Leases` on Redis (every call raises
    :class:`~livepilot.errors.BusUnavailable` when Redis does not answer)."""

    def __init__(self, link: RedisLink, keys: RedisKeys, max_age: float) -> None:
        self._link = link
        self._keys = keys
        self._max_age = max_age

    async def _script(self, source: str, keys: list[str], args: list[Any], doing: str) -> Any:
        from redis.exceptions import RedisError

        try:
            # Script runs EVALSHA and loads the script again after a Redis restart.
            script = self._link.redis.register_script(source)
            return await asyncio.wait_for(script(keys=keys, args=args), TIMEOUT)
        except (RedisError, OSError, TimeoutError) as exc:
            self._link.metrics.bus_errors.labels("lease").inc()
            raise self._link.unavailable(exc, doing) from exc

    async def claim(self, stream: str, holder: str, ttl: float) -> Claim:
        """``SET {prefix}:lease:{stream} holder NX PX ttl``, atomically with noting the
        previous taker and the log's last write (where a failover gap starts)."""
        keys = [*self._keys.lease(stream), self._keys.streams]
        args = [holder, int(ttl * 1000), int(self._max_age), stream]
        reply = await self._script(_CLAIM, keys, args, f"claiming stream {stream!r}")
        if not int(reply[0]):
            return Claim(taken=False, holder=reply[1].decode() or None)
        previous = reply[1].decode() or None
        last = reply[2].decode() if reply[2] else ""
        return Claim(
            taken=True, holder=holder, previous=previous,
            last_write=float(last) / 1000 if last else None,
        )

    async def renew(self, stream: str, holder: str, ttl: float) -> bool:
        keys = self._keys.lease(stream)
        reply = await self._script(
            _RENEW, keys, [holder, int(ttl * 1000)], f"renewing the lease on {stream!r}"
        )
        return bool(int(reply))

    async def release(self, stream: str, holder: str) -> None:
        await self._script(
            _RELEASE, self._keys.lease(stream)[:1], [holder], f"releasing {stream!r}"
        )
