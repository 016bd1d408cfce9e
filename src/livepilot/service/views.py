"""The view table: what the API may read from the stages, by view name.

Each entry names the stage that keeps the state and a reader that mypy checks against
that stage's class; the stage found under that name is checked again when the view is
read, so a chain configured without it answers :class:`ViewUnavailable`, never a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import NamedTuple, TypeVar, cast

from livepilot.server.state import JSONValue, ViewUnavailable
from livepilot.stages.audience.questions import QuestionsStage
from livepilot.stages.moderation.moderation import ModerationStage
from livepilot.stages.moderation.toxicity import ToxicityStage
from livepilot.stages.show.engagement import EngagementStage
from livepilot.stages.show.polls import PollsStage

__all__ = ["KEYED_VIEWS", "VIEWS", "KeyedStageView", "StageView"]

_S = TypeVar("_S")


class StageView(NamedTuple):
    """A view: the stage that keeps the state, and its reader ``read(stage, now)``."""

    stage: str
    read: Callable[[object, float], JSONValue]


class KeyedStageView(NamedTuple):
    """A view of one item: the stage, and its reader ``read(stage, key, now)``."""

    stage: str
    read: Callable[[object, str, float], JSONValue]


def _stage_of(kind: type[_S], stage: object, view: str) -> _S:
    if not isinstance(stage, kind):
        raise ViewUnavailable(
            f"view {view!r} reads a stage of type {kind.__name__}, "
            f"not {type(stage).__name__}"
        )
    return stage


def _view(stage: str, kind: type[_S], read: Callable[[_S, float], JSONValue]) -> StageView:
    """A view read by ``read`` from the stage named ``stage``, which must be a ``kind``.

    The reader is type-checked against ``kind`` (mypy sees each lambda's stage type), and
    the stage found under that name is checked against it when the view is read.
    """

    def checked(found: object, now: float) -> JSONValue:
        return read(_stage_of(kind, found, stage), now)

    return StageView(stage, checked)


def _keyed(
    stage: str, kind: type[_S], read: Callable[[_S, str, float], JSONValue]
) -> KeyedStageView:
    def checked(found: object, key: str, now: float) -> JSONValue:
        return read(_stage_of(kind, found, stage), key, now)

    return KeyedStageView(stage, checked)


#: What the API may read from the stages: view name → stage name and typed reader.
VIEWS: Mapping[str, StageView] = MappingProxyType({
    "summary": _view(
        "engagement", EngagementStage, lambda s, now: s.summary().model_dump(mode="json")
    ),
    "rates": _view("engagement", EngagementStage, lambda s, now: s.rates(now)),
    "prompts": _view(
        "engagement",
        EngagementStage,
        lambda s, now: [p.model_dump(mode="json") for p in s.open_prompts(now)],
    ),
    "show": _view("engagement", EngagementStage, lambda s, now: s.cues.snapshot(now)),
    "polls": _view("polls", PollsStage, lambda s, now: s.snapshot()),
    "questions": _view("questions", QuestionsStage, lambda s, now: s.snapshot()),
    "kpi": _view("questions", QuestionsStage, lambda s, now: s.kpi()),
    # Each scorer's status is {"scorer": str, "available": bool, "reason": str}.
    "toxicity": _view("toxicity", ToxicityStage, lambda s, now: cast(JSONValue, s.status)),
    "users": _view("moderation", ModerationStage, lambda s, now: s.watch_list(now)),
    # The review queue: open and handled counts, open items, the latest decisions.
    "review": _view("moderation", ModerationStage, lambda s, now: s.messages.review()),
})

#: Views of one item in a stage's state, served at ``…/{view}/{key}``. ``users/{user_id}``
#: is one user's strike state, ``messages/{event_id}`` one chat message's moderation state;
#: an unknown key reads as a clean state, not an error.
KEYED_VIEWS: Mapping[str, KeyedStageView] = MappingProxyType({
    "users": _keyed("moderation", ModerationStage, lambda s, key, now: s.user_state(key, now)),
    "messages": _keyed("moderation", ModerationStage, lambda s, key, now: s.messages.message(key)),
})
