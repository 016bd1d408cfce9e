"""What each kind of client may see, serialised once per published batch.

Consoles see everything as published. Overlays (OBS browser sources) see a projection:
chat only once the rule verdict allows it and without ids or reasons, ``hide`` when a
later verdict or a moderator hides or holds a message already shown (a held or hidden
message is never shown; one a moderator approves is shown then), gifts, follows, shares,
likes, viewer counts, the stream's counters and top gifters since it started, and
poll/giveaway tallies (counts and eligible winners only). Each overlay name picks the
kinds it needs.

Overlays are **public** (on stream, opened with the overlay key) or **backstage** (the
host's screen, opened with the host key). Host prompts are backstage only: no public
overlay's kinds include them, and :data:`OVERLAY_KINDS` is checked for that at import, so
a page cannot ask for them.

One projector per stream keeps that stream's overlay state, so an overlay that connects
(or an OBS source that reloads) starts from :meth:`OverlayProjector.snapshot`: the open or
last poll, counters and top gifters since the stream started, the chat on screen, the
open prompts, the run-of-show segment's goal — nothing is counted "since the page opened".

The projector also remembers the recent alerts (final gifts, follows, shares) with the
stream's ``seq`` and when they went out, so an alert overlay that was away (an OBS scene
switch, a reload, a network blip) gets back what it missed: :meth:`missed_alerts`.

The goal bar's segment goal comes from the run-of-show's ``goal`` alarm (raised when a
segment with a goal starts, cleared when it ends): from then on the projector counts that
segment's likes, diamonds or follows, so a goal overlay that connects mid-segment starts
from the same count.
"""

from __future__ import annotations

import heapq
import json
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from livepilot.bus.base import Published
from livepilot.events import (
    ChatEvent,
    DeleteEvent,
    FollowEvent,
    GiftEvent,
    LikeEvent,
    PinEvent,
    ShareEvent,
    User,
    ViewerCountEvent,
)
from livepilot.insights import (
    Alarm,
    Insight,
    ModerationDecision,
    Prompt,
    Tally,
    Visibility,
)
from livepilot.server.alert_log import ALERT_KINDS, AlertLog
from livepilot.server.goal_bar import GOAL_ALARM, GoalBar

__all__ = [
    "BACKSTAGE",
    "BACKSTAGE_KINDS",
    "OVERLAY_KINDS",
    "PUBLIC",
    "OverlayProjector",
]

#: Message types that may only reach backstage overlays (the host's screen).
BACKSTAGE_KINDS = frozenset({"prompt"})

#: Public overlays (on stream): name → the message types each receives.
PUBLIC: dict[str, frozenset[str]] = {
    "chat": frozenset({"chat", "hide"}),
    "alerts": frozenset({"gift", "follow", "share"}),
    "stats": frozenset({"counters"}),
    "poll": frozenset({"tally"}),
    "leaderboard": frozenset({"leaders"}),
    "goal": frozenset({"counters", "goal"}),
    "spotlight": frozenset({"spotlight"}),
    "all": frozenset({"chat", "hide", "gift", "follow", "share", "counters", "tally"}),
}
#: Backstage overlays (the host's screen): name → message types.
BACKSTAGE: dict[str, frozenset[str]] = {
    "prompts": frozenset({"prompt"}),
    "host": frozenset({"prompt", "counters", "tally"}),
}
#: Every overlay name → the message types it receives.
OVERLAY_KINDS: dict[str, frozenset[str]] = {**PUBLIC, **BACKSTAGE}

for _name, _kinds in PUBLIC.items():  # the one rule that must never break, checked at import
    if _kinds & BACKSTAGE_KINDS:
        raise RuntimeError(f"public overlay {_name!r} would receive {_kinds & BACKSTAGE_KINDS}")

_PASS_THROUGH = frozenset({"follow", "share", "viewers", "tally"})
#: The events that become alerts (numbered with their ``seq``).
_ALERT_EVENTS = (GiftEvent, FollowEvent, ShareEvent)
#: Top gifters kept in a snapshot and in each ``leaders`` message.
_LEADERS = 10
#: Chat messages an overlay gets back in its snapshot.
_SNAPSHOT_CHAT = 20


