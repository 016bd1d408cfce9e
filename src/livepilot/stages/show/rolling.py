"""Rolling windows and baselines with bounded memory, on stream time.

Everything here is fed explicit times (``draft.now`` or a tick's ``now``), never the
wall clock, so a replay computes exactly what the live stream would have.

- :class:`SecondRing` counts per second in a fixed ring: ``add`` is O(1), ``total`` is
  O(window); memory is one slot per second of the longest window, whatever the rate.
- :class:`Ewma` is an exponentially weighted mean for irregular samples (time-based decay,
  so a missed tick does not change the result's meaning).
- :class:`RecentUsers` remembers who was active lately (LRU with expiry and a hard cap).
- :class:`LevelRing` keeps the last value per second (viewer count) for window min/max.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque

__all__ = ["Ewma", "LevelRing", "RecentUsers", "SecondRing"]


class SecondRing:
    """Sums of a quantity per second over the last ``size`` seconds."""

    __slots__ = ("_counts", "_seconds", "_size")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"ring size must be >= 1 second, got {size}")
        self._size = size
        self._counts = [0.0] * size
        # Which second each slot currently holds; a stale slot is reset on first use.
        self._seconds = [-1] * size

    @property
    def size(self) -> int:
        return self._size

    def add(self, t: float, amount: float = 1.0) -> None:
        second = int(t)
        slot = second % self._size
        if self._seconds[slot] != second:
            self._seconds[slot] = second
            self._counts[slot] = 0.0
        self._counts[slot] += amount

    def total(self, now: float, seconds: int) -> float:
        """Sum over the ``seconds`` seconds ending with the one ``now`` falls in."""
        seconds = min(seconds, self._size)
        end = int(now)
        total = 0.0
        for second in range(end - seconds + 1, end + 1):
            slot = second % self._size
            if self._seconds[slot] == second:
                total += self._counts[slot]
        return total

    def per_minute(self, now: float, seconds: int) -> float:
        return self.total(now, seconds) * 60.0 / min(seconds, self._size)


class LevelRing:
    """Reported values (e.g. the viewer count) over a fixed window of ``size`` seconds.

    ``peak`` is O(1) amortised (a monotonic queue of candidates for the maximum); the
    per-second ring behind it answers the rarer ``last_at_least`` question.
    """

    __slots__ = ("_candidates", "_seconds", "_size", "_values")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"ring size must be >= 1 second, got {size}")
        self._size = size
        self._values = [0.0] * size
        self._seconds = [-1] * size
        # (second, value), values strictly decreasing from the front: the front is the
        # window's maximum, earliest on ties.
        self._candidates: deque[tuple[int, float]] = deque()

    @property
    def size(self) -> int:
        return self._size

    def set(self, t: float, value: float) -> None:
        second = int(t)
        slot = second % self._size
        self._seconds[slot] = second
        self._values[slot] = value
        candidates = self._candidates
        while candidates and candidates[-1][1] < value:
            candidates.pop()
        candidates.append((second, value))

    def peak(self, now: float) -> tuple[float, float] | None:
        """``(value, second)`` of the highest value in the window, earliest on ties."""
        candidates = self._candidates
        horizon = int(now) - self._size + 1
        while candidates and candidates[0][0] < horizon:
            candidates.popleft()
        if not candidates:
            return None
        second, value = candidates[0]
        return value, float(second)

    def first(self, now: float, seconds: int) -> tuple[float, float] | None:
        """``(value, second)`` of the earliest value in the last ``seconds``."""
        seconds = min(seconds, self._size)
        end = int(now)
        for second in range(end - seconds + 1, end + 1):
            slot = second % self._size
            if self._seconds[slot] == second:
                return self._values[slot], float(second)
        return None

    def last_at_least(self, now: float, seconds: int, level: float) -> float | None:
        """The latest second in the window whose value was at least ``level``."""
        seconds = min(seconds, self._size)
        end = int(now)
        for second in range(end, end - seconds, -1):
            slot = second % self._size
            if self._seconds[slot] == second and self._values[slot] >= level:
                return float(second)
        return None


class Ewma:
    """Time-decayed mean: a sample ``dt`` seconds after the last weighs ``1 - e^(-dt/tau)``.

    ``halflife`` is in seconds. ``age`` is how much history the mean has seen, so callers
    can wait for a warm-up before trusting it.
    """

    __slots__ = ("_last", "_tau", "age", "value")

    def __init__(self, halflife: float) -> None:
        if halflife <= 0:
            raise ValueError(f"halflife must be > 0 s, got {halflife}")
        self._tau = halflife / math.log(2)
        self._last: float | None = None
        self.value: float | None = None
        self.age = 0.0

    def retune(self, halflife: float) -> None:
        """Change the half-life, keeping the mean learnt so far."""
        if halflife <= 0:
            raise ValueError(f"halflife must be > 0 s, got {halflife}")
        self._tau = halflife / math.log(2)

    def update(self, t: float, sample: float) -> float:
        if self.value is None or self._last is None:
            self.value = sample
        else:
            dt = max(0.0, t - self._last)
            weight = 1.0 - math.exp(-dt / self._tau)
            self.value += weight * (sample - self.value)
            self.age += dt
        self._last = t
        return self.value


class RecentUsers:
    """Users seen within ``ttl`` seconds, at most ``cap`` of them (oldest evicted first)."""

    __slots__ = ("_cap", "_seen", "_ttl")

    def __init__(self, ttl: float, cap: int) -> None:
        self._ttl = ttl
        self._cap = cap
        self._seen: OrderedDict[str, float] = OrderedDict()

    def touch(self, user_id: str, t: float) -> bool:
        """Record activity; return True if the user was not active within ``ttl``."""
        seen = self._seen
        last = seen.pop(user_id, None)
        seen[user_id] = t
        if len(seen) > self._cap:
            seen.popitem(last=False)
        return last is None or t - last > self._ttl

    def expire(self, now: float) -> None:
        seen = self._seen
        horizon = now - self._ttl
        while seen:
            user_id, t = next(iter(seen.items()))
            if t >= horizon:
                break
            del seen[user_id]

    def count(self, now: float) -> int:
        self.expire(now)
        return len(self._seen)

    def __contains__(self, user_id: object) -> bool:
        return user_id in self._seen

