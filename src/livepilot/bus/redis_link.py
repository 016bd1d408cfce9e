"""The Redis bus's connection: the client, its key names, and its outage state.

Every part of the Redis bus (outbox writer, log reader, command channel, leases, shared
views) talks to Redis through one :class:`RedisLink`. The writer and the reader report a
failure with :meth:`RedisLink.fail` and a success with :meth:`RedisLink.recovered`; the
link is "down" while any part fails, logs the first failure and the recovery once, and
keeps ``livepilot_bus_up`` in step. Redis's errors become :class:`BusUnavailable` here.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from livepilot.errors import BusUnavailable
from livepilot.metrics import Metrics

__all__ = ["BLOCK_MS", "TIMEOUT", "Backoff", "RedisKeys", "RedisLink", "check_cancelled", "why"]

log = logging.getLogger(__name__)

#: How long a blocking read waits for new entries (ms).
BLOCK_MS = 1_000
#: Longer than this without an answer counts as an outage (a stalled Redis).
TIMEOUT = 5.0


class Backoff:
    """Exponential backoff with jitter: 0.1 s doubling up to 5 s, each drawn from
    [50 %, 100 %] of the step so that many processes do not retry in lock-step."""

    def __init__(self, first: float = 0.1, cap: float = 5.0) -> None:
        self._first = first
        self._cap = cap
        self._step = first

    def next(self) -> float:
        delay = self._step * random.uniform(0.5, 1.0)
        self._step = min(self._step * 2, self._cap)
        return delay

    def reset(self) -> None:
        self._step = self._first


def check_cancelled() -> None:
    """Re-raise a cancellation that redis-py turned into a connection error (it can, when
    a blocking read is cancelled): a loop that retries on errors must still stop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def why(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class RedisKeys:
    """The key names under one prefix (see :mod:`livepilot.bus.redis` for what each holds)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.streams = f"{prefix}:streams"

    def log(self, stream: str) -> str:
        return f"{self.prefix}:log:{stream}"

    def views(self, stream: str) -> str:
        return f"{self.prefix}:views:{stream}"

    def command(self, stream: str) -> str:
        return f"{self.prefix}:cmd:{stream}"

    def lease(self, stream: str) -> list[str]:
        """The lease key and the last taker's key."""
        return [f"{self.prefix}:lease:{stream}", f"{self.prefix}:owner:{stream}"]


class RedisLink:
    """One Redis client and whether the parts using it reach Redis right now."""

    def __init__(self, url: str, metrics: Metrics) -> None:
        try:
            from redis.asyncio import Redis
        except ImportError as exc:  # pragma: no cover - redis is a core dependency
            raise BusUnavailable("the Redis bus needs the 'redis' package") from exc
        self.url = url
        self.metrics = metrics
        # redis-py's reply types are unions of every shape a reply can take; this adapter
        # knows the shapes of the few commands it sends.
        self.redis: Any = Redis.from_url(
            url, socket_timeout=TIMEOUT + BLOCK_MS / 1000, socket_connect_timeout=TIMEOUT
        )
        self.run_id: str | None = None
        self._down: dict[str, str] = {}
        self._down_since = 0.0
        #: What the outbox holds back, in words, for the DOWN and UP log lines.
        self.backlog: Callable[[bool], str] = lambda up: ""

    @property
    def up(self) -> bool:
        return not self._down

    @property
    def problem(self) -> str:
        return "; ".join(self._down.values())

    @property
    def since(self) -> float:
        return self._down_since if self._down else 0.0

    def unavailable(self, exc: BaseException, doing: str) -> BusUnavailable:
        return BusUnavailable(
            f"Redis at {self.url} {doing} failed ({why(exc)}); is redis-server running? "
            "(LIVEPILOT_REDIS_URL, or LIVEPILOT_BUS=memory for one process)"
        )

    def fail(self, part: str, op: str, exc: BaseException, doing: str) -> None:
        """``part`` (writer, reader) cannot reach Redis: count it; log the first failure."""
        self.metrics.bus_errors.labels(op).inc()
        if part in self._down:
            return
        if not self._down:
            self._down_since = time.time()
            self.metrics.bus_up.set(0)
            log.warning(
                "redis bus: DOWN, %s failed (%s); streams go on, %s", doing, why(exc),
                self.backlog(False),
            )
        self._down[part] = f"{doing} failed ({why(exc)})"

    def recovered(self, part: str) -> None:
        if self._down.pop(part, None) is None or self._down:
            return
        self.metrics.bus_up.set(1)
        log.warning(
            "redis bus: back UP after %.1f s; %s", time.time() - self._down_since,
            self.backlog(True),
        )

    async def server_run_id(self) -> str | None:
        info = await asyncio.wait_for(self.redis.info("server"), TIMEOUT)
        run_id = info.get("run_id")
        return str(run_id) if run_id is not None else None

    async def check_restart(self) -> None:
        """After a failure: say so if Redis restarted (its log may be gone with it)."""
        run_id = await self.server_run_id()
        if run_id != self.run_id and self.run_id is not None:
            log.warning(
                "redis bus: Redis restarted (run id %s → %s): log entries it had not "
                "saved are gone; consoles keep what they showed, and new entries are "
                "logged again", self.run_id[:8], (run_id or "?")[:8],
            )
            self.metrics.bus_errors.labels("restart").inc()
        self.run_id = run_id