def _user(user: User) -> dict[str, object]:
    return {"unique_id": user.unique_id, "nickname": user.nickname}


class OverlayProjector:
    """Turns published batches into overlay messages ``(type, json)``; keeps a little state
    (recent chats, which ones are on screen) so a later approval or hiding can be shown.

    A chat message whose verdict is still ``pending`` (the model has not spoken yet) is
    held back for up to ``hold`` seconds: overlays are on stream, and a message the model
    is about to hide should not flash there first. The update releases it (or hides it);
    :meth:`expire` releases what waited too long.

    A ``moderation`` decision is the message's state from then on, whatever an insight
    published later says (the moderation stage makes them agree; this is the guard).
    """

    def __init__(self, memory: int = 2_000, hold: float = 1.5, stream: str = "") -> None:
        self._chats: OrderedDict[str, str] = OrderedDict()  # id -> overlay json
        self._shown: OrderedDict[str, None] = OrderedDict()
        self._held: OrderedDict[str, float] = OrderedDict()  # id -> release deadline
        self._decided: OrderedDict[str, bool] = OrderedDict()  # id -> off the overlays
        self._memory = memory
        self._hold = hold
        self._stream = stream
        # Since the stream started (the projector's first message): what a snapshot holds.
        self._counters: dict[str, int] = dict.fromkeys(
            ("likes", "diamonds", "gifts", "follows", "shares", "viewers", "peak_viewers"), 0
        )
        self._gifters: dict[str, tuple[int, str]] = {}  # unique_id -> (diamonds, nickname)
        self._leaders = ""  # the last ``leaders`` message sent
        self._tallies: dict[str, str] = {}  # kind -> the newest tally (overlay json)
        self._prompts: dict[str, tuple[float, str]] = {}  # id -> (expires_at, json)
        self._spotlight: tuple[str, str] | None = None  # (event id, json) pinned on screen
        # Prompts expire in stream time (a replay runs on the events' clock), so the
        # projector prunes them against the newest stream time it has seen.
        self._stream_now = float("-inf")
        # Recent alerts for a returning alert overlay: (seq, hub time, type, json).
        self._alerts = AlertLog()
        # The running run-of-show segment's goal and its count since the segment started.
        self._goal = GoalBar(stream)

    def snapshot(self, kinds: frozenset[str], now: float) -> list[str]:
        """What an overlay wanting ``kinds`` needs to show the stream as it stands now
        (JSON messages of the same types as the live ones, oldest first)."""
        out: list[str] = []
        if "counters" in kinds:
            out.append(self._counters_json())
        if "goal" in kinds and self._goal.active:
            out.append(self._goal.json())
        if "leaders" in kinds:
            out.append(self._leaders or self._leaders_json())
        if "tally" in kinds:
            out.extend(self._tallies.values())
        if "spotlight" in kinds and self._spotlight is not None:
            out.append(self._spotlight[1])
        if "prompt" in kinds:
            self._prune_prompts()
            out.extend(raw for _, raw in self._prompts.values())
        if "chat" in kinds:
            recent: list[str] = []
            for event_id in reversed(self._shown):
                chat = self._chats.get(event_id)
                if chat is not None:
                    recent.append(chat)
                    if len(recent) >= _SNAPSHOT_CHAT:
                        break
            out.extend(reversed(recent))
        return out

    def missed_alerts(self, since: int, now: float, window: float, limit: int,
                      kinds: frozenset[str] = ALERT_KINDS) -> list[str]:
        """The alerts an overlay missed after ``seq`` ``since`` (see :class:`AlertLog`)."""
        return self._alerts.missed(since, now, window, limit, kinds)

    def project(
        self, batch: Sequence[Published], now: float, first_seq: int = 0
    ) -> list[tuple[str, str]]:
        """The overlay messages for ``batch``. ``first_seq`` is the stream's ``seq`` of its
        first message (the next ones are numbered on); alerts carry theirs, so a returning
        alert overlay can say what it has already shown. 0: not numbered."""
        out: list[tuple[str, str]] = []
        counted = False
        goal_before = self._goal.state
        for offset, item in enumerate(batch):
            message = item.message
            counted = self._count(message, out) or counted
            if isinstance(message, ChatEvent):
                self._remember(self._chats, message.id, _chat_json(message))
            elif isinstance(message, Insight):
                self._apply(message, out, now)
            elif isinstance(message, ModerationDecision):
                self._decide(message, out)
            elif isinstance(message, DeleteEvent):
                if message.target in self._shown:
                    out.append(("hide", _hide_json(message.target)))
                self._chats.pop(message.target, None)
                self._unpin(message.target, out)
            elif isinstance(message, PinEvent):
                self._pin(message, out)
            elif isinstance(message, GiftEvent):
                out.append(
                    (
                        "gift",
                        json.dumps(
                            {
                                "type": "gift",
                                "id": message.id,
                                "stream": message.stream,
                                "at": message.at,
                                "user": _user(message.user),
                                "gift_name": message.gift_name,
                                "count": message.count,
                                "diamonds": message.diamonds,
                                "final": message.final,
                                "streak_id": message.streak_id,
                            },
                            ensure_ascii=False,
                        ),
                    )
                )
            elif isinstance(message, Alarm):
                if message.kind == GOAL_ALARM:
                    self._goal.on_alarm(message)
            elif isinstance(message, Prompt):
                raw = _strip_ids(item.json)
                self._stream_now = max(self._stream_now, message.at)
                expires = message.expires_at
                self._prompts[message.id] = (
                    expires if expires is not None else message.at + 60.0, raw
                )
                self._prune_prompts()
                out.append(("prompt", raw))
            elif message.type in _PASS_THROUGH:
                raw = _strip_ids(item.json)
                if isinstance(message, Tally):
                    self._tallies[message.kind] = raw
                out.append((message.type, raw))
            if first_seq and isinstance(message, _ALERT_EVENTS):
                # Its alert is the last message it added (after any ``leaders``).
                shown = not isinstance(message, GiftEvent) or message.final
                self._alerts.number(out, first_seq + offset, now, shown=shown)
        if counted:
            out.append(("counters", self._counters_json()))
        if self._goal.state != goal_before:
            out.append(("goal", self._goal.json()))
        return out

    def _count(self, message: object, out: list[tuple[str, str]]) -> bool:
        """Update the counters (and top gifters) since stream start; True if they moved."""
        counters = self._counters
        goal = self._goal
        at = getattr(message, "at", None)
        if isinstance(at, float):
            self._stream_now = max(self._stream_now, at)
        if isinstance(message, GiftEvent):
            if not message.final:
                return False
            counters["diamonds"] += message.diamonds
            counters["gifts"] += message.count
            goal.add("diamonds", message.diamonds)
            user = message.user
            before = self._gifters.get(user.unique_id, (0, ""))[0]
            self._gifters[user.unique_id] = (
                before + message.diamonds, user.nickname or user.unique_id
            )
            leaders = self._leaders_json()
            if leaders != self._leaders:
                self._leaders = leaders
                out.append(("leaders", leaders))
        elif isinstance(message, LikeEvent):
            # Likes reach overlays only as ``counters``: no overlay takes single likes, so a
            # message per like would be built for nobody (like storms are the busiest part
            # of a big stream).
            counted = counters["likes"] + message.count
            counters["likes"] = max(counted, message.total or 0)
            goal.add("likes", message.count)
        elif isinstance(message, FollowEvent):
            counters["follows"] += 1
            goal.add("follows", 1)
        elif isinstance(message, ShareEvent):
            counters["shares"] += 1
        elif isinstance(message, ViewerCountEvent):
            counters["viewers"] = message.count
            counters["peak_viewers"] = max(counters["peak_viewers"], message.count)
        else:
            return False
        return True

    def _counters_json(self) -> str:
        return json.dumps({"type": "counters", "stream": self._stream, **self._counters})

    def _leaders_json(self) -> str:
        top = heapq.nlargest(_LEADERS, self._gifters.items(), key=lambda kv: kv[1][0])
        return json.dumps(
            {
                "type": "leaders",
                "stream": self._stream,
                "leaders": [
                    {"unique_id": uid, "nickname": nick, "diamonds": diamonds}
                    for uid, (diamonds, nick) in top
                ],
            },
            ensure_ascii=False,
        )

    def _prune_prompts(self) -> None:
        now = self._stream_now
        stale = [pid for pid, (expires, _) in self._prompts.items() if expires <= now]
        for pid in stale:
            del self._prompts[pid]
        while len(self._prompts) > 50:
            del self._prompts[next(iter(self._prompts))]

    def _decide(self, decision: ModerationDecision, out: list[tuple[str, str]]) -> None:
        event_id = decision.event_id
        hidden = decision.state is not Visibility.VISIBLE
        self._remember(self._decided, event_id, hidden)
        self._held.pop(event_id, None)
        if hidden:
            self._take_down(event_id, out)
        else:
            self._show(event_id, out)

    def _pin(self, pin: PinEvent, out: list[tuple[str, str]]) -> None:
        """The spotlight: one pinned message per stream; a newer pin replaces it. A pin
        for a message the overlays may not show (hidden or held) is refused here too."""
        if not pin.pinned:
            self._unpin(pin.target, out)
            return
        if self._decided.get(pin.target):
            return
        user = _user(pin.user) if pin.user is not None else None
        raw = json.dumps(
            {"type": "spotlight", "id": pin.target, "pinned": True, "at": pin.at,
             "text": pin.text, "user": user},
            ensure_ascii=False,
        )
        self._spotlight = (pin.target, raw)
        out.append(("spotlight", raw))

    def _unpin(self, event_id: str, out: list[tuple[str, str]]) -> None:
        if self._spotlight is None or self._spotlight[0] != event_id:
            return
        self._spotlight = None
        out.append(("spotlight", json.dumps({"type": "spotlight", "id": event_id,
                                             "pinned": False})))

    def _take_down(self, event_id: str, out: list[tuple[str, str]]) -> None:
        self._unpin(event_id, out)
        if event_id in self._shown:
            self._shown.pop(event_id)
            out.append(("hide", _hide_json(event_id)))

    def _apply(self, insight: Insight, out: list[tuple[str, str]], now: float) -> None:
        event_id = insight.event_id
        chat = self._chats.get(event_id)
        if chat is None:
            return
        decided = self._decided.get(event_id)
        if decided is not None:
            return  # a moderator's (or stage's) decision stands; it was applied then
        if insight.hidden:
            self._held.pop(event_id, None)
            self._take_down(event_id, out)
        elif insight.pending and event_id not in self._shown:
            self._held.setdefault(event_id, now + self._hold)
            while len(self._held) > self._memory:
                self._show(self._held.popitem(last=False)[0], out)
        else:
            self._held.pop(event_id, None)
            self._show(event_id, out)

    def _show(self, event_id: str, out: list[tuple[str, str]]) -> None:
        chat = self._chats.get(event_id)
        if chat is not None and event_id not in self._shown:
            self._remember(self._shown, event_id, None)
            out.append(("chat", chat))

    def expire(self, now: float) -> list[tuple[str, str]]:
        """Release held messages whose verdict did not arrive in time."""
        out: list[tuple[str, str]] = []
        held = self._held
        while held:
            event_id, deadline = next(iter(held.items()))
            if deadline > now:
                break
            del held[event_id]
            self._show(event_id, out)
        return out

    def _remember(self, table: OrderedDict[str, Any], key: str, value: Any) -> None:
        table[key] = value
        if len(table) > self._memory:
            table.popitem(last=False)


def _chat_json(event: ChatEvent) -> str:
    return json.dumps(
        {
            "type": "chat",
            "id": event.id,
            "at": event.at,
            "user": _user(event.user),
            "text": event.text,
        },
        ensure_ascii=False,
    )


def _hide_json(event_id: str) -> str:
    return json.dumps({"type": "hide", "id": event_id})


def _strip_ids(raw: str) -> str:
    data = json.loads(raw)
    user = data.get("user")
    if isinstance(user, dict):
        data["user"] = {"unique_id": user.get("unique_id"), "nickname": user.get("nickname")}
    return json.dumps(data, ensure_ascii=False)
