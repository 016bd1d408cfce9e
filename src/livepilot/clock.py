"""Time, injected. Nothing in livepilot reads the wall clock directly.

``SystemClock`` is live time. ``EventClock`` is replay time: the runner moves it to each
event's own timestamp, so a three-hour recording replays in seconds with the alarms it
would have raised live. ``livepilot.testing.FakeClock`` is the tests' clock.
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "EventClock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> float:
        """Unix seconds."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class EventClock:
    """A clock that only moves forward, to the times it is told."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance_to(self, t: float) -> None:
        if t > self._now:
            self._now = t
