"""The per-minute series of one stream: counts, distinct users and the viewer curve.

Minute ``n`` covers ``[start + 60 n, start + 60 (n + 1))`` of stream time. Viewers are a
step function between the platform's samples: each sample holds until the next one (at
most ``HOLD_S``, so a long silence is not filled with a guess), and its area is split
across the minutes it spans. ``viewer_seconds / covered_s`` is then a minute's average
concurrent audience, and the sum of ``viewer_seconds`` the stream's viewer-seconds.

Distinct users per minute are counted with a set while the minute is open; a minute is
sealed (its sets dropped) once stream time is a minute past its end, so memory stays at
a couple of minutes' worth of users.
"""

from __future__ import annotations

from typing import Any

__all__ = ["COUNTS", "HOLD_S", "Minute", "MinuteBook"]

#: A viewer sample holds at most this long (seconds) without a newer one.
HOLD_S = 120.0
_SEAL_AFTER_S = 60.0

#: The counting columns of a minute (``livepilot.store.schema.minutes``).
COUNTS = (
    "chat", "chatters", "new_chatters", "interactors", "new_interactors", "new_users",
    "questions", "likes", "shares", "follows", "joins", "gifts", "diamonds", "subscribes",
    "flagged", "toxic", "spam", "hidden", "positive", "negative", "tech_reports", "leads",
)

_SEEN, _CHATTED, _INTERACTED = 1, 2, 4


class Minute:
    """One minute's numbers while it is being counted."""

    __slots__ = ("_dirty", "chatters", "counts", "covered", "index", "interactors", "segment",
                 "viewer_seconds", "vlast", "vmax", "vmin", "vtotal")

    def __init__(self, index: int, dirty: set[int]) -> None:
        self.index = index
        self.counts = dict.fromkeys(COUNTS, 0)
        self.chatters: set[str] | None = set()
        self.interactors: set[str] | None = set()
        self.viewer_seconds = 0.0
        self.covered = 0.0
        self.vmax: int | None = None
        self.vmin: int | None = None
        self.vlast: int | None = None
        self.vtotal: int | None = None
        self.segment: str | None = None
        self._dirty = dirty
        dirty.add(index)

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] += n
        self._dirty.add(self.index)

    def touch(self, user_id: str, flags: int, new: int) -> None:
        """A user did something this minute: ``flags`` what, ``new`` what for the first
        time in the stream (bits: seen 1, chatted 2, interacted 4)."""
        counts = self.counts
        if flags & _CHATTED and self.chatters is not None and user_id not in self.chatters:
            self.chatters.add(user_id)
            counts["chatters"] += 1
        if flags & _INTERACTED and self.interactors is not None and (
            user_id not in self.interactors
        ):
            self.interactors.add(user_id)
            counts["interactors"] += 1
        if new & _CHATTED:
            counts["new_chatters"] += 1
        if new & _INTERACTED:
            counts["new_interactors"] += 1
        if new & _SEEN:
            counts["new_users"] += 1
        self._dirty.add(self.index)

    def row(self, stream: str) -> dict[str, Any]:
        return {
            "stream": stream, "minute": self.index,
            "viewer_seconds": round(self.viewer_seconds, 6), "covered_s": round(self.covered, 6),
            "viewers_max": self.vmax, "viewers_min": self.vmin, "viewers_last": self.vlast,
            "viewers_total": self.vtotal, **self.counts, "segment": self.segment,
        }


class MinuteBook:
    """All minutes of one stream (about 1 KB each; a ten-hour stream keeps 600)."""

    def __init__(self, stream: str, start: float) -> None:
        self._stream = stream
        self._start = start
        self._minutes: dict[int, Minute] = {}
        self._dirty: set[int] = set()
        self._open: set[int] = set()
        self._sample: tuple[float, int] | None = None

    def index(self, at: float) -> int:
        return max(0, int((at - self._start) // 60))

    def at(self, at: float) -> Minute:
        return self._minute(self.index(at))

    def _minute(self, index: int) -> Minute:
        minute = self._minutes.get(index)
        if minute is None:
            minute = self._minutes[index] = Minute(index, self._dirty)
            self._open.add(index)
        return minute

    def viewers(self, at: float, count: int, total: int | None) -> None:
        """A viewer sample: the previous one's area up to now, then this one's values."""
        if self._sample is not None:
            self._integrate(self._sample, at)
        if self._sample is None or at >= self._sample[0]:
            self._sample = (at, count)
        minute = self.at(at)
        minute.vmax = count if minute.vmax is None else max(minute.vmax, count)
        minute.vmin = count if minute.vmin is None else min(minute.vmin, count)
        minute.vlast = count
        if total is not None:
            minute.vtotal = total if minute.vtotal is None else max(minute.vtotal, total)
        self._dirty.add(minute.index)

    def close(self, end: float) -> None:
        """The stream ended at ``end``: the last sample holds until then (or ``HOLD_S``)."""
        if self._sample is not None:
            self._integrate(self._sample, end)
            self._sample = (max(end, self._sample[0]), self._sample[1])

    def _integrate(self, sample: tuple[float, int], until: float) -> None:
        t, value = sample
        end = min(until, t + HOLD_S)
        index = self.index(t)
        while t < end:
            step_end = min(end, self._start + 60.0 * (index + 1))
            if step_end > t:
                minute = self._minute(index)
                minute.viewer_seconds += value * (step_end - t)
                minute.covered += step_end - t
                self._dirty.add(index)
                t = step_end
            index += 1

    def changed(self, now: float) -> list[dict[str, Any]]:
        """Rows of the minutes changed since the last call; seal minutes long past."""
        for index in [i for i in self._open if self._start + 60.0 * (i + 1) + _SEAL_AFTER_S < now]:
            minute = self._minutes[index]
            minute.chatters = minute.interactors = None
            self._open.discard(index)
        rows = [self._minutes[i].row(self._stream) for i in sorted(self._dirty)]
        self._dirty.clear()
        return rows

    def seed(self, rows: list[dict[str, Any]]) -> None:
        """Carry on from stored minutes (a stream resumed after a restart): their counts
        are the base the new ones add to. Who chatted in them is not stored, so a user
        seen before the restart may count once more in the minute it happened."""
        for row in rows:
            minute = self._minutes[row["minute"]] = Minute(row["minute"], self._dirty)
            minute.counts.update({name: int(row.get(name) or 0) for name in COUNTS})
            minute.viewer_seconds = float(row.get("viewer_seconds") or 0.0)
            minute.covered = float(row.get("covered_s") or 0.0)
            minute.vmax, minute.vmin = row.get("viewers_max"), row.get("viewers_min")
            minute.vlast, minute.vtotal = row.get("viewers_last"), row.get("viewers_total")
            minute.segment = row.get("segment")
            self._open.add(minute.index)
        self._dirty.clear()

    def __len__(self) -> int:
        return len(self._minutes)
