"""TikTokLive events → livepilot events, field by field (table in ``docs/tiktok.md``).

This is the edge where TikTok's shapes end. It reads the library's event objects by
attribute (the betterproto messages TikTokLive emits) and builds validated livepilot
models, so nothing downstream ever sees a TikTokLive type and none of the library's
helper bugs leak through:

* users are read from ``display_id`` / ``nickname`` / ``id``, which exist on both
  ``User`` and ``ExtendedUser`` (7.0.1 gives one or the other depending on message order);
* badges come from ``user_identity`` and ``badge_list[].scene_type``, not the library's
  always-false ``is_moderator`` / ``is_top_gifter`` helpers;
* super-fan barrages are detected on ``content.key`` (the library's ``SuperFanEvent``
  never fires);
* nothing calls ``to_dict()`` (it crashes on ``ExtendedUser``).

Each TikTok message maps to at most one event kind, with the id ``tt-<msg_id>`` (stable
across reconnects, so re-sent history is recognised). The library emits some messages
twice (``FollowEvent`` and ``SocialEvent``; ``LiveEndEvent`` and ``ControlEvent``;
``SuperFanBoxEvent`` and ``EnvelopeEvent``); only one of each pair is mapped.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from livepilot.events import (
    Badge,
    BattleEvent,
    BattleScore,
    ChatEvent,
    DeleteEvent,
    EmoteEvent,
    EnvelopeEvent,
    FollowEvent,
    GiftEvent,
    JoinEvent,
    LikeEvent,
    LiveEvent,
    PinEvent,
    PollEvent,
    PollOption,
    QuestionEvent,
    ShareEvent,
    StatusEvent,
    StreamState,
    SubscribeEvent,
    User,
    ViewerCountEvent,
)

__all__ = ["Connected", "Mapped", "Mapper", "event_id"]

log = logging.getLogger(__name__)

# TikTok enum values used below (TikTokLiveProto v3), by number so this module needs no
# proto import.
_BADGE_ADMIN = 1
_BADGE_SUBSCRIBER = 4
_BADGE_RANK_LIST = 6
_BADGE_NEW_SUBSCRIBER = 7
_GIFT_STREAKABLE = 1
_MEMBER_JOINED = 1
_PIN = 1
_PIN_CANCEL = 2
_SUB_SUCCESS = 0
_BATTLE_PHASES = {
    1: "invite",
    2: "reject",
    3: "cancel",
    4: "start",
    5: "finish",
    6: "cut_short",
    7: "accept",
}
_BATTLE_RESULTS = {0: "win", 1: "lose", 2: "draw"}


@dataclass(frozen=True, slots=True)
class Connected:
    """The library's ``ConnectEvent``: the WebSocket to ``room_id`` is open."""

    room_id: int


Mapped = LiveEvent | Connected


def event_id(msg_id: int) -> str:
    """The livepilot event id of the TikTok message ``msg_id``."""
    return f"tt-{msg_id}"


def _ms(value: Any) -> float | None:
    """TikTok millisecond timestamp → Unix seconds (None when unset)."""
    try:
        number = int(value or 0)
    except (TypeError, ValueError):
        return None
    if number <= 0:
        return None
    # Some fields are seconds, most are milliseconds.
    return number / 1000.0 if number > 10_000_000_000 else float(number)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


