"""A per-address limit on failed credentials: guessing a token is slow, signing in is not.

Each client address has a token bucket of ``per_minute`` failures that refills at
``per_minute`` a minute. A failed credential takes one; a request that succeeds takes
none. While an address's bucket is empty its requests are refused *without checking*
their credential — checking would tell a guesser which guess was right, and the limit
would limit nothing.

Memory is bounded: at most ``max_clients`` addresses are remembered, the one that failed
least recently is forgotten first, and a bucket that has refilled is dropped when seen.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["FailureThrottle"]

#: Refills are sums of small floats: a bucket this close to a whole token has it.
_EPSILON = 1e-9


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class FailureThrottle:
    """Counts failed credentials per client address; see the module docstring."""

    def __init__(
        self,
        per_minute: int,
        *,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self._capacity > 0

    @property
    def tracked(self) -> int:
        """How many addresses are remembered right now."""
        return len(self._buckets)

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try again; 0 if it may now."""
        bucket = self._refilled(client)
        if bucket is None or bucket.tokens >= 1.0 - _EPSILON:
            return 0.0
        return (1.0 - bucket.tokens) / self._rate

    def failed(self, client: str) -> None:
        """Take one failure from ``client``'s bucket."""
        if not self.enabled:
            return
        bucket = self._refilled(client)
        if bucket is None:
            bucket = self._buckets[client] = _Bucket(self._capacity, self._clock())
        bucket.tokens = max(0.0, bucket.tokens - 1.0)
        self._buckets.move_to_end(client)
        while len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)

    def _refilled(self, client: str) -> _Bucket | None:
        bucket = self._buckets.get(client)
        if bucket is None:
            return None
        now = self._clock()
        bucket.tokens = min(self._capacity, bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        if bucket.tokens >= self._capacity - _EPSILON:
            del self._buckets[client]  # as good as new: nothing left to remember
            return None
        return bucket
