"""What happens on a live stream, as typed, immutable events.

Every source (simulator, replay, TikTok) turns what it hears into these models, and every
other part of livepilot reads only these. One model per kind; ``type`` is the wire
discriminator. Times are Unix seconds as floats: ``at`` is when the platform says the
event happened, ``received`` is when livepilot received it.

The models import nothing else from livepilot.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, TypeAlias, get_args

from pydantic import BaseModel, ConfigDict, Field, field_serializer

__all__ = [
    "COALESCIBLE_KINDS",
    "EVENT_TYPES",
    "AnyEvent",
    "Badge",
    "BattleEvent",
    "BattleScore",
    "ChatEvent",
    "CommandEvent",
    "DeleteEvent",
    "EmoteEvent",
    "EnvelopeEvent",
    "FollowEvent",
    "GapEvent",
    "GiftEvent",
    "JoinEvent",
    "LikeEvent",
    "LiveEvent",
    "PinEvent",
    "PollEvent",
    "PollOption",
    "QuestionEvent",
    "ShareEvent",
    "StatusEvent",
    "StreamState",
    "SubscribeEvent",
    "User",
    "ViewerCountEvent",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Badge(StrEnum):
    MODERATOR = "moderator"
    SUBSCRIBER = "subscriber"
    FOLLOWER = "follower"
    TOP_GIFTER = "top_gifter"


class User(_Frozen):
    """A viewer. ``id`` is the platform's stable id, ``unique_id`` the @handle."""

    id: str = Field(min_length=1)
    unique_id: str
    nickname: str = ""
    badges: frozenset[Badge] = frozenset()
    #: Platform account age hint when known (new accounts matter for raid detection).
    new_account: bool = False

    @field_serializer("badges")
    def _sorted_badges(self, badges: frozenset[Badge]) -> list[str]:
        # A set has no order; the wire format must be byte-for-byte reproducible.
        return sorted(badges)


class _Event(_Frozen):
    id: str = Field(min_length=1, description="unique per stream; updates refer to it")
    stream: str = Field(min_length=1)
    at: float = Field(description="platform time, Unix seconds")
    received: float = Field(description="time livepilot received it, Unix seconds")


class _UserEvent(_Event):
    user: User


class ChatEvent(_UserEvent):
    type: Literal["chat"] = "chat"
    text: str


class GiftEvent(_UserEvent):
    """A gift. Streakable gifts arrive as progress updates and one final event.

    ``final`` is true exactly once per streak (or for a non-streak gift); only final
    events count towards totals, so a streak is never counted twice. ``diamonds`` is the
    value of the whole (possibly partial) streak: ``count × diamond_value``.
    """

    type: Literal["gift"] = "gift"
    gift_id: int
    gift_name: str
    diamond_value: int = Field(ge=0)
    count: int = Field(ge=1)
    streak_id: str | None = None
    final: bool = True

    @property
    def diamonds(self) -> int:
        return self.count * self.diamond_value


class JoinEvent(_UserEvent):
    type: Literal["join"] = "join"
    #: How many joins this event stands for (>1 after coalescing under load).
    count: int = Field(default=1, ge=1)


class LikeEvent(_UserEvent):
    type: Literal["like"] = "like"
    count: int = Field(ge=1)
    #: The room's like total as the platform reports it, when known.
    total: int | None = None


class FollowEvent(_UserEvent):
    type: Literal["follow"] = "follow"


class ShareEvent(_UserEvent):
    type: Literal["share"] = "share"


class QuestionEvent(_UserEvent):
    """A question asked through the platform's own Q&A feature (not plain chat)."""

    type: Literal["question"] = "question"
    text: str


class DeleteEvent(_Event):
    """The platform deleted an earlier event (e.g. TikTok's ``im_delete`` of a comment).

    ``target`` is the id of the deleted event; console and overlays remove it.
    """

    type: Literal["delete"] = "delete"
    target: str = Field(min_length=1)


class ViewerCountEvent(_Event):
    """How many watch now (``count``) and, when the platform says, how many different
    viewers the stream has had so far (``total``: TikTok's cumulative ``total_user``).
    ``total`` is left out of the wire when unknown."""

    type: Literal["viewers"] = "viewers"
    count: int = Field(ge=0)
    total: int | None = Field(default=None, ge=0, exclude_if=lambda value: value is None)


