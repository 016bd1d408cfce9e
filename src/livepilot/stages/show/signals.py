"""The rolling engagement state of one stream: rates, chatters, viewers.

:class:`Signals` is what the engagement stage measures, kept apart from what it concludes
(alarms, prompts). Every window is a fixed per-second ring or a capped map, so memory is
the same after ten minutes and after ten hours, at any chat rate.
"""

from __future__ import annotations

from livepilot.stages.show.rolling import LevelRing, RecentUsers, SecondRing

__all__ = ["RING_SECONDS", "Signals"]

#: Seconds of per-second history kept for rates (the longest rate window allowed).
RING_SECONDS = 3600


class Signals:
    """Per-second counts and recent activity; fed by the stage, read by the detectors."""

    def __init__(self, *, viewer_window: int) -> None:
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
        self._ever_chatted = RecentUsers(ttl=float("inf"), cap=200_000)
        self.viewer_levels = LevelRing(viewer_window)
        self.viewers = 0

    def resize(self, *, viewer_window: int) -> None:
        """A new window length (a rules reload); a window that changes starts empty."""
        if viewer_window != self.viewer_levels.size:
            self.viewer_levels = LevelRing(viewer_window)

    def on_chat(self, now: float, user_id: str, *, flagged: bool) -> None:
        self.chat.add(now)
        if flagged:
            self.flagged.add(now)
        self.active_chatters.touch(user_id, now)
        if self._ever_chatted.touch(user_id, now):
            self.new_chatters.add(now)
        else:
            self.returning_chatters.add(now)

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
