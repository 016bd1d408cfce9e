"""What a moderator command's ``args`` may hold, checked before it is sent.

The stages apply commands long after the console sent them, on the bus; a stage can only
log a bad argument. The server checks ``args`` here first, so a poll with one option or a
giveaway without a keyword is refused at once, with the reason, and nothing is sent.
Actions without a model here take no arguments that need checking.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = ["CommandArgsError", "PollPlan", "check_args", "vote_key"]

_EDGE = re.compile(r"^[\s!#.?,:;\"'„“”]+|[\s!.?,:;\"'„“”]+$")


def vote_key(text: str) -> str:
    """How an option (or a vote for it) compares: no edge punctuation, case folded."""
    return _EDGE.sub("", text).casefold()


class PollPlan(BaseModel):
    """A prepared poll: the question, 2–9 options, and extra keywords per option."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    question: str = Field(min_length=1)
    options: tuple[str, ...] = Field(min_length=2, max_length=9)
    #: Option text → extra words that also vote for it (``{"Blau": ["blue", "💙"]}``).
    keywords: dict[str, tuple[str, ...]] = Field(default_factory=dict)

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


class _Segment(_Args):
    """``segment_start``: a segment's name or 1-based number; none starts the first."""

    segment: str | int | None = None


class _PreparedPoll(_Args):
    """``poll_start`` for the poll a run-of-show segment prepared."""

    segment: str | int


class _Giveaway(_Args):
    keyword: str = Field(min_length=1, max_length=40, pattern=r"\S")
    title: str = Field(default="", max_length=120)


class _Strike(_Args):
    points: float = Field(default=1.0, gt=0, le=100)
    label: str | None = None
    kind: str | None = None
    handle: str | None = None


class _Answer(_Args):
    text: str | None = Field(default=None, max_length=2_000)


_MODELS: dict[str, type[BaseModel]] = {
    "segment_start": _Segment,
    "giveaway_start": _Giveaway,
    "strike": _Strike,
    "answer": _Answer,
}


class CommandArgsError(ValueError):
    """``args`` do not fit the action; the message says which field and why."""


def check_args(action: str, args: dict[str, Any]) -> None:
    """Raise :class:`CommandArgsError` if ``args`` cannot work for ``action``."""
    if action == "poll_start":
        model: type[BaseModel] = _PreparedPoll if "segment" in args else PollPlan
    else:
        found = _MODELS.get(action)
        if found is None:
            return
        model = found
    try:
        model.model_validate(args)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown argument"
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        field = f"args.{where}: " if where else "args: "
        raise CommandArgsError(f"{action}: {field}{message}{more}") from None