class Mapper:
    """Maps one stream's TikTokLive events; ``map`` never raises on odd input."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self._fallback_ids = itertools.count(1)
        self._handlers: dict[str, Callable[[Any, dict[str, Any]], Mapped | list[Mapped] | None]] = {
            "CommentEvent": self._chat,
            "GiftEvent": self._gift,
            "JoinEvent": self._join,
            "LikeEvent": self._like,
            "FollowEvent": self._follow,
            "ShareEvent": self._share,
            "RoomUserSeqEvent": self._viewers,
            "QuestionNewEvent": self._question,
            "PollEvent": self._poll,
            "LinkMicBattleEvent": self._battle,
            "LinkMicArmiesEvent": self._armies,
            "EmoteChatEvent": self._emote,
            "EnvelopeEvent": self._envelope,
            "SubNotifyEvent": self._subscribe,
            "BarrageEvent": self._barrage,
            "RoomPinEvent": self._pin,
            "ImDeleteEvent": self._delete,
            "LiveEndEvent": self._live_end,
            "LivePauseEvent": self._pause,
            "LiveUnpauseEvent": self._unpause,
            "ConnectEvent": self._connect,
        }

    def map(self, event: Any, received: float) -> list[Mapped]:
        """The livepilot events for one TikTokLive event (usually zero or one)."""
        handler = self._handlers.get(type(event).__name__)
        if handler is None:
            return []
        try:
            result = handler(event, self._base(event, received))
        except (ValidationError, AttributeError, TypeError, ValueError):
            log.warning(
                "stream %s: cannot map TikTok %s", self.stream, type(event).__name__, exc_info=True
            )
            return []
        if result is None:
            return []
        return result if isinstance(result, list) else [result]

    # -- shared pieces -------------------------------------------------------------------

    def _base(self, event: Any, received: float) -> dict[str, Any]:
        common = getattr(event, "common", None)
        msg_id = int(getattr(common, "msg_id", 0) or 0)
        at = _ms(getattr(common, "create_time", 0)) or received
        ident = (
            event_id(msg_id) if msg_id else f"tt-x{int(received * 1000)}-{next(self._fallback_ids)}"
        )
        return {"id": ident, "stream": self.stream, "at": at, "received": received}

    @staticmethod
    def user(raw: Any, identity: Any = None) -> User:
        """A livepilot ``User`` from a TikTok ``User``/``ExtendedUser`` (+ ``UserIdentity``)."""
        badges: set[Badge] = set()
        if identity is not None:
            if getattr(identity, "is_moderator_of_anchor", False):
                badges.add(Badge.MODERATOR)
            if getattr(identity, "is_subscriber_of_anchor", False):
                badges.add(Badge.SUBSCRIBER)
            if getattr(identity, "is_follower_of_anchor", False):
                badges.add(Badge.FOLLOWER)
        for badge in getattr(raw, "badge_list", None) or ():
            scene = int(getattr(badge, "scene_type", 0) or 0)
            if scene == _BADGE_ADMIN:
                badges.add(Badge.MODERATOR)
            elif scene in (_BADGE_SUBSCRIBER, _BADGE_NEW_SUBSCRIBER):
                badges.add(Badge.SUBSCRIBER)
            elif scene == _BADGE_RANK_LIST:
                badges.add(Badge.TOP_GIFTER)
        follow_status = int(getattr(getattr(raw, "follow_info", None), "follow_status", 0) or 0)
        if follow_status >= 1:
            badges.add(Badge.FOLLOWER)
        handle = _text(getattr(raw, "display_id", ""))
        numeric = int(getattr(raw, "id", 0) or 0)
        return User(
            id=str(numeric) if numeric else (handle or "anonymous"),
            unique_id=handle,
            nickname=_text(getattr(raw, "nickname", "")),
            badges=frozenset(badges),
        )

    def _user_of(self, event: Any) -> User:
        return self.user(getattr(event, "user", None), getattr(event, "user_identity", None))

    # -- one method per TikTok event -------------------------------------------------------

    def _chat(self, ev: Any, base: dict[str, Any]) -> Mapped:
        return ChatEvent(**base, user=self._user_of(ev), text=_text(ev.content))

    def _gift(self, ev: Any, base: dict[str, Any]) -> Mapped:
        gift = getattr(ev, "gift", None)
        gift_id = int(ev.gift_id or getattr(gift, "id", 0) or 0)
        user = self._user_of(ev)
        count = max(1, int(ev.repeat_count or 0))
        streakable = int(getattr(gift, "type", 0) or 0) == _GIFT_STREAKABLE
        return GiftEvent(
            **base,
            user=user,
            gift_id=gift_id,
            gift_name=_text(getattr(gift, "name", "")),
            diamond_value=max(0, int(getattr(gift, "diamond_count", 0) or 0)),
            count=count,
            streak_id=f"{user.id}:{gift_id}:{int(ev.group_id or 0)}" if streakable else None,
            final=bool(ev.repeat_end) if streakable else True,
        )

    def _join(self, ev: Any, base: dict[str, Any]) -> Mapped | None:
        action = int(getattr(ev, "action", 0) or 0)
        if action not in (0, _MEMBER_JOINED):
            return None  # subscription notices etc. arrive as their own messages
        return JoinEvent(**base, user=self._user_of(ev))

    def _like(self, ev: Any, base: dict[str, Any]) -> Mapped | None:
        count = int(ev.count or 0)
        if count < 1:
            return None
        total = int(ev.total or 0)
        return LikeEvent(**base, user=self._user_of(ev), count=count, total=total or None)

    def _follow(self, ev: Any, base: dict[str, Any]) -> Mapped:
        return FollowEvent(**base, user=self._user_of(ev))

    def _share(self, ev: Any, base: dict[str, Any]) -> Mapped:
        return ShareEvent(**base, user=self._user_of(ev))

    def _viewers(self, ev: Any, base: dict[str, Any]) -> Mapped:
        total = max(0, int(getattr(ev, "total_user", 0) or 0))
        return ViewerCountEvent(**base, count=max(0, int(ev.total or 0)), total=total or None)

    def _question(self, ev: Any, base: dict[str, Any]) -> Mapped | None:
        data = getattr(ev, "data", None)
        if data is None or not _text(data.content):
            return None
        return QuestionEvent(**base, user=self.user(data.user), text=data.content)

    @staticmethod
    def _options(raw: Any) -> tuple[PollOption, ...]:
        options = (
            PollOption(
                index=int(o.option_idx or 0),
                text=_text(o.display_content),
                votes=max(0, int(o.votes or 0)),
            )
            for o in raw or ()
        )
        return tuple(sorted(options, key=lambda o: o.index))

    def _poll(self, ev: Any, base: dict[str, Any]) -> Mapped | None:
        poll_id = int(ev.poll_id or 0)
        info = getattr(ev, "poll_basic_info", None)
        if not poll_id and info is not None and _text(info.poll_id_str):
            poll_id = int(info.poll_id_str)
        if not poll_id:
            return None
        title = _text(getattr(info, "title", ""))
        start, update, end = ev.start_content, ev.update_votes_content, ev.end_content
        if start is not None:
            return PollEvent(
                **base,
                poll_id=str(poll_id),
                phase="start",
                title=_text(start.title) or title,
                options=self._options(start.option_list),
                ends_at=_ms(start.end_time),
                user=self.user(start.operator) if start.operator is not None else None,
            )
        if end is not None:
            return PollEvent(
                **base,
                poll_id=str(poll_id),
                phase="end",
                title=title,
                options=self._options(end.option_list),
                user=self.user(end.operator) if end.operator is not None else None,
            )
        if update is not None:
            return PollEvent(
                **base,
                poll_id=str(poll_id),
                phase="update",
                title=title,
                options=self._options(update.option_list),
            )
        return None

    def _battle(self, ev: Any, base: dict[str, Any]) -> Mapped | None:
        settings = getattr(ev, "battle_settings", None)
        battle_id = int(ev.battle_id or getattr(settings, "battle_id", 0) or 0)
        if not battle_id:
            return None
        scores = tuple(
            BattleScore(
                anchor_id=str(int(result.user_id or 0) or key),
                score=int(result.score or 0),
                result=_BATTLE_RESULTS.get(int(result.result or 0)),
            )
            for key, result in sorted((ev.battle_result or {}).items())
        )
        duration = int(getattr(settings, "duration", 0) or 0)
        return BattleEvent(
            **base,
            battle_id=str(battle_id),
            phase=_BATTLE_PHASES.get(int(ev.action or 0), "other"),
            scores=scores,
            duration=float(duration) if duration else None,
        )

    def _armies(self, ev: Any, base: dict[str, Any]) -> Mapped | None:
        if not int(ev.battle_id or 0):
            return None
        scores = tuple(
            BattleScore(anchor_id=str(anchor), score=int(army.hostscore or 0))
            for anchor, army in sorted((ev.armies or {}).items())
        )
        return BattleEvent(**base, battle_id=str(int(ev.battle_id)), phase="score", scores=scores)

    def _emote(self, ev: Any, base: dict[str, Any]) -> Mapped:
        ids = tuple(_text(e.emote_id) for e in ev.emote_list or () if _text(e.emote_id))
        return EmoteEvent(**base, user=self._user_of(ev), emote_ids=ids)

    def _envelope(self, ev: Any, base: dict[str, Any]) -> Mapped | None:
        info = getattr(ev, "envelope_info", None)
        if info is None:
            return None
        return EnvelopeEvent(
            **base,
            envelope_id=_text(info.envelope_id),
            sender=_text(info.send_user_name),
            sender_id=_text(info.send_user_id),
            diamonds=max(0, int(info.diamond_count or 0)),
            people=max(0, int(info.people_count or 0)),
            opens_at=_ms(info.unpack_at),
        )

    def _subscribe(self, ev: Any, base: dict[str, Any]) -> Mapped | None:
        if int(getattr(ev, "message_type", 0) or 0) != _SUB_SUCCESS or ev.user is None:
            return None  # reminders and goal notices, not a subscription
        return SubscribeEvent(**base, user=self._user_of(ev), months=max(0, int(ev.sub_month or 0)))

    def _barrage(self, ev: Any, base: dict[str, Any]) -> Mapped | None:
        keys = [
            _text(getattr(getattr(ev, name, None), "key", "")).lower()
            for name in ("content", "common_barrage_content")
        ]
        if not any("ttlive_superfan" in key for key in keys) or ev.user is None:
            return None
        return SubscribeEvent(**base, user=self._user_of(ev), months=0, kind="superfan")

    def _pin(self, ev: Any, base: dict[str, Any]) -> Mapped | None:
        pinned = (
            ev.chat_message
            or ev.gift_message
            or ev.social_message
            or ev.member_message
            or ev.like_message
        )
        pinned_common = getattr(pinned, "common", None)
        target_msg = int(getattr(pinned_common, "msg_id", 0) or 0) or int(ev.pin_msg_id or 0)
        if not target_msg:
            return None
        action = int(ev.action or 0)
        author = getattr(pinned, "user", None)
        return PinEvent(
            **base,
            target=event_id(target_msg),
            pinned=action != _PIN_CANCEL,
            text=_text(getattr(ev.chat_message, "content", "")),
            user=self.user(author) if author is not None else None,
        )

    def _delete(self, ev: Any, base: dict[str, Any]) -> list[Mapped]:
        out: list[Mapped] = []
        for target in ev.delete_msg_ids or ():
            out.append(
                DeleteEvent(
                    **{**base, "id": f"{base['id']}-del-{int(target)}"},
                    target=event_id(int(target)),
                )
            )
        return out

    def _live_end(self, ev: Any, base: dict[str, Any]) -> Mapped:
        return StatusEvent(
            **base, state=StreamState.LIVE_ENDED, detail="the creator ended the LIVE"
        )

    def _pause(self, ev: Any, base: dict[str, Any]) -> Mapped:
        return StatusEvent(**base, state=StreamState.PAUSED, detail="the creator paused the LIVE")

    def _unpause(self, ev: Any, base: dict[str, Any]) -> Mapped:
        return StatusEvent(**base, state=StreamState.CONNECTED, detail="the LIVE continues")

    def _connect(self, ev: Any, base: dict[str, Any]) -> Mapped:
        return Connected(room_id=int(getattr(ev, "room_id", 0) or 0))
