"""The rolling engagement state of one stream: rates, chatters, viewers.

:class:`Signals` is what the engagement stage measures, kept apart from what it concludes
(alarms, prompts). Every window is a fixed per-second ring or a capped map, and who chatted
before is a fixed-size filter (:class:`~livepilot.stages.sketches.SeenFilter`), so memory
is the same after ten minutes and after ten hours, at any chat rate and however many
accounts come and go.
"""

from __future__ import annotations

from livepilot.stages.show.rolling import LevelRing, RecentUsers, SecondRing
from livepilot.stages.sketches import SeenFilter

__all__ = ["CHATTERS_FP_RATE", "CHATTERS_REMEMBERED", "RING_SECONDS", "Signals"]

#: Seconds of per-second history kept for rates (the longest rate window allowed).
RING_SECONDS = 3600
#: New vs returning chatters: the latest this many accounts are always remembered (older
#: ones only while no more than as many newer ones came) …
CHATTERS_REMEMBERED = 200_000
#: … and a first-time chatter is taken for a returning one at most this often.
CHATTERS_FP_RATE = 0.01


class Signals:
    """Per-second counts and recent activity; fed by the stage, read by the detectors."""

    def __init__(self, *, viewer_window: int, chatters: int = CHATTERS_REMEMBERED) -> None:
        self.chat = SecondRing(RING_SECONDS)
        #: Chat messages an earlier stage labelled toxic or negative.
        self.flagged = SecondRing(RING_SECONDS)
        self.likes = SecondRing(RING_SECONDS)
        self.joins = SecondRing(RING_SECONDS)
        self.diamonds = SecondRing(RING_SECONDS)
        self.follows = SecondRing(RING_SECONDS)
        self.shares = SecondRing(RING_SECONDS)
        #: Chatters whose first message in this stream it was / who chatted before.
        self.new_chatters = SecondRing(60)
        self.returning_chatters = SecondRing(60)
        self.active_chatters = RecentUsers(ttl=60.0, cap=100_000)
        self._ever_chatted = SeenFilter(chatters, CHATTERS_FP_RATE)
        self.viewer_levels = LevelRing(viewer_window)
        self.viewers = 0
        self._expired_at = float("-inf")

    def resize(self, *, viewer_window: int) -> None:
        """A new window length (a rules reload); a window that changes starts empty."""
        if viewer_window != self.viewer_levels.size:
            self.viewer_levels = LevelRing(viewer_window)

    def on_chat(self, now: float, user_id: str, *, flagged: bool) -> bool:
        """Count a message; True if it is the user's first in this stream."""
        self.chat.add(now)
        if flagged:
            self.flagged.add(now)
        if now - self._expired_at >= 1:  # whether or not anyone reads the rates
            self._expired_at = now
            self.active_chatters.expire(now)
        # Active within the last minute: returning, no need to ask the filter (most
        # messages of a busy chat skip its hash).
        first = self.active_chatters.touch(user_id, now) and self._ever_chatted.add(user_id)
        if first:
            self.new_chatters.add(now)
        else:
            self.returning_chatters.add(now)
        return first

    def on_viewers(self, now: float, count: int) -> None:
        self.viewers = count
        self.viewer_levels.set(now, count)

    def viewer_slope(self, now: float, seconds: int = 60) -> float:
        """Viewers gained (or lost, negative) per minute over the last ``seconds``."""
        first = self.viewer_levels.first(now, seconds)
        if first is None or now - first[1] < 1:
            return 0.0
        return (self.viewers - first[0]) * 60.0 / (now - first[1])

    def rates(self, now: float) -> dict[str, float]:
        """Per-minute rates over the last minute, the active chatters and viewer count."""
        chat = self.chat.total(now, 60)
        return {
            "viewers": float(self.viewers),
            "viewer_slope": self.viewer_slope(now),
            "follows": self.follows.per_minute(now, 60),
            "shares": self.shares.per_minute(now, 60),
            "chat": chat,
            "chatters": float(self.active_chatters.count(now)),
            "new_chatters": self.new_chatters.per_minute(now, 60),
            "returning_chatters": self.returning_chatters.per_minute(now, 60),
            "likes": self.likes.per_minute(now, 60),
            "joins": self.joins.per_minute(now, 60),
            "diamonds": self.diamonds.per_minute(now, 60),
            "flagged_share": self.flagged.total(now, 60) / chat if chat else 0.0,
        }
