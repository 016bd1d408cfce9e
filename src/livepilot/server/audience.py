"""What each kind of client may see, serialised once per published batch.

Consoles see everything as published. Overlays (OBS browser sources, read with the
read-only overlay key) see a projection: chat only once the rule verdict allows it and
without ids or reasons, ``hide`` when a later verdict or a moderator hides or holds a
message already shown (a held or hidden message is never shown; one a moderator approves
is shown then), gifts, follows, shares, likes, viewer counts, host prompts and poll/giveaway tallies
(counts and eligible winners only). Each overlay name picks the kinds it needs.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from livepilot.bus.base import Published
from livepilot.events import ChatEvent, DeleteEvent, GiftEvent, LikeEvent, User
from livepilot.insights import Insight, ModerationDecision, Visibility

__all__ = ["OVERLAY_KINDS", "OverlayProjector"]

#: Overlay name → the message types it receives.
OVERLAY_KINDS: dict[str, frozenset[str]] = {
    "chat": frozenset({"chat", "hide"}),
    "alerts": frozenset({"gift", "follow", "share"}),
    "prompts": frozenset({"prompt"}),
    "stats": frozenset({"gift", "like", "viewers"}),
    "poll": frozenset({"tally"}),
    "all": frozenset(
        {"chat", "hide", "gift", "follow", "share", "like", "viewers", "prompt", "tally"}
    ),
}

_PASS_THROUGH = frozenset({"follow", "share", "viewers", "tally"})


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

    def __init__(self, memory: int = 2_000, hold: float = 1.5) -> None:
        self._chats: OrderedDict[str, str] = OrderedDict()  # id -> overlay json
        self._shown: OrderedDict[str, None] = OrderedDict()
        self._held: OrderedDict[str, float] = OrderedDict()  # id -> release deadline
        self._decided: OrderedDict[str, bool] = OrderedDict()  # id -> off the overlays
        self._memory = memory
        self._hold = hold

    def project(self, batch: Sequence[Published], now: float) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for item in batch:
            message = item.message
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
            elif isinstance(message, GiftEvent):
                out.append(
                    (
                        "gift",
                        json.dumps(
                            {
                                "type": "gift",
                                "id": message.id,
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
            elif isinstance(message, LikeEvent):
                out.append(
                    (
                        "like",
                        json.dumps(
                            {
                                "type": "like",
                                "count": message.count,
                                "total": message.total,
                                "user": _user(message.user),
                            },
                            ensure_ascii=False,
                        ),
                    )
                )
            elif message.type == "prompt" or message.type in _PASS_THROUGH:
                out.append((message.type, _strip_ids(item.json)))
        return out

    def _decide(self, decision: ModerationDecision, out: list[tuple[str, str]]) -> None:
        event_id = decision.event_id
        hidden = decision.state is not Visibility.VISIBLE
        self._remember(self._decided, event_id, hidden)
        self._held.pop(event_id, None)
        if hidden:
            self._take_down(event_id, out)
        else:
            self._show(event_id, out)

    def _take_down(self, event_id: str, out: list[tuple[str, str]]) -> None:
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
