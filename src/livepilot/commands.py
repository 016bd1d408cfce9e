"""Every moderator action and what its target and ``args`` may hold, checked before it is sent.

The stages apply commands long after the console sent them, on the bus; a stage can only
log a bad argument. The server checks each command here first, so an unknown action, a
``hide`` without the message it hides, a poll with one option or a giveaway without a
keyword is refused at once, with the reason, and nothing is sent or audited.

:data:`ACTIONS` is the one table of actions: the target each one names (or that it takes
none) and the model of its ``args``. Every model forbids unknown arguments and bounds
every string and list, so what passes is small enough to keep in the audit log.

=================  ======================  =============================================
action             target                  args
=================  ======================  =============================================
hide, approve,     message (event id)      none
unhide, hold,
pin, unpin
strike             user id                 points, label, kind, handle (all optional)
pardon, timeout,   user id                 none
block, unblock,
ban, unban
claim, dismiss     queue item id           none
answer             queue item id           text (optional)
ack_prompt,        prompt id               none
dismiss_prompt
segment_start      segment (optional)      segment (optional): name or 1-based number
segment_next       none                    none
poll_start         none                    question, options, keywords — or segment
poll_close         none                    none
giveaway_start     none                    keyword, title
giveaway_draw      none                    none
=================  ======================  =============================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "ACTIONS",
    "MAX_TARGET_LENGTH",
    "ActionSchema",
    "CommandError",
    "PollPlan",
    "check_args",
    "check_command",
    "vote_key",
]

#: The longest target (an event, user, queue item or prompt id) a command may name.
MAX_TARGET_LENGTH = 200

# Leading and trailing punctuation a vote may carry. Each run is matched anchored at the
# start of the text (the trailing one on the reversed text): one pass, linear in the text's
# length. A ``run+$`` search instead retries at every position of a long run — quadratic
# on chat that is a long run of spaces followed by anything else.
_LEADING = re.compile(r"[\s!#.?,:;\"'„“”]+")
_TRAILING = re.compile(r"[\s!.?,:;\"'„“”]+")


def vote_key(text: str) -> str:
    """How an option (or a vote for it) compares: no edge punctuation, case folded."""
    lead = _LEADING.match(text)
    rest = text[lead.end():] if lead else text
    trail = _TRAILING.match(rest[::-1])
    if trail:
        rest = rest[: len(rest) - trail.end()]
    return rest.casefold()


_Option = Annotated[str, Field(min_length=1, max_length=120)]
_Keyword = Annotated[str, Field(min_length=1, max_length=40)]
_SegmentRef = str | int


class PollPlan(BaseModel):
    """A prepared poll: the question, 2–9 options, and extra keywords per option."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    question: str = Field(min_length=1, max_length=500)
    options: tuple[_Option, ...] = Field(min_length=2, max_length=9)
    #: Option text → extra words that also vote for it (``{"Blau": ["blue", "💙"]}``).
    keywords: dict[str, Annotated[tuple[_Keyword, ...], Field(max_length=20)]] = Field(
        default_factory=dict, max_length=9
    )

    @model_validator(mode="after")
    def _check(self) -> PollPlan:
        if len({vote_key(o) for o in self.options}) != len(self.options):
            raise ValueError(f"poll options must be distinct, got {list(self.options)}")
        if any(not vote_key(o) for o in self.options):
            raise ValueError(f"every poll option needs a word, got {list(self.options)}")
        unknown = [k for k in self.keywords if k not in self.options]
        if unknown:
            raise ValueError(f"keywords for unknown option(s) {unknown}; options: "
                             f"{list(self.options)}")
        return self


