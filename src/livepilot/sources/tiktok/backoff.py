"""How long to wait before the next connection attempt.

Every TikTok (re)connect costs one call to the Euler Stream sign server, which allows
about 5 per minute and 30 per hour per IP without an API key. A reconnect loop that
ignores that gets the IP rate-limited for the rest of the stream. Two pieces decide the
wait, both plain synchronous code with time passed in:

* :class:`Backoff` — exponential backoff with jitter for failed attempts;
* :class:`SignBudget` — a sliding-window budget of sign-server calls.

The supervisor waits for the longer of the two (and at least a rate limit's
``retry_after``).
"""

from __future__ import annotations

import random
from collections import deque

__all__ = ["Backoff", "SignBudget"]


class Backoff:
    """``initial``, ``2×initial``, … up to ``maximum``, each stretched by up to ``jitter``.

    Jitter (a random 0–``jitter`` fraction added) keeps many livepilot instances that lost
    TikTok at the same moment from reconnecting in lock-step.
    """

    def __init__(
        self,
        initial: float = 1.0,
        maximum: float = 300.0,
        *,
        jitter: float = 0.2,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or maximum < initial:
            raise ValueError(f"backoff needs 0 < initial <= maximum, got {initial}, {maximum}")
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
        self._rng = rng if rng is not None else random.Random()
        self._next = initial

    def next(self) -> float:
        """The delay before the next attempt; doubles the one after."""
        delay = self._next * (1.0 + self._rng.random() * self.jitter)
        self._next = min(self._next * 2.0, self.maximum)
        return min(delay, self.maximum * (1.0 + self.jitter))

    def reset(self) -> None:
        """After a connection that worked: start small again."""
        self._next = self.initial


class SignBudget:
    """At most ``per_minute`` sign calls in any 60 s and ``per_hour`` in any 3600 s.

    A limit of 0 means unlimited (e.g. with an API key whose limits are known to be high).
    """

    def __init__(self, per_minute: int = 5, per_hour: int = 30) -> None:
        if per_minute < 0 or per_hour < 0:
            raise ValueError("sign budget limits must be >= 0")
        self.per_minute = per_minute
        self.per_hour = per_hour
        self._calls: deque[float] = deque()

    def spend(self, now: float) -> None:
        """Record one sign-server call at ``now``."""
        self._calls.append(now)
        while self._calls and now - self._calls[0] >= 3600.0:
            self._calls.popleft()

    def wait(self, now: float) -> float:
        """Seconds until one more call fits the budget (0 if it fits now)."""
        wait = 0.0
        for limit, window in ((self.per_minute, 60.0), (self.per_hour, 3600.0)):
            if limit <= 0:
                continue
            recent = [t for t in self._calls if now - t < window]
            if len(recent) >= limit:
                # The oldest call that must leave the window for one more to fit.
                oldest = recent[len(recent) - limit]
                wait = max(wait, oldest + window - now)
        return wait
