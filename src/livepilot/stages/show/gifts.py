"""Gift moments and thank-yous: what the host should say when gifts arrive.

A **gift moment** is an alarm (kind ``gift_moment``): a viewer becomes the new top gifter
(their total passes the leader's and a minimum), or one gift is worth a lot. It is raised
with a prompt ("Neuer Top-Gifter: danke @anna") and cleared after a hold time; the
prompt stays up, because it is still right to say thanks.

Smaller gifts get a routine **thank-you** prompt. While one waits for the rate limit,
later gifts join it, so a gift rain becomes one prompt ("Danke für die Geschenke: @emil
(Corgi), @dora (Rose ×9) und 4 weitere"), not twenty.

Only final gift events count (``GiftEvent.final``), so a streak is never counted twice;
the caller filters them.
"""

from __future__ import annotations

from livepilot.events import GiftEvent
from livepilot.insights import Severity
from livepilot.pipeline.alarm import AlarmLatch
from livepilot.pipeline.stage import Outbox
from livepilot.stages.show.alarms import GiftRule
from livepilot.stages.show.prompts import PromptDesk, phrase
from livepilot.stages.show.summary import SummaryTracker
from livepilot.texts import say

__all__ = ["GiftMoments"]

#: Why a gift moment's alarm clears, and the tail of a new top gifter's.
_NEXT_MOMENT = say("alarm_text.gift_next", "next gift moment")
_MOMENT_OVER = say("alarm_text.gift_over", "gift moment over")
_NEW_TOP = say("alarm_text.gift_top", ", new top gifter")

#: Gifters remembered for one combined thank-you.
_THANKS_CAP = 5000


class GiftMoments:
    """Raises gift moments and offers thank-yous for one stream."""

    def __init__(
        self,
        stream: str,
        source: str,
        rule: GiftRule,
        *,
        desk: PromptDesk,
        tracker: SummaryTracker,
        language: str,
    ) -> None:
        self.rule = rule
        self.latch = AlarmLatch(stream, "gift_moment", source, cooldown_s=rule.cooldown_s,
                                severity=Severity.INFO)
        self._desk = desk
        self._tracker = tracker
        self._language = language
        # gifters waiting for one combined thank-you: user id → (handle, gift, count)
        self._thanks: dict[str, tuple[str, str, int]] = {}

    def retune(self, rule: GiftRule) -> None:
        self.rule = rule
        self.latch.cooldown_s = rule.cooldown_s

    def on_gift(self, event: GiftEvent, now: float, out: Outbox) -> None:
        """A final gift: count it, and raise a moment or offer a thank-you."""
        rule = self.rule
        diamonds = event.diamonds
        user = event.user
        gifters = self._tracker.gifters
        leader = gifters.leader()
        self._tracker.on_gift(now, user.id, user.unique_id, diamonds)
        total = gifters.counts.get(user.id, 0)
        new_top = total >= rule.top_gifter_min_diamonds and (
            leader is None or (leader[0] != user.id and total > leader[1])
        )
        big = diamonds >= rule.big_gift_diamonds
        if rule.enabled and (new_top or big):
            self._desk.clear_alarm(self.latch, now, out, _NEXT_MOMENT, withdraw=False)
            alarm = self.latch.raise_(
                now,
                say("alarm_text.gift_moment",
                    f"@{user.unique_id}: {event.gift_name} ×{event.count} ({diamonds} diamonds)"
                    + (", new top gifter" if new_top else ""),
                    user=user.unique_id, gift=event.gift_name, count=event.count,
                    diamonds=diamonds, top=_NEW_TOP if new_top else ""),
                {"user": user.unique_id, "gift": event.gift_name, "count": event.count,
                 "diamonds": diamonds, "total": total,
                 "reason": "big_gift" if big else "top_gifter", "top": new_top},
            )
            if alarm is not None:
                out.alarm(alarm)
                text = (
                    phrase(self._language, "big_gift", user=user.unique_id,
                           gift=event.gift_name, diamonds=diamonds)
                    if big
                    else phrase(self._language, "top_gifter", user=user.unique_id,
                                diamonds=total)
                )
                self._desk.offer(now, "gift_moment", text, priority=2, alarm_id=alarm.id,
                                 key=f"gift:{user.id}")
                return
        if rule.thank_min_diamonds and diamonds >= rule.thank_min_diamonds:
            self._thank(event, now)

    def tick(self, now: float, out: Outbox) -> None:
        raised = self.latch.raised_at
        if raised is not None and now - raised >= self.rule.hold_s:
            self._desk.clear_alarm(self.latch, now, out, _MOMENT_OVER, withdraw=False)

    def _thank(self, event: GiftEvent, now: float) -> None:
        """Offer one thank-you for every gift since the last one the host saw."""
        thanks = self._thanks
        if not self._desk.is_waiting("thanks"):
            thanks.clear()
        user = event.user
        previous = thanks.pop(user.id, None)
        count = event.count + (previous[2] if previous and previous[1] == event.gift_name else 0)
        thanks[user.id] = (user.unique_id, event.gift_name, count)
        lang = self._language
        if len(thanks) == 1:
            if count > 1:
                text = phrase(lang, "thanks_streak", user=user.unique_id, gift=event.gift_name,
                              count=count)
            else:
                text = phrase(lang, "thanks", user=user.unique_id, gift=event.gift_name)
        else:
            latest = list(thanks.values())[::-1]
            names = ", ".join(
                f"@{handle} ({gift}{f' ×{n}' if n > 1 else ''})" for handle, gift, n in latest[:3]
            )
            more = phrase(lang, "thanks_more", count=len(latest) - 3) if len(latest) > 3 else ""
            text = phrase(lang, "thanks_many", names=names, more=more)
        self._desk.offer(now, "thanks", text, priority=0)
        if len(thanks) > _THANKS_CAP:
            thanks.pop(next(iter(thanks)))
