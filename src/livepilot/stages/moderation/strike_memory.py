"""What the moderation stage remembers of a user beyond one stream and one process.

The stage owns this seam; the composition root plugs the store in (the stage never
imports it). At start the stage is handed the remembered users (:meth:`~livepilot.stages.
moderation.moderation.ModerationStage.recall`): their decaying score as it stood, every
hit so far and in how many streams, and a local block. From then on it calls
:meth:`StrikeMemory.remember` on every change, which must never block (the store queues a
row for its writer thread).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["RememberedUser", "StrikeMemory"]


@dataclass(frozen=True, slots=True)
class RememberedUser:
    """One user's strikes as last remembered (``at`` and ``score``: stream time, which
    for a live stream is wall time, so the score decays across a restart as it would
    have)."""

    user_id: str
    handle: str
    score: float
    at: float
    #: Every hit so far, and the streams with at least one.
    hits: int
    streams: int
    blocked_by: str | None = None


class StrikeMemory(Protocol):
    """Where a user's strikes outlive the stream; ``remember`` never blocks."""

    def remember(self, user: RememberedUser) -> None: ...
