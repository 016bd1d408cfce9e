"""What livepilot concludes: insights about events, alarms, prompts for the host, the
live tally of a chat poll or giveaway, and moderation decisions on chat messages.

An :class:`Insight` belongs to one event (``event_id``). The pipeline publishes version 0
at once with the rule verdict; a slow stage (the ML toxicity model) publishes a later
version for the same event id, which replaces the earlier one wholesale. Console and
overlays keep the highest version they have seen.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "Action",
    "Alarm",
    "AlarmState",
    "Insight",
    "Label",
    "ModerationDecision",
    "Prompt",
    "Reason",
    "Severity",
    "Tally",
    "TallyOption",
    "Visibility",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Action(StrEnum):
    """What livepilot recommends a moderator do, mildest first.

    TikTok cannot be moderated through an API: livepilot hides from its own outputs and
    recommends; the moderator acts in the app.
    """

    REVIEW = "review"
    NOTE = "note"
    HIDE = "hide"
    TIMEOUT = "timeout"
    BLOCK = "block"


class Label(_Frozen):
    """One conclusion: ``name`` (``toxic``, ``spam``, ``question``, ``lead`` …), the stage
    that added it, and an optional finer ``kind`` (``insult``, ``price``, ``no_audio`` …)."""

    name: str = Field(min_length=1)
    source: str = Field(min_length=1)
    kind: str | None = None
    score: float | None = None


def _absent(value: object) -> bool:
    return value is None or value == {}


class Reason(_Frozen):
    """Why, in words a moderator understands, and which stage said it.

    ``text`` is English prose (logs, API, old clients); ``code`` and ``params`` say the
    same for any language (``livepilot.texts``: the console's catalogue key and its
    placeholders). Both are left out of the wire when absent.
    """

    source: str
    text: str
    code: str | None = Field(default=None, exclude_if=_absent)
    params: dict[str, Any] = Field(default_factory=dict, exclude_if=_absent)


class Insight(_Frozen):
    type: Literal["insight"] = "insight"
    event_id: str
    stream: str
    version: int = Field(default=0, ge=0)
    labels: tuple[Label, ...] = ()
    scores: dict[str, float] = Field(default_factory=dict)
    reasons: tuple[Reason, ...] = ()
    action: Action | None = None
    #: Kept off overlays and filtered chat until a moderator approves.
    hidden: bool = False
    #: A suggested answer (FAQ) for a question, if any.
    answer: str | None = None
    #: Stages that are still working on this event (e.g. ``toxicity``); an update follows.
    pending: tuple[str, ...] = ()
    #: Why no toxicity model judged this chat message (``no_letters``, ``rules``,
    #: ``too_long``, ``no_language``, ``overload``, ``loading``, ``error``,
    #: ``unavailable``); ``None`` once a model did, or for other events. Left out of the
    #: wire when ``None``.
    not_scored: str | None = Field(default=None, exclude_if=lambda value: value is None)

    def has(self, name: str) -> bool:
        return any(label.name == name for label in self.labels)

    @property
    def label_names(self) -> list[str]:
        seen: dict[str, None] = {}
        for label in self.labels:
            seen.setdefault(label.name, None)
        return list(seen)


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlarmState(StrEnum):
    RAISED = "raised"
    CLEARED = "cleared"


class Alarm(_Frozen):
    """A stateful condition on a stream (dead air, viewer drop, shitstorm …).

    An alarm is raised once and cleared once; ``id`` ties the two together.
    """

    type: Literal["alarm"] = "alarm"
    id: str
    stream: str
    kind: str
    source: str
    at: float
    state: AlarmState = AlarmState.RAISED
    severity: Severity = Severity.WARNING
    message: str
    data: dict[str, Any] = Field(default_factory=dict)
    #: ``message`` as a code and params (see :class:`Reason`); absent for free text.
    code: str | None = Field(default=None, exclude_if=_absent)
    params: dict[str, Any] = Field(default_factory=dict, exclude_if=_absent)


class Prompt(_Frozen):
    """A short, concrete suggestion for the host ("Thank @anna for the Rose streak")."""

    type: Literal["prompt"] = "prompt"
    id: str
    stream: str
    source: str
    at: float
    text: str
    priority: int = Field(default=1, ge=0, le=3)
    alarm_id: str | None = None
    #: After this time the prompt is stale and overlays drop it.
    expires_at: float | None = None
    #: ``text`` as a code and params (see :class:`Reason`); absent for free text.
    code: str | None = Field(default=None, exclude_if=_absent)
    params: dict[str, Any] = Field(default_factory=dict, exclude_if=_absent)


class TallyOption(_Frozen):
    """One poll option with its votes and its share of all votes (0–1)."""

    option: str
    votes: int = Field(ge=0)
    share: float = Field(ge=0.0, le=1.0)


class Tally(_Frozen):
    """The live state of a chat poll or giveaway, for overlays and the console.

    Sent on start, while the counts change (throttled) and once more when the poll closes
    or a winner is drawn; each one replaces the previous one with the same ``id``. It holds
    counts only, never who voted or entered; ``winners`` are the handles of drawn winners
    who are still eligible (a winner flagged afterwards drops out of it).
    """

    type: Literal["tally"] = "tally"
    id: str
    stream: str
    source: str
    at: float
    kind: Literal["poll", "giveaway"]
    open: bool
    #: The poll's question, or the giveaway's title (may be empty).
    title: str = ""
    #: Poll: the options in order (vote ``!1`` for the first).
    options: tuple[TallyOption, ...] = ()
    #: Poll: users with a vote.
    voters: int = Field(default=0, ge=0)
    #: Giveaway: what to type in chat to enter.
    keyword: str | None = None
    #: Giveaway: users who entered, and how many of them may still win.
    entries: int = Field(default=0, ge=0)
    eligible: int = Field(default=0, ge=0)
    winners: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _fits_kind(self) -> Tally:
        if self.kind == "poll" and (not self.options or self.keyword is not None):
            raise ValueError("a poll tally needs options and no keyword")
        if self.kind == "giveaway" and (not self.keyword or self.options):
            raise ValueError("a giveaway tally needs a keyword and no options")
        return self


class Visibility(StrEnum):
    """Where a chat message may be seen.

    ``visible``: everywhere, overlays included. ``held``: on the consoles only, awaiting a
    moderator (a stage's verdict or a moderator held it). ``hidden``: kept off the
    overlays by a moderator's decision (or a local block of its author).
    """

    VISIBLE = "visible"
    HELD = "held"
    HIDDEN = "hidden"


class ModerationDecision(_Frozen):
    """One chat message changed its :class:`Visibility`, as the moderation stage applied it.

    A moderator's ``hide``, ``approve``, ``unhide`` or ``hold`` (``moderator`` true,
    ``command`` the id of the command that asked for it); a message from an author a
    moderator blocked, hidden as it arrives (``block``, ``by`` who blocked, no command); or
    a stage's late verdict that held a visible message (``moderator`` false, ``by`` the
    stage). A moderator's decision is final for that message: later verdicts no longer
    change it.
    """

    type: Literal["moderation"] = "moderation"
    event_id: str
    stream: str
    at: float
    previous: Visibility
    state: Visibility
    #: ``hide``, ``approve``, ``unhide``, ``hold``, ``block`` (a moderator), ``hold`` (a stage).
    action: str
    #: The moderator's name, or the stage(s) whose verdict held the message.
    by: str
    moderator: bool
    reason: str = ""
    command: str | None = None
