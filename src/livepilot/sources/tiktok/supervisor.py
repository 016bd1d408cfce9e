"""``TikTokSource``: a TikTok LIVE stream as a livepilot source that keeps listening.

TikTokLive connects once and never reconnects. The supervisor here owns the connection
loop: a fresh client per attempt, exponential backoff with jitter, a sign-server budget,
``retry_after`` on rate limits, polite polling while the creator is offline, a watchdog
for connections that go silent without closing, and the stream's
:class:`~livepilot.sources.tiktok.tracker.Tracker` (de-duplication across reconnects,
gift streaks, status and data-gap events).

Policy per failure (all errors are :mod:`livepilot.sources.tiktok.errors` types):

================================  ==================================================
user not found, age-restricted    status event, then the error is raised (a human
                                  must fix the handle or add a session)
creator offline                   ``offline`` status once, poll every
                                  ``tiktok_offline_poll_seconds`` (no sign call used)
sign-server rate limit            wait ``retry_after`` (60 s if TikTokLive lost it),
                                  never less than the backoff
device/IP blocked                 backoff, at least 60 s
network, sign errors, lost        backoff (1 s, 2 s, 4 s … up to
connection, watchdog              ``tiktok_backoff_max``, +0–20 % jitter)
live ended                        ``live_ended`` status; the source ends (or, with
                                  ``follow=True``, waits for the next LIVE)
================================  ==================================================

Before every attempt the supervisor also waits until the
:class:`~livepilot.sources.tiktok.backoff.SignBudget` allows one more sign-server call;
attempts that stop before the sign server (offline checks) spend none.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from livepilot.clock import Clock, SystemClock
from livepilot.errors import ConfigError, SourceError
from livepilot.events import LiveEvent, StreamState
from livepilot.metrics import Metrics
from livepilot.settings import Settings
from livepilot.sources.tiktok.backoff import Backoff, SignBudget
from livepilot.sources.tiktok.capture import CaptureWriter
from livepilot.sources.tiktok.client import TikTokConnection, Transports
from livepilot.sources.tiktok.errors import (
    TikTokAgeRestricted,
    TikTokBlocked,
    TikTokRateLimited,
    TikTokUserNotFound,
    TikTokUserOffline,
)
from livepilot.sources.tiktok.mapping import Mapper
from livepilot.sources.tiktok.tracker import Tracker

__all__ = ["TikTokSource", "normalize_handle", "tiktok_sources"]

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
ConnectionFactory = Callable[["_Hooks"], TikTokConnection]

#: How often the supervisor looks at the watchdog and the open streaks.
_CHECK_INTERVAL = 1.0
#: Soft limit of the hand-over buffer to the consumer; past it likes/joins/viewer
#: counts are dropped (counted), everything else is kept.
_BUFFER_SOFT_LIMIT = 50_000
_DROPPABLE = frozenset({"like", "join", "viewers"})
#: A rate limit whose ``retry_after`` TikTokLive lost (the 429-without-headers bug).
_RATE_LIMIT_DEFAULT = 60.0
_BLOCKED_MINIMUM = 60.0
_PAUSED_WATCHDOG_FACTOR = 5.0


def normalize_handle(unique_id: str) -> str:
    """``@Creator``, ``creator`` or ``https://www.tiktok.com/@creator/live`` → ``creator``."""
    handle = unique_id.strip()
    for prefix in ("https://www.tiktok.com/", "http://www.tiktok.com/", "www.tiktok.com/"):
        if handle.startswith(prefix):
            handle = handle[len(prefix) :]
    handle = handle.removesuffix("/live").removesuffix("/").lstrip("@").strip()
    if not handle or "/" in handle or " " in handle:
        raise ValueError(f"not a TikTok handle: {unique_id!r} (expected e.g. @creator)")
    return handle


class _Hooks:
    """Connection callbacks for one attempt: map, track, buffer; record traffic time."""

    def __init__(self, source: TikTokSource) -> None:
        self._source = source
        self.last_traffic = source.clock.now()
        #: Whether this attempt's WebSocket delivered its first (connect) batch.
        self.connected = False

    def on_event(self, event: Any) -> None:
        src = self._source
        now = src.clock.now()
        src._emit(src.tracker.accept(src.mapper.map(event, now), now))
        if src.tracker.state is StreamState.CONNECTED:
            self.connected = True

    def on_frame(self, data: bytes) -> None:
        src = self._source
        self.last_traffic = src.clock.now()
        if src.capture is not None:
            src.capture.frame(self.last_traffic, data)

    def on_initial(self, data: bytes, room_id: int) -> None:
        src = self._source
        self.last_traffic = src.clock.now()
        if src.capture is not None:
            src.capture.initial(self.last_traffic, data, room_id)

    def on_unknown(self, method: str) -> None:
        if self._source.metrics is not None:
            self._source.metrics.tiktok_unknown.labels(method).inc()


