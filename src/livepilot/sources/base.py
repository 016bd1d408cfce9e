"""The source seam: anything that yields live events for one stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from livepilot.events import LiveEvent

__all__ = ["Source"]


@runtime_checkable
class Source(Protocol):
    """An async iterator of events for ``stream``; it ends when the stream ends."""

    stream: str

    def events(self) -> AsyncIterator[LiveEvent]: ...
