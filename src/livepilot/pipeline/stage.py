"""The stage seam: what every pipeline stage is, and the draft insight stages fill in.

A stage's decision logic is plain synchronous code with no I/O. The runner calls
``process`` for every event in order and ``tick`` about once a second of stream time,
so stateful stages (engagement, run-of-show) can raise alarms when *nothing* happens.
Stages that need background work (the ML batcher) also implement ``run``; the runner
owns that task. A stage that owns state about earlier events (a moderator's decision on a
message) also implements ``revise``: every late insight update passes through it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from livepilot.events import CommandEvent, LiveEvent, PinEvent
from livepilot.insights import (
    Action,
    Alarm,
    Insight,
    Label,
    ModerationDecision,
    Prompt,
    Reason,
    Tally,
)
from livepilot.texts import Phrase, wire_params

__all__ = [
    "ACTION_ORDER", "BackgroundStage", "Draft", "Hold", "LateSink", "Outbox", "RevisingStage",
    "Stage", "reason_of",
]


def reason_of(source: str, text: str | Phrase) -> Reason:
    """A :class:`Reason` from prose, or from a phrase with its code and params."""
    if isinstance(text, Phrase):
        return Reason(source=source, text=text.text, code=text.code,
                      params=wire_params(text.params))
    return Reason(source=source, text=text)

ACTION_ORDER: dict[Action | None, int] = {
    None: 0,
    Action.REVIEW: 1,
    Action.NOTE: 2,
    Action.HIDE: 3,
    Action.TIMEOUT: 4,
    Action.BLOCK: 5,
}

#: Where a background stage sends what it concludes later: a new version of an insight
#: (published), or a command for the stage that owns some state (fed back into the
#: stream's queue, e.g. a strike for a message only the model flagged).
#: Where a background stage hands what it concluded late: insight updates and commands,
#: a batch at a time (each call is one publish, so one fan-out to every client).
LateSink = Callable[[Sequence[Insight | CommandEvent]], Awaitable[None]]


@dataclass(slots=True)
class Outbox:
    """Alarms, prompts, tallies and moderation decisions a stage publishes, outside any
    one event's insight."""

    alarms: list[Alarm] = field(default_factory=list)
    prompts: list[Prompt] = field(default_factory=list)
    tallies: list[Tally] = field(default_factory=list)
    decisions: list[ModerationDecision] = field(default_factory=list)
    #: Messages a moderator put on (or took off) the on-screen spotlight.
    pins: list[PinEvent] = field(default_factory=list)

    def alarm(self, alarm: Alarm) -> None:
        self.alarms.append(alarm)

    def prompt(self, prompt: Prompt) -> None:
        self.prompts.append(prompt)

    def tally(self, tally: Tally) -> None:
        self.tallies.append(tally)

    def decide(self, decision: ModerationDecision) -> None:
        self.decisions.append(decision)

    def pin(self, pin: PinEvent) -> None:
        self.pins.append(pin)


@dataclass(frozen=True, slots=True)
class Hold:
    """An earlier message a stage found to belong with this event (the first messages of
    a raid wave, published before the wave was recognised), to be held by the stage that
    owns message state."""

    event_id: str
    source: str
    reason: str


@dataclass(slots=True)
class Draft:
    """The insight for one event while the stages work on it."""

    event: LiveEvent
    now: float
    out: Outbox = field(default_factory=Outbox)
    labels: list[Label] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    reasons: list[Reason] = field(default_factory=list)
    action: Action | None = None
    hidden: bool = False
    answer: str | None = None
    pending: list[str] = field(default_factory=list)
    #: Why no model judged this message (see :attr:`Insight.not_scored`).
    not_scored: str | None = None
    #: Earlier messages to hold because of this one (not part of its insight).
    holds: list[Hold] = field(default_factory=list)

    def label(
        self, name: str, source: str, kind: str | None = None, score: float | None = None
    ) -> None:
        self.labels.append(Label(name=name, source=source, kind=kind, score=score))

    def reason(self, source: str, text: str | Phrase) -> None:
        """Add a reason; a :class:`Phrase` carries its code and params next to the prose."""
        self.reasons.append(reason_of(source, text))

    def hold(self, event_id: str, source: str, reason: str) -> None:
        """Ask the stage that owns message state to hold the earlier message ``event_id``."""
        self.holds.append(Hold(event_id=event_id, source=source, reason=reason))

    def recommend(self, action: Action) -> None:
        """Keep the strongest recommendation any stage made."""
        if ACTION_ORDER[action] > ACTION_ORDER[self.action]:
            self.action = action

    def has(self, name: str) -> bool:
        return any(label.name == name for label in self.labels)

    @property
    def notable(self) -> bool:
        return bool(self.labels or self.reasons or self.action or self.hidden or self.answer)

    def freeze(self) -> Insight:
        event = self.event
        return Insight(
            event_id=event.id,
            stream=event.stream,
            labels=tuple(self.labels),
            scores=dict(self.scores),
            reasons=tuple(self.reasons),
            action=self.action,
            hidden=self.hidden,
            answer=self.answer,
            pending=tuple(self.pending),
            not_scored=self.not_scored,
        )


@runtime_checkable
class Stage(Protocol):
    """One step of the pipeline. ``name`` is its metric label, log field and label source."""

    name: str

    def process(self, event: LiveEvent, draft: Draft) -> None:
        """Read the event and the draft so far; add labels, reasons, alarms."""
        ...

    def tick(self, now: float, out: Outbox) -> None:
        """Called about once a second of stream time, events or not."""
        ...


@runtime_checkable
class BackgroundStage(Stage, Protocol):
    async def run(self, late: LateSink) -> None:
        """Background work (e.g. model batches) that publishes insight updates via ``late``."""
        ...

    async def drain(self) -> None:
        """Return once every update for events processed so far has been published.

        The runner awaits this (with a deadline) after the last event, before it cancels
        ``run`` — so a replay's output includes the model's late verdicts.
        """
        ...


@runtime_checkable
class RevisingStage(Stage, Protocol):
    def revise(self, insight: Insight, now: float, out: Outbox) -> Insight:
        """A late version of an event's insight (e.g. the model's verdict) as this stage's
        state makes it, before it is published: a moderator's decision on the message
        outlives any later verdict. Return ``insight`` itself when nothing changes."""
        ...