class TikTokSource:
    """Events of ``unique_id``'s TikTok LIVE, for as long as it runs.

    ``events()`` yields livepilot events in arrival order and ends when the LIVE ends
    (or keeps waiting for the next LIVE with ``follow=True``). Fatal errors (user not
    found, age-restricted) are raised from ``events()`` after a status event.

    Injected for tests: ``clock`` (event times, watchdog, budget), ``sleep`` (every
    wait), ``rng`` (jitter), ``transports`` (HTTP to TikTok and the sign server).
    ``capture`` writes every raw frame for :class:`~.capture.CaptureSource`. Several
    sources in one process should share one ``budget`` (the sign server counts per IP).
    """

    def __init__(
        self,
        unique_id: str,
        settings: Settings | None = None,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        *,
        stream: str | None = None,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
        transports: Transports | None = None,
        capture: CaptureWriter | None = None,
        room_id: int | None = None,
        follow: bool = False,
        budget: SignBudget | None = None,
        check_interval: float = _CHECK_INTERVAL,
    ) -> None:
        self.unique_id = normalize_handle(unique_id)
        self.stream = stream or self.unique_id
        self.settings = settings or Settings()
        if self.settings.tiktok_backoff_max < self.settings.tiktok_backoff_initial:
            raise ConfigError(
                "LIVEPILOT_TIKTOK_BACKOFF_MAX "
                f"({self.settings.tiktok_backoff_max}) must be at least "
                f"LIVEPILOT_TIKTOK_BACKOFF_INITIAL ({self.settings.tiktok_backoff_initial})"
            )
        self.clock: Clock = clock or SystemClock()
        self.metrics = metrics
        self.capture = capture
        self.follow = follow
        s = self.settings
        self._sleep: Sleep = sleep or asyncio.sleep
        self._transports = transports
        self._room_id = room_id
        self._check_interval = check_interval
        self.mapper = Mapper(self.stream)
        self.tracker = Tracker(self.stream, metrics, streak_timeout=s.tiktok_streak_timeout)
        self.backoff = Backoff(s.tiktok_backoff_initial, s.tiktok_backoff_max, rng=rng)
        # The sign server limits per IP: sources of one process should share one budget.
        self.budget = budget or SignBudget(s.tiktok_connects_per_minute, s.tiktok_connects_per_hour)
        self._buffer: deque[LiveEvent] = deque()
        self._wakeup = asyncio.Event()
        #: The latest waits between attempts, for logs and tests: (cause, seconds).
        self.history: deque[tuple[str, float]] = deque(maxlen=100)
        self._started = False

    # -- the Source seam ------------------------------------------------------------------

    async def events(self) -> AsyncIterator[LiveEvent]:
        if self._started:
            raise RuntimeError(f"TikTokSource({self.stream!r}).events() can run only once")
        self._started = True
        supervisor = asyncio.create_task(self._supervise(), name=f"tiktok:{self.stream}")
        try:
            while True:
                while self._buffer:
                    yield self._buffer.popleft()
                if supervisor.done():
                    break
                self._wakeup.clear()
                waiter = asyncio.ensure_future(self._wakeup.wait())
                try:
                    await asyncio.wait({waiter, supervisor}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
            while self._buffer:
                yield self._buffer.popleft()
            supervisor.result()  # re-raise a fatal error
        finally:
            if not supervisor.done():
                supervisor.cancel()
                await asyncio.wait({supervisor})
            if self.capture is not None:
                self.capture.close()

    # -- plumbing ---------------------------------------------------------------------------

    def _emit(self, events: list[LiveEvent]) -> None:
        for event in events:
            if len(self._buffer) >= _BUFFER_SOFT_LIMIT and event.type in _DROPPABLE:
                if self.metrics is not None:
                    self.metrics.tiktok_dropped.labels(self.stream, event.type).inc()
                continue
            self._buffer.append(event)
        if events:
            self._wakeup.set()

    def _connection(self, hooks: _Hooks) -> TikTokConnection:
        s = self.settings
        return TikTokConnection(
            self.unique_id,
            hooks,
            sign_api_key=s.tiktok_sign_api_key.get_secret_value()
            if s.tiktok_sign_api_key
            else None,
            session_id=s.tiktok_session_id.get_secret_value() if s.tiktok_session_id else None,
            target_idc=s.tiktok_target_idc,
            transports=self._transports,
            room_id=self._room_id,
        )

    async def _wait(self, seconds: float, why: str) -> None:
        self.history.append((why, seconds))
        if seconds > 0:
            log.info("stream %s: %s; next attempt in %.1f s", self.stream, why, seconds)
            await self._sleep(seconds)

    def _retry(self, cause: str) -> None:
        if self.metrics is not None:
            self.metrics.tiktok_reconnects.labels(self.stream, cause).inc()

    # -- the loop ---------------------------------------------------------------------------

    async def _supervise(self) -> None:
        while True:
            budget_wait = self.budget.wait(self.clock.now())
            if budget_wait > 0:
                await self._wait(budget_wait, "sign-server budget")
            hooks = _Hooks(self)
            connection = self._connection(hooks)
            try:
                delay, cause = await self._attempt(connection, hooks)
            finally:
                await connection.close()
            if cause == "live_ended" and not self.follow:
                self._emit(self.tracker.stopped(self.clock.now(), "the LIVE ended"))
                return
            if cause not in ("offline", "live_ended"):
                self._retry(cause)
            await self._wait(delay, cause)

    async def _attempt(self, connection: TikTokConnection, hooks: _Hooks) -> tuple[float, str]:
        """One connection from start to end: (delay before the next attempt, cause)."""
        now = self.clock.now()
        self.tracker.live_ended = False  # a new attempt: a LIVE ended before is history
        try:
            await connection.start()
        except TikTokUserOffline as exc:
            # Raised before the sign server is called: polling costs no budget.
            self._emit(self.tracker.offline(now, str(exc)))
            return self.settings.tiktok_offline_poll_seconds, "offline"
        except (TikTokUserNotFound, TikTokAgeRestricted) as exc:
            self._emit(self.tracker.stopped(now, str(exc)))
            raise
        except TikTokRateLimited as exc:
            self.budget.spend(now)
            retry = exc.retry_after if exc.retry_after is not None else _RATE_LIMIT_DEFAULT
            self._emit(self.tracker.lost(now, "rate_limited", str(exc)))
            log.warning("stream %s: %s", self.stream, exc)
            return max(retry, self.backoff.next()), "rate_limited"
        except TikTokBlocked as exc:
            self.budget.spend(now)
            self._emit(self.tracker.lost(now, "blocked", str(exc)))
            log.warning("stream %s: %s", self.stream, exc)
            return max(_BLOCKED_MINIMUM, self.backoff.next()), "blocked"
        except SourceError as exc:
            self.budget.spend(now)
            self._emit(self.tracker.lost(now, "connect_failed", str(exc)))
            log.warning("stream %s: connecting failed: %s", self.stream, exc)
            return self.backoff.next(), "connect_failed"
        self.budget.spend(now)
        cause, since = await self._watch(connection, hooks)
        if hooks.connected:
            # The WebSocket worked: the next failure starts the backoff small again.
            self.backoff.reset()
        now = self.clock.now()
        if cause == "live_ended":
            delay = self.settings.tiktok_offline_poll_seconds if self.follow else 0.0
            return delay, cause
        failure = connection.failure() if connection.task.done() else None
        detail = str(failure) if failure is not None else cause.replace("_", " ")
        if isinstance(failure, TikTokBlocked):
            cause = "blocked"
        self._emit(self.tracker.lost(now, cause, detail, since=since))
        if self.capture is not None:
            self.capture.lost(now, cause, since)
        log.warning("stream %s: disconnected (%s)", self.stream, detail)
        delay = self.backoff.next()
        return (max(_BLOCKED_MINIMUM, delay) if cause == "blocked" else delay), cause

    async def _watch(self, connection: TikTokConnection, hooks: _Hooks) -> tuple[str, float | None]:
        """Wait for the connection to end; the cause and (watchdog) when traffic stopped."""
        task = connection.task
        watchdog = self.settings.tiktok_watchdog_seconds
        while not task.done():
            ticker = asyncio.ensure_future(self._sleep(self._check_interval))
            try:
                await asyncio.wait({task, ticker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                ticker.cancel()
            now = self.clock.now()
            self._emit(self.tracker.tick(now))
            if self.tracker.live_ended:
                return "live_ended", None
            silent = now - hooks.last_traffic
            # A paused LIVE may go quiet; reconnecting every minute would burn the budget.
            limit = (
                watchdog * _PAUSED_WATCHDOG_FACTOR
                if self.tracker.state is StreamState.PAUSED
                else watchdog
            )
            if not task.done() and silent > limit:
                log.warning(
                    "stream %s: nothing received for %.0f s; reconnecting", self.stream, silent
                )
                return "watchdog", hooks.last_traffic
        if self.tracker.live_ended:
            return "live_ended", None
        return ("connection_lost" if connection.failure() is not None else "closed"), None


def tiktok_sources(
    handles: list[str],
    settings: Settings | None = None,
    clock: Clock | None = None,
    metrics: Metrics | None = None,
    *,
    follow: bool = False,
) -> list[TikTokSource]:
    """One source per creator (``livepilot run @a @b``), all sharing one sign budget.

    The sign server counts connects per IP, so several creators must not each assume
    the whole budget. Duplicate handles are rejected (one stream id per creator).
    """
    settings = settings or Settings()
    budget = SignBudget(settings.tiktok_connects_per_minute, settings.tiktok_connects_per_hour)
    normalized = [normalize_handle(h) for h in handles]
    duplicates = sorted({h for h in normalized if normalized.count(h) > 1})
    if duplicates:
        raise ValueError(f"creator given twice: {', '.join('@' + h for h in duplicates)}")
    return [
        TikTokSource(h, settings, clock, metrics, follow=follow, budget=budget) for h in normalized
    ]
