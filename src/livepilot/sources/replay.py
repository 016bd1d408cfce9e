"""Replay of a JSONL recording in the wire format, at 1×, N× or maximum speed.

Only event lines are replayed; insights, alarms and prompts in the file (headless output
is a valid recording) are skipped. A malformed line is reported with its line number
through ``on_error`` and skipped; the replay goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from livepilot.clock import Clock, SystemClock
from livepilot.errors import SourceError
from livepilot.events import LiveEvent
from livepilot.wire import EVENT_TYPES, LineError, read_jsonl

__all__ = ["ReplaySource"]


class ReplaySource:
    """Events from a recording. ``speed=0`` means as fast as possible, with recorded times.

    At a finite speed, events are paced by their recorded ``at`` times and re-stamped: ``at``
    with the time they were due (start + recorded offset ÷ speed, so offsets within the
    stream stay exactly as recorded and stored history matches a max-speed replay),
    ``received`` with the current time (so live latency metrics see "now").
    ``stream`` overrides the recorded stream id when given.
    """

    def __init__(
        self,
        path: Path,
        *,
        speed: float = 0.0,
        stream: str | None = None,
        clock: Clock | None = None,
        on_error: Callable[[LineError], None] | None = None,
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0 (0 = as fast as possible)")
        if not path.is_file():
            raise SourceError(f"recording {path} does not exist or is not a file")
        self.path = path
        self._speed = speed
        self._stream_override = stream
        self._clock = clock or SystemClock()
        self._on_error = on_error
        self.stream = stream or self._first_stream() or path.stem
        self.skipped = 0

    def _first_stream(self) -> str | None:
        for item in read_jsonl(self.path):
            if not isinstance(item, LineError) and item.type in EVENT_TYPES:
                return getattr(item, "stream", None)
        return None

    async def events(self) -> AsyncIterator[LiveEvent]:
        first_at: float | None = None
        wall0 = self._clock.now()
        for count, item in enumerate(read_jsonl(self.path)):
            if isinstance(item, LineError):
                self.skipped += 1
                if self._on_error is not None:
                    self._on_error(item)
                continue
            if item.type not in EVENT_TYPES:
                continue
            event: LiveEvent = item  # type: ignore[assignment]
            if self._stream_override is not None:
                event = event.model_copy(update={"stream": self._stream_override})
            if self._speed > 0:
                first_at = event.at if first_at is None else first_at
                due = wall0 + (event.at - first_at) / self._speed
                delay = due - self._clock.now()
                if delay > 0:
                    await asyncio.sleep(delay)
                event = event.model_copy(update={"at": due, "received": self._clock.now()})
            elif count % 256 == 0:
                await asyncio.sleep(0)  # let the rest of the loop breathe at max speed
            yield event