class StreamState(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    LIVE_ENDED = "live_ended"
    #: The creator is not live; the source polls politely until they are.
    OFFLINE = "offline"
    #: The creator paused the stream (TikTok ``STREAM_PAUSED``); unpausing sends CONNECTED.
    PAUSED = "paused"


class StatusEvent(_Event):
    type: Literal["status"] = "status"
    state: StreamState
    detail: str = ""


class PollOption(_Frozen):
    index: int
    text: str
    votes: int = Field(default=0, ge=0)


class PollEvent(_Event):
    """A poll run by the platform (TikTok's own poll feature, not a chat poll).

    ``phase`` tells which part of the poll's life this is; ``options`` carry the votes so
    far (``update``) or the result (``end``).
    """

    type: Literal["poll"] = "poll"
    poll_id: str = Field(min_length=1)
    phase: Literal["start", "update", "end"]
    title: str = ""
    options: tuple[PollOption, ...] = ()
    #: When the poll closes (platform time, Unix seconds), when known.
    ends_at: float | None = None
    #: Who started or ended the poll, when known.
    user: User | None = None


class BattleScore(_Frozen):
    """One side of a battle: the host's platform user id and their points."""

    anchor_id: str = Field(min_length=1)
    score: int = 0
    #: ``win``, ``lose``, ``draw`` once the battle is over.
    result: str | None = None


class BattleEvent(_Event):
    """A link-mic battle (PK) between hosts: invite, start, score update, finish."""

    type: Literal["battle"] = "battle"
    battle_id: str = Field(min_length=1)
    #: ``invite``, ``reject``, ``cancel``, ``start``, ``finish``, ``cut_short``, ``accept``,
    #: ``score`` (a points update) or ``other``.
    phase: str = Field(min_length=1)
    scores: tuple[BattleScore, ...] = ()
    #: Battle length in seconds, when known.
    duration: float | None = None


class EmoteEvent(_UserEvent):
    """A viewer posted sticker emotes (subscriber emotes) instead of text."""

    type: Literal["emote"] = "emote"
    emote_ids: tuple[str, ...] = ()


class EnvelopeEvent(_Event):
    """A treasure chest / red envelope: a viewer drops diamonds for others to grab."""

    type: Literal["envelope"] = "envelope"
    envelope_id: str = ""
    #: Display name of the viewer who dropped it.
    sender: str = ""
    sender_id: str = ""
    diamonds: int = Field(default=0, ge=0)
    #: How many viewers can grab a share.
    people: int = Field(default=0, ge=0)
    #: When it can be opened (platform time, Unix seconds), when known.
    opens_at: float | None = None


class SubscribeEvent(_UserEvent):
    """A viewer subscribed (or renewed); ``months`` is the subscription length so far."""

    type: Literal["subscribe"] = "subscribe"
    months: int = Field(default=1, ge=0)
    #: ``subscribe`` (paid subscription) or ``superfan`` (TikTok's super-fan tier).
    kind: str = "subscribe"


class PinEvent(_Event):
    """The host or a moderator pinned (or unpinned) a message on stream.

    ``target`` is the id of the pinned event, so console and overlays can highlight it.
    """

    type: Literal["pin"] = "pin"
    target: str = Field(min_length=1)
    pinned: bool = True
    text: str = ""
    #: Author of the pinned message, when known.
    user: User | None = None


class GapEvent(_Event):
    """The source heard nothing between ``start`` and ``end`` (Unix seconds).

    Emitted when the source is back; ``cause`` says why it was deaf (``connection_lost``,
    ``watchdog``, ``error`` …). Events of the platform in that window may be missing.
    """

    type: Literal["gap"] = "gap"
    start: float
    end: float
    cause: str = Field(min_length=1)

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)


class CommandEvent(_Event):
    """A moderator's action, carried on the bus to the stage that owns the state.

    ``action`` names what to do (``hide``, ``approve``, ``strike``, ``answer`` …), ``target``
    is an event id or user id, ``by`` the authenticated moderator.
    """

    type: Literal["command"] = "command"
    action: str = Field(min_length=1)
    target: str = ""
    by: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)


#: Every event model (a plain union; :data:`LiveEvent` adds the discriminator).
AnyEvent: TypeAlias = (
    ChatEvent
    | GiftEvent
    | JoinEvent
    | LikeEvent
    | FollowEvent
    | ShareEvent
    | QuestionEvent
    | DeleteEvent
    | ViewerCountEvent
    | StatusEvent
    | CommandEvent
    | PollEvent
    | BattleEvent
    | EmoteEvent
    | EnvelopeEvent
    | SubscribeEvent
    | PinEvent
    | GapEvent
)

LiveEvent = Annotated[AnyEvent, Field(discriminator="type")]

#: The ``type`` of every event kind.
EVENT_TYPES: frozenset[str] = frozenset(
    model.model_fields["type"].default for model in get_args(AnyEvent)
)

#: Kinds a full queue may merge (counts add up) instead of dropping; chat, gifts and
#: everything else are never merged or dropped.
COALESCIBLE_KINDS = frozenset({"like", "join"})