class _Args(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _NoArgs(_Args):
    """Actions whose target says everything: any argument is a mistake."""


class _Segment(_Args):
    """``segment_start``: a segment's name or 1-based number; none starts the first."""

    segment: Annotated[str, Field(min_length=1, max_length=120)] | Annotated[
        int, Field(ge=1, le=999)
    ] | None = None


class _PreparedPoll(_Args):
    """``poll_start`` for the poll a run-of-show segment prepared."""

    segment: Annotated[str, Field(min_length=1, max_length=120)] | Annotated[
        int, Field(ge=1, le=999)
    ]


class _Giveaway(_Args):
    keyword: str = Field(min_length=1, max_length=40, pattern=r"\S")
    title: str = Field(default="", max_length=120)


class _Strike(_Args):
    points: float = Field(default=1.0, gt=0, le=100)
    #: A stage's late verdict: the label (and kind) whose points the strike is worth.
    label: str | None = Field(default=None, max_length=40)
    kind: str | None = Field(default=None, max_length=40)
    #: The user's @handle, for the console's watch list.
    handle: str | None = Field(default=None, max_length=80)


class _Answer(_Args):
    text: str | None = Field(default=None, max_length=2_000)


@dataclass(frozen=True, slots=True)
class ActionSchema:
    """What one action takes.

    ``target`` says what the target names (``"user id"``), ``None`` if the action takes
    none; ``target_required`` whether it must be there. ``args`` is the model of the
    arguments; when the arguments hold ``alternative[0]``, ``alternative[1]`` is used
    instead (``poll_start`` with ``segment`` runs a prepared poll).
    """

    target: str | None
    args: type[BaseModel] = _NoArgs
    target_required: bool = True
    alternative: tuple[str, type[BaseModel]] | None = None

    def model_for(self, args: Mapping[str, Any]) -> type[BaseModel]:
        if self.alternative is not None and self.alternative[0] in args:
            return self.alternative[1]
        return self.args


_MESSAGE = ActionSchema("message (event id)")
_USER = ActionSchema("user id")
_ITEM = ActionSchema("queue item id")
_PROMPT = ActionSchema("prompt id")
_NO_TARGET = ActionSchema(None, target_required=False)

#: Every moderator action the stages apply, and its schema. The server refuses any other.
ACTIONS: Mapping[str, ActionSchema] = MappingProxyType({
    "hide": _MESSAGE,
    "approve": _MESSAGE,
    "unhide": _MESSAGE,
    "hold": _MESSAGE,
    "pin": _MESSAGE,
    "unpin": _MESSAGE,
    "strike": ActionSchema("user id", _Strike),
    "pardon": _USER,
    "timeout": _USER,
    "block": _USER,
    "unblock": _USER,
    "ban": _USER,
    "unban": _USER,
    "claim": _ITEM,
    "answer": ActionSchema("queue item id", _Answer),
    "dismiss": _ITEM,
    "ack_prompt": _PROMPT,
    "dismiss_prompt": _PROMPT,
    "segment_start": ActionSchema("segment name or number", _Segment, target_required=False),
    "segment_next": _NO_TARGET,
    "poll_start": ActionSchema(None, PollPlan, False, ("segment", _PreparedPoll)),
    "poll_close": _NO_TARGET,
    "giveaway_start": ActionSchema(None, _Giveaway, target_required=False),
    "giveaway_draw": _NO_TARGET,
})


class CommandError(ValueError):
    """A command that cannot work. ``field`` names what was wrong (``action``, ``target``,
    ``args.points`` …); the message says which action, which field and why."""

    def __init__(self, action: str, field: str, problem: str) -> None:
        super().__init__(f"{action}: {field}: {problem}")
        self.action = action
        self.field = field


def check_command(action: str, target: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """The command's ``args`` as its schema reads them; :class:`CommandError` if the action
    is unknown or the target or arguments cannot work for it."""
    schema = ACTIONS.get(action)
    if schema is None:
        known = ", ".join(sorted(ACTIONS))
        raise CommandError(action, "action", f"unknown action; known: {known}")
    if len(target) > MAX_TARGET_LENGTH:
        raise CommandError(action, "target", f"longer than {MAX_TARGET_LENGTH} characters")
    if schema.target is None and target:
        raise CommandError(action, "target", "this action takes no target")
    if schema.target_required and not target:
        raise CommandError(action, "target", f"required: the {schema.target}")
    return check_args(action, args)


def check_args(action: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """``args`` as the action's model reads them (what the stage should get);
    :class:`CommandError` naming the argument if they cannot work."""
    schema = ACTIONS.get(action)
    if schema is None:
        raise CommandError(action, "action", "unknown action")
    model = schema.model_for(args)
    try:
        checked = model.model_validate(args)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown argument"
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise CommandError(action, f"args.{where}" if where else "args", message + more) from None
    return checked.model_dump(mode="json", exclude_unset=True)
