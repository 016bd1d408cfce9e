"""The stream summary, kept up to date as events arrive.

What a live manager reports after a stream: peak viewers and when, average viewers,
engagement rate, gifts, top gifters and chatters, the biggest viewer drop and when.
:class:`SummaryTracker` is fed by the engagement stage; :meth:`SummaryTracker.summary`
returns a frozen :class:`StreamSummary` any time (the server can serve it as JSON).

Memory is flat: each per-user tally is a :class:`~livepilot.stages.sketches.TopCounter` of
at most ``user_cap`` users (exact up to that many; past it, the top users stay and their
counts carry a known error, see :attr:`Ranked.value`), unique chatters are counted from the
engagement stage's first-message filter, and the per-minute viewer curve keeps at most a
day.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

from pydantic import BaseModel, ConfigDict

from livepilot.stages.sketches import TopCounter

__all__ = ["Drop", "Ranked", "StreamSummary", "SummaryTracker"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Ranked(_Frozen):
    user: str
    #: The user's count as far as it is known for sure (exact unless the stream had more
    #: users than the tally holds and this one entered late: then a lower bound).
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


class SummaryTracker:
    """Accumulates one stream's summary; every ``on_*`` call is O(1)."""

    def __init__(self, stream: str, *, top: int = 5, user_cap: int = 10_000) -> None:
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
        #: Messages and diamonds per user: at most ``user_cap`` users each.
        self.chatters = TopCounter(user_cap)
        self.gifters = TopCounter(user_cap, leader=True)  # "new top gifter" moments
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

    def on_chat(
        self, t: float, user_id: str, handle: str, *, flagged: bool, first: bool
    ) -> None:
        """A chat message; ``first``: the user's first in this stream (the engagement
        stage's :class:`~livepilot.stages.show.signals.Signals` knows)."""
        self._seen(t)
        self.chat += 1
        if flagged:
            self.flagged += 1
        if first:
            self.unique_chatters += 1
        # A first message never pushes a counted chatter out of a full tally.
        self.chatters.add(user_id, handle, evict=not first)

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
            top_gifters=_ranked(self.gifters, self._top),
            top_chatters=_ranked(self.chatters, self._top),
            biggest_drop=self.biggest_drop,
            viewers_per_minute=tuple(round(total / n, 1) for _, total, n in self._minutes),
        )


def _ranked(tally: TopCounter, n: int) -> tuple[Ranked, ...]:
    # Highest sure count first; ties in the order of the user id (reproducible).
    return tuple(Ranked(user=c.label, value=c.guaranteed) for c in tally.top(n))
