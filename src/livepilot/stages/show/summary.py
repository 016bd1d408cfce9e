"""The stream summary, kept up to date as events arrive.

What a live manager reports after a stream: peak viewers and when, average viewers,
engagement rate, gifts, top gifters and chatters, the biggest viewer drop and when.
:class:`SummaryTracker` is fed by the engagement stage; :meth:`SummaryTracker.summary`
returns a frozen :class:`StreamSummary` any time (the server can serve it as JSON).

Memory is bounded: per-user tallies stop admitting new users past a cap (the counts of
those already in stay exact), and the per-minute viewer curve keeps at most a day.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["Drop", "Ranked", "StreamSummary", "SummaryTracker"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Ranked(_Frozen):
    user: str
    value: int


class Drop(_Frozen):
    """A fall of the viewer count from ``before`` (at ``since``) to ``after`` (at ``at``)."""

    before: int
    after: int
    share: float
    since: float
    at: float


class StreamSummary(_Frozen):
    """Ready to be a wire message (``type`` ``summary``) once the wire format has one."""

    type: Literal["summary"] = "summary"
    stream: str
    started_at: float | None
    updated_at: float | None
    duration_s: float
    viewers_now: int
    peak_viewers: int
    peak_at: float | None
    average_viewers: float
    chat_messages: int
    unique_chatters: int
    new_chatters_per_minute: float
    returning_chatters_per_minute: float
    #: Unique chatters per average viewer (0 when nobody watched).
    engagement_rate: float
    messages_per_viewer: float
    likes: int
    joins: int
    follows: int
    shares: int
    subscribes: int
    gifts: int
    diamonds: int
    diamonds_per_minute: float
    flagged_messages: int
    flagged_share: float
    top_gifters: tuple[Ranked, ...]
    top_chatters: tuple[Ranked, ...]
    biggest_drop: Drop | None
    #: Mean viewer count per minute since the start (at most the last 24 h).
    viewers_per_minute: tuple[float, ...]


class _Tally:
    """Per-user counts with a cap on how many users are tracked."""

    __slots__ = ("_cap", "_leader", "counts", "handles")

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self.counts: dict[str, int] = {}
        self.handles: dict[str, str] = {}
        # Counts only grow, so the leader can be kept up to date on every add.
        self._leader: tuple[str, int] | None = None

    def add(self, user_id: str, handle: str, amount: int) -> bool:
        """Add to a user's count; return True if the user is new to the tally."""
        counts = self.counts
        new = user_id not in counts
        if new:
            if len(counts) >= self._cap:
                return True
            counts[user_id] = amount
            self.handles[user_id] = handle
        else:
            counts[user_id] += amount
        total = counts[user_id]
        leader = self._leader
        if leader is None or leader[0] == user_id or total > leader[1]:
            self._leader = (user_id, total)
        return new

    def top(self, n: int) -> tuple[Ranked, ...]:
        # Highest first; ties in the order of the user id, so the ranking is reproducible.
        best = heapq.nsmallest(n, self.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return tuple(Ranked(user=self.handles[uid], value=value) for uid, value in best)

    def leader(self) -> tuple[str, int] | None:
        """``(user id, count)`` of the highest count (the first to reach it on ties)."""
        return self._leader


class SummaryTracker:
    """Accumulates one stream's summary; every ``on_*`` call is O(1)."""

    def __init__(self, stream: str, *, top: int = 5, user_cap: int = 100_000) -> None:
        self._stream = stream
        self._top = top
        self.started_at: float | None = None
        self.updated_at: float | None = None
        self.viewers = 0
        self.peak = 0
        self.peak_at: float | None = None
        self._area = 0.0
        self._first_sample: float | None = None
        self._last_sample: float | None = None
        self.chat = 0
        self.unique_chatters = 0
        self.likes = 0
        self.joins = 0
        self.follows = 0
        self.shares = 0
        self.subscribes = 0
        self.gifts = 0
        self.diamonds = 0
        self.flagged = 0
        self.chatters = _Tally(user_cap)
        self.gifters = _Tally(user_cap)
        self.biggest_drop: Drop | None = None
        self._minutes: deque[tuple[int, float, int]] = deque(maxlen=24 * 60)
        self._new_per_minute = 0.0
        self._returning_per_minute = 0.0

    def _seen(self, t: float) -> None:
        if self.started_at is None:
            self.started_at = t
        if self.updated_at is None or t > self.updated_at:
            self.updated_at = t

    def on_viewers(self, t: float, count: int) -> None:
        self._seen(t)
        if self._last_sample is not None and t > self._last_sample:
            self._area += self.viewers * (t - self._last_sample)
        if self._first_sample is None:
            self._first_sample = t
        if self._last_sample is None or t >= self._last_sample:
            self._last_sample = t
        self.viewers = count
        if count > self.peak:
            self.peak = count
            self.peak_at = t
        minute = int(t // 60)
        minutes = self._minutes
        if minutes and minutes[-1][0] == minute:
            _, total, n = minutes[-1]
            minutes[-1] = (minute, total + count, n + 1)
        else:
            minutes.append((minute, float(count), 1))

    def on_drop(self, before: int, after: int, since: float, at: float) -> None:
        """A measured fall of the viewer count; the largest share is kept."""
        if before <= 0 or after >= before:
            return
        share = (before - after) / before
        best = self.biggest_drop
        if best is None or share > best.share:
            self.biggest_drop = Drop(before=before, after=after, share=share, since=since, at=at)

    def on_chat(self, t: float, user_id: str, handle: str, *, flagged: bool) -> None:
        self._seen(t)
        self.chat += 1
        if flagged:
            self.flagged += 1
        if self.chatters.add(user_id, handle, 1):
            self.unique_chatters += 1

    def on_chatter_rates(self, new_per_minute: float, returning_per_minute: float) -> None:
        self._new_per_minute = new_per_minute
        self._returning_per_minute = returning_per_minute

    def on_gift(self, t: float, user_id: str, handle: str, diamonds: int) -> None:
        self._seen(t)
        self.gifts += 1
        self.diamonds += diamonds
        self.gifters.add(user_id, handle, diamonds)

    def on_like(self, t: float, count: int) -> None:
        self._seen(t)
        self.likes += count

    def on_join(self, t: float, count: int) -> None:
        self._seen(t)
        self.joins += count

    def on_follow(self, t: float) -> None:
        self._seen(t)
        self.follows += 1

    def on_share(self, t: float) -> None:
        self._seen(t)
        self.shares += 1

    def on_subscribe(self, t: float) -> None:
        self._seen(t)
        self.subscribes += 1

    def average_viewers(self) -> float:
        first, last = self._first_sample, self._last_sample
        if first is None or last is None:
            return 0.0
        if last <= first:
            return float(self.viewers)
        return self._area / (last - first)

    def summary(self) -> StreamSummary:
        duration = (
            (self.updated_at - self.started_at)
            if self.started_at is not None and self.updated_at is not None
            else 0.0
        )
        average = self.average_viewers()
        minutes = max(duration / 60.0, 1 / 60)
        return StreamSummary(
            stream=self._stream,
            started_at=self.started_at,
            updated_at=self.updated_at,
            duration_s=duration,
            viewers_now=self.viewers,
            peak_viewers=self.peak,
            peak_at=self.peak_at,
            average_viewers=round(average, 2),
            chat_messages=self.chat,
            unique_chatters=self.unique_chatters,
            new_chatters_per_minute=self._new_per_minute,
            returning_chatters_per_minute=self._returning_per_minute,
            engagement_rate=round(self.unique_chatters / average, 4) if average > 0 else 0.0,
            messages_per_viewer=round(self.chat / average, 4) if average > 0 else 0.0,
            likes=self.likes,
            joins=self.joins,
            follows=self.follows,
            shares=self.shares,
            subscribes=self.subscribes,
            gifts=self.gifts,
            diamonds=self.diamonds,
            diamonds_per_minute=round(self.diamonds / minutes, 2) if duration > 0 else 0.0,
            flagged_messages=self.flagged,
            flagged_share=round(self.flagged / self.chat, 4) if self.chat else 0.0,
            top_gifters=self.gifters.top(self._top),
            top_chatters=self.chatters.top(self._top),
            biggest_drop=self.biggest_drop,
            viewers_per_minute=tuple(round(total / n, 1) for _, total, n in self._minutes),
        )
