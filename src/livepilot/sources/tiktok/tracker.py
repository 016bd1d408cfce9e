"""One TikTok stream as livepilot sees it: de-duplication, streaks, status, data gaps.

Shared by the live source and the capture replay, so a capture replays into exactly the
events the live run produced. Plain synchronous code, no I/O; every method takes ``now``.

* **De-duplication.** TikTok re-sends recent history on every (re)connect; events whose
  id (``tt-<msg_id>``) was already seen are dropped and counted. The memory is a bounded
  LRU (``capacity`` ids).
* **Streaks** go through :class:`~livepilot.sources.tiktok.streaks.StreakBook`.
* **Status.** ``connected``/``lost``/``offline`` become :class:`StatusEvent`\\ s, once per
  change, so console and metrics always know whether the stream is heard.
* **Data gaps.** From the moment the stream was lost (or, for the watchdog, from the
  last frame heard) until it is heard again, livepilot may have missed events. On
  reconnect a :class:`GapEvent` (start, end, cause) is emitted and counted in metrics.
  A planned stop (live end, source closed) is not a gap.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, deque

from livepilot.events import GapEvent, GiftEvent, LiveEvent, StatusEvent, StreamState
from livepilot.metrics import Metrics
from livepilot.sources.tiktok.mapping import Connected, Mapped
from livepilot.sources.tiktok.streaks import StreakBook

__all__ = ["Tracker"]


class Tracker:
    def __init__(
        self,
        stream: str,
        metrics: Metrics | None = None,
        *,
        streak_timeout: float = 20.0,
        capacity: int = 100_000,
    ) -> None:
        self.stream = stream
        self.streaks = StreakBook(streak_timeout)
        self._metrics = metrics
        self._capacity = capacity
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._ids = itertools.count(1)
        self.state: StreamState | None = None
        self.live_ended = False
        self._gap: tuple[float, str] | None = None
        self.duplicates = 0
        #: The latest data gaps (bounded), for reports and tests.
        self.gaps: deque[GapEvent] = deque(maxlen=1000)

    # -- connection state ---------------------------------------------------------------

    def connected(self, now: float, detail: str = "") -> list[LiveEvent]:
        """The stream is heard (again); closes an open data gap."""
        out: list[LiveEvent] = []
        self.live_ended = False
        if self.state is not StreamState.CONNECTED:
            out.append(self._status(now, StreamState.CONNECTED, detail))
        out.extend(self._close_gap(now))
        if self._metrics is not None:
            self._metrics.stream_up.labels(self.stream).set(1)
        return out

    def lost(
        self, now: float, cause: str, detail: str = "", since: float | None = None
    ) -> list[LiveEvent]:
        """The connection ended unplanned; a gap opens at ``since`` (default ``now``)."""
        if self._metrics is not None:
            self._metrics.stream_up.labels(self.stream).set(0)
        if self._gap is None and self.state in (StreamState.CONNECTED, StreamState.PAUSED):
            self._gap = (min(since, now) if since is not None else now, cause)
        if self.state is StreamState.DISCONNECTED:
            return []
        return [self._status(now, StreamState.DISCONNECTED, detail or cause)]

    def offline(self, now: float, detail: str = "") -> list[LiveEvent]:
        """The creator is not live (polling until they are).

        An open gap ends here: the LIVE ended while we were disconnected, and nothing
        is missed while there is no LIVE.
        """
        if self._metrics is not None:
            self._metrics.stream_up.labels(self.stream).set(0)
        out: list[LiveEvent] = list(self._flush(now)) if self._gap is not None else []
        out.extend(self._close_gap(now))
        if self.state is not StreamState.OFFLINE:
            out.append(self._status(now, StreamState.OFFLINE, detail))
        return out

    def stopped(self, now: float, detail: str = "") -> list[LiveEvent]:
        """The source stops for good: flush open streaks, report disconnected."""
        out: list[LiveEvent] = list(self._flush(now))
        if self._metrics is not None:
            self._metrics.stream_up.labels(self.stream).set(0)
        if self.state not in (StreamState.DISCONNECTED, StreamState.LIVE_ENDED):
            out.append(self._status(now, StreamState.DISCONNECTED, detail or "source stopped"))
        return out

    # -- events ---------------------------------------------------------------------------

    def accept(self, items: list[Mapped], now: float) -> list[LiveEvent]:
        """Mapped events in, events to publish out (deduplicated, streaks applied)."""
        out: list[LiveEvent] = []
        for item in items:
            if isinstance(item, Connected):
                out.extend(self.connected(now, f"room {item.room_id}"))
                continue
            if self._duplicate(item.id):
                continue
            if isinstance(item, GiftEvent):
                out.extend(self.streaks.feed(item, now))
                self._count_unended()
            elif isinstance(item, StatusEvent):
                if item.state is StreamState.LIVE_ENDED:
                    out.extend(self._flush(now))
                    self.live_ended = True
                    if self._metrics is not None:
                        self._metrics.stream_up.labels(self.stream).set(0)
                if item.state is not self.state:
                    self.state = item.state
                    out.append(item)
            else:
                out.append(item)
        return out

    def tick(self, now: float) -> list[LiveEvent]:
        """Close streaks whose end never came."""
        out: list[LiveEvent] = list(self.streaks.expire(now))
        self._count_unended()
        return out

    # -- internals ------------------------------------------------------------------------

    def _close_gap(self, now: float) -> list[GapEvent]:
        if self._gap is None:
            return []
        start, cause = self._gap
        self._gap = None
        gap = GapEvent(
            id=self._next_id("gap", now),
            stream=self.stream,
            at=now,
            received=now,
            start=start,
            end=max(now, start),
            cause=cause,
        )
        self.gaps.append(gap)
        # Counted once, by the runner, as livepilot_data_gaps (every source's gaps).
        return [gap]

    def _flush(self, now: float) -> list[GiftEvent]:
        out = self.streaks.flush(now)
        self._count_unended()
        return out

    def _count_unended(self) -> None:
        if self.streaks.unended and self._metrics is not None:
            self._metrics.tiktok_unended_streaks.labels(self.stream).inc(self.streaks.unended)
        self.streaks.unended = 0

    def _duplicate(self, ident: str) -> bool:
        if ident.startswith("tt-x"):
            return False  # no TikTok message id: cannot be recognised, never dropped
        if ident in self._seen:
            self._seen.move_to_end(ident)
            self.duplicates += 1
            if self._metrics is not None:
                self._metrics.tiktok_dedup.labels(self.stream).inc()
            return True
        self._seen[ident] = None
        if len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return False

    def _next_id(self, kind: str, now: float) -> str:
        return f"{self.stream}-{kind}-{int(now * 1000)}-{next(self._ids)}"

    def _status(self, now: float, state: StreamState, detail: str) -> StatusEvent:
        self.state = state
        return StatusEvent(
            id=self._next_id("status", now),
            stream=self.stream,
            at=now,
            received=now,
            state=state,
            detail=detail,
        )
