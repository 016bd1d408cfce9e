"""Which chat messages the toxicity model scores first when it cannot score them all.

Under overload (a raid, a slow model) the model lane sheds jobs. What it sheds first is
what matters least: a message from a viewer the stream already trusts, that the rules saw
nothing in. What it keeps longest is a message the rules left uncertain (a mild word hit)
from a viewer it does not trust yet — exactly what a raid is made of.

A viewer is trusted when the platform vouches for them (moderator, subscriber, top
gifter — not on a new account) or when the model judged their last ``earn`` messages
clean in a row. The memory is bounded to the most recent viewers.
"""

from __future__ import annotations

from collections import OrderedDict

from livepilot.events import Badge, User

__all__ = ["TRUSTED_BADGES", "Trust", "priority"]

#: Badges that make a viewer trusted from their first message (unless the account is new).
TRUSTED_BADGES = frozenset({Badge.MODERATOR, Badge.SUBSCRIBER, Badge.TOP_GIFTER})


def priority(uncertain: bool, trusted: bool) -> int:
    """The lane priority (higher is scored first, shed last): 3 uncertain and untrusted,
    2 uncertain, 1 untrusted, 0 neither."""
    return 2 * uncertain + (not trusted)


class Trust:
    """Per viewer, how many messages in a row the model judged clean (bounded LRU)."""

    def __init__(self, earn: int = 3, size: int = 10_000) -> None:
        if earn < 1 or size < 1:
            raise ValueError("earn and size must be ≥ 1")
        self.earn = earn
        self.size = size
        self._clean: OrderedDict[str, int] = OrderedDict()

    def trusted(self, user: User) -> bool:
        if not user.new_account and not user.badges.isdisjoint(TRUSTED_BADGES):
            return True
        return self._clean.get(user.id, 0) >= self.earn

    def judged(self, user_id: str, toxic: bool) -> None:
        """Record the model's verdict on one of the viewer's messages."""
        if toxic:
            self._clean.pop(user_id, None)
            return
        self._clean[user_id] = min(self._clean.get(user_id, 0) + 1, self.earn)
        self._clean.move_to_end(user_id)
        while len(self._clean) > self.size:
            self._clean.popitem(last=False)

    def __len__(self) -> int:
        return len(self._clean)
