"""Gift streaks, counted exactly once.

TikTok sends a streakable gift (a Rose tapped 30 times) as a run of messages whose
``repeat_count`` grows (1, 2, 3 …) and, normally, one last message with ``repeat_end``
and the full count. Sometimes the end never comes (a dropped connection, a TikTok
hiccup), sometimes a message is sent twice, sometimes they arrive out of order.

:class:`StreakBook` turns that into: progress events (``final=False``, only when the
count grew) for live displays, and exactly one ``final=True`` event per streak, carrying
the highest count seen. A streak with no end is closed ``timeout`` seconds after its last
update (or when the stream ends) by a synthetic final event with id ``<last id>-end``.
Messages for a streak that is already closed are ignored for ``timeout`` seconds, so a
late end after a timeout does not count the streak twice.

Plain synchronous code, no I/O; time is passed in.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from livepilot.events import GiftEvent

__all__ = ["StreakBook"]


@dataclass(slots=True)
class _Open:
    latest: GiftEvent
    count: int
    last: float


class StreakBook:
    """Open streaks by ``streak_id``; bounded by ``capacity`` open and closed entries."""

    def __init__(self, timeout: float = 20.0, capacity: int = 10_000) -> None:
        if timeout <= 0:
            raise ValueError(f"streak timeout must be positive, got {timeout}")
        self.timeout = timeout
        self._capacity = capacity
        self._open: OrderedDict[str, _Open] = OrderedDict()
        self._closed: OrderedDict[str, float] = OrderedDict()
        #: Streaks closed without an end message (timeouts and flushes), for metrics.
        self.unended = 0

    @property
    def open_count(self) -> int:
        return len(self._open)

    def feed(self, gift: GiftEvent, now: float) -> list[GiftEvent]:
        """What to publish for one incoming gift message (zero or one event)."""
        key = gift.streak_id
        if key is None:
            return [gift]
        closed_at = self._closed.get(key)
        if closed_at is not None:
            if now - closed_at < self.timeout:
                return []
            del self._closed[key]  # same user, gift and group long after: a new streak
        entry = self._open.get(key)
        if gift.final:
            count = max(gift.count, entry.count if entry is not None else 0)
            self._open.pop(key, None)
            self._close(key, now)
            if count != gift.count:
                gift = gift.model_copy(update={"count": count})
            return [gift]
        if entry is None:
            self._open[key] = _Open(latest=gift, count=gift.count, last=now)
            return [gift, *self._trim(now)]
        entry.last = now
        self._open.move_to_end(key)
        if gift.count <= entry.count:
            return []  # a repeat or a late, smaller update: nothing new to show
        entry.count = gift.count
        entry.latest = gift
        return [gift]

    def expire(self, now: float) -> list[GiftEvent]:
        """Close every streak whose last update is ``timeout`` old; their final events."""
        due = [key for key, entry in self._open.items() if now - entry.last >= self.timeout]
        return [self._flush(key, now) for key in due]

    def flush(self, now: float) -> list[GiftEvent]:
        """Close every open streak (stream ended, source stopped)."""
        return [self._flush(key, now) for key in list(self._open)]

    def _flush(self, key: str, now: float) -> GiftEvent:
        entry = self._open.pop(key)
        self._close(key, now)
        self.unended += 1
        return entry.latest.model_copy(
            update={
                "id": f"{entry.latest.id}-end",
                "count": entry.count,
                "final": True,
                "received": now,
            }
        )

    def _close(self, key: str, now: float) -> None:
        self._closed[key] = now
        self._closed.move_to_end(key)
        while len(self._closed) > self._capacity:
            self._closed.popitem(last=False)

    def _trim(self, now: float) -> list[GiftEvent]:
        # Bounded memory: past ``capacity`` open streaks the oldest is closed early.
        flushed: list[GiftEvent] = []
        while len(self._open) > self._capacity:
            flushed.append(self._flush(next(iter(self._open)), now))
        return flushed
