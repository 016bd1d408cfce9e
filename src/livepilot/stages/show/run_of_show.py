"""The run-of-show (Ablaufplan): planned segments, and the tracker that times them.

``rules/run-of-show.yaml`` parses into a frozen :class:`RunOfShow`: ordered segments with
planned minutes, talking points, prepared questions, an optional poll, a call to action
and a goal for the on-stream goal bar, plus the crisis guideline. :class:`ShowTracker`
follows the live show: a moderator starts or advances segments (``segment_start`` /
``segment_next`` commands), and on every tick the tracker reports what the host should
hear — the segment is about to end, it has overrun, it is time for the CTA, its goal is
met. It returns plain :class:`ShowNote` values; the engagement stage turns them into alarms
and prompts, so all host prompts share one rate limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from livepilot.commands import PollPlan
from livepilot.yamlfile import load_model

__all__ = [
    "GOAL_METRICS",
    "Cta",
    "Goal",
    "GoalMetric",
    "RunOfShow",
    "Segment",
    "ShowNote",
    "ShowTracker",
    "load_run_of_show",
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Cta(_Model):
    """A call to action, reminded every ``every_minutes`` while its segment runs."""

    text: str = Field(min_length=1)
    every_minutes: float = Field(default=5.0, gt=0)


GoalMetric = Literal["likes", "diamonds", "follows"]
#: What a segment goal can count, as the goal overlay names it.
GOAL_METRICS: tuple[GoalMetric, ...] = ("likes", "diamonds", "follows")


class Goal(_Model):
    """A segment's goal for the goal bar: ``target`` likes, diamonds or follows counted from
    the moment the segment starts (``label`` is the bar's title; empty: "Ziel: 5.000 Likes").
    """

    metric: GoalMetric
    target: int = Field(gt=0, le=10**12)
    label: str = Field(default="", max_length=120)


class Segment(_Model):
    name: str = Field(min_length=1)
    minutes: float = Field(gt=0, le=24 * 60)
    talking_points: tuple[str, ...] = ()
    #: Questions for the chat, used (in turn) when the chat goes quiet.
    questions: tuple[str, ...] = ()
    poll: PollPlan | None = None
    cta: Cta | None = None
    goal: Goal | None = None


class RunOfShow(_Model):
    title: str = ""
    #: Warn the host this long before a segment's planned end.
    warn_before_minutes: float = Field(default=2.0, ge=0)
    #: What the host does when a shitstorm starts (shown with the shitstorm prompt).
    crisis: str = ""
    #: Questions for any segment, used after the current segment's own.
    questions: tuple[str, ...] = ()
    segments: tuple[Segment, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> RunOfShow:
        names = [s.name.casefold() for s in self.segments]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"segment names must be unique, repeated: {duplicates}")
        return self

    def find(self, name_or_number: str) -> Segment | None:
        """A segment by name (case-insensitive) or 1-based number."""
        index = self.index_of(name_or_number)
        return None if index is None else self.segments[index]

    def index_of(self, name_or_number: str) -> int | None:
        key = name_or_number.strip()
        if key.isdigit():
            index = int(key) - 1
            return index if 0 <= index < len(self.segments) else None
        for index, segment in enumerate(self.segments):
            if segment.name.casefold() == key.casefold():
                return index
        return None


def load_run_of_show(path: Path) -> RunOfShow:
    """Parse and validate a run-of-show file (raises ``RulesError`` naming file and field)."""
    return load_model(path, RunOfShow, "run-of-show")


NoteKind = Literal["started", "ended", "ending", "overrun", "cta", "finished", "goal_reached"]


@dataclass(frozen=True, slots=True)
class ShowNote:
    """Something the host should know about the show's timing."""

    kind: NoteKind
    segment: Segment
    #: 0-based position of ``segment`` in the plan.
    index: int
    at: float
    #: Minutes left (``ending``) or over (``overrun``).
    minutes: float = 0.0
    next: Segment | None = None
    #: ``goal_reached``: the count since the segment started (at or above the target).
    value: int = 0


class ShowTracker:
    """Where the show is: the current segment, since when, and what was already said."""

    def __init__(self, plan: RunOfShow) -> None:
        self.plan = plan
        self.index: int | None = None
        self.started_at: float | None = None
        #: When the last segment was left with ``advance``; ``None`` before and while live.
        self.finished_at: float | None = None
        self._warned = False
        self._overrun = False
        self._last_cta = 0.0
        self._question = 0
        #: The current segment's goal: counted since it started, and whether it was met.
        self.goal_value = 0
        self._goal_reached = False

    def replan(self, plan: RunOfShow) -> ShowTracker:
        """A tracker for an edited plan that carries on where this one is.

        The current segment is found again by name (its timer keeps running); if the edit
        removed it, the show waits for the next ``segment_start``.
        """
        fresh = ShowTracker(plan)
        current = self.current
        index = plan.index_of(current.name) if current is not None else None
        if index is not None and self.started_at is not None:
            fresh.index = index
            fresh.started_at = self.started_at
            fresh._warned = self._warned
            fresh._overrun = self._overrun
            fresh._last_cta = self._last_cta
            fresh._question = self._question
            goal, before = plan.segments[index].goal, current.goal if current else None
            if goal is not None and before is not None and goal.metric == before.metric:
                # The count goes on; an edited target is met (again) when it is reached.
                fresh.goal_value = self.goal_value
                fresh._goal_reached = self._goal_reached and self.goal_value >= goal.target
        fresh.finished_at = self.finished_at
        return fresh

    def resume(
        self, index: int, started_at: float, now: float, *, goal_value: int = 0
    ) -> None:
        """Go on with segment ``index`` (0-based), running since ``started_at``, after a
        restart: its timer counts from then, its goal from ``goal_value``.

        The show notes follow where the timer stands: the ``ending`` / ``overrun`` notes
        come again on the next tick if they are due (the alarms they raised went with the
        process); a goal already met is not cheered again; the CTA reminder counts its
        interval from ``now``; the prepared questions start over.
        """
        if not 0 <= index < len(self.plan.segments):
            raise IndexError(index)
        self.index = index
        self.started_at = min(started_at, now)
        self.finished_at = None
        self._warned = False
        self._overrun = False
        self._last_cta = now
        self._question = 0
        goal = self.plan.segments[index].goal
        self.goal_value = max(0, goal_value) if goal is not None else 0
        self._goal_reached = goal is not None and self.goal_value >= goal.target

    def resume_finished(self, at: float) -> None:
        """After a restart: the show had finished at ``at`` (no segment runs)."""
        self.index = None
        self.started_at = None
        self.finished_at = at
        self.goal_value = 0
        self._goal_reached = False

    @property
    def current(self) -> Segment | None:
        return None if self.index is None else self.plan.segments[self.index]

    @property
    def next_segment(self) -> Segment | None:
        if self.index is None or self.index + 1 >= len(self.plan.segments):
            return None
        return self.plan.segments[self.index + 1]

    def start(self, now: float, which: str = "") -> list[ShowNote]:
        """Start segment ``which`` (name or 1-based number; empty: the first)."""
        index = 0 if not which else self.plan.index_of(which)
        if index is None:
            raise KeyError(which)
        notes = self._end(now)
        self.index = index
        self.started_at = now
        self.finished_at = None
        self._warned = False
        self._overrun = False
        self._last_cta = now
        self._question = 0
        self.goal_value = 0
        self._goal_reached = False
        segment = self.plan.segments[index]
        notes.append(ShowNote("started", segment, index, now, segment.minutes, self.next_segment))
        return notes

    def advance(self, now: float) -> list[ShowNote]:
        """Move on to the next segment; after the last one the show is finished."""
        if self.index is None:
            return self.start(now)
        if self.index + 1 < len(self.plan.segments):
            return self.start(now, str(self.index + 2))
        notes = self._end(now)
        last = self.plan.segments[-1]
        notes.append(ShowNote("finished", last, len(self.plan.segments) - 1, now))
        self.index = None
        self.started_at = None
        self.finished_at = now
        return notes

    def _end(self, now: float) -> list[ShowNote]:
        if self.index is None or self.started_at is None:
            return []
        segment = self.plan.segments[self.index]
        over = max(0.0, (now - self.started_at) / 60.0 - segment.minutes)
        return [ShowNote("ended", segment, self.index, now, over, self.next_segment)]

    def tick(self, now: float) -> list[ShowNote]:
        if self.index is None or self.started_at is None:
            return []
        segment = self.plan.segments[self.index]
        elapsed = now - self.started_at
        planned = segment.minutes * 60.0
        warn_before = self.plan.warn_before_minutes * 60.0
        notes: list[ShowNote] = []
        if (
            not self._warned
            and warn_before > 0
            and planned > warn_before
            and planned - warn_before <= elapsed < planned
        ):
            self._warned = True
            notes.append(ShowNote("ending", segment, self.index, now,
                                  (planned - elapsed) / 60.0, self.next_segment))
        if not self._overrun and elapsed >= planned:
            self._overrun = True
            notes.append(ShowNote("overrun", segment, self.index, now,
                                  (elapsed - planned) / 60.0, self.next_segment))
        cta = segment.cta
        if cta is not None and now - self._last_cta >= cta.every_minutes * 60.0:
            self._last_cta = now
            notes.append(ShowNote("cta", segment, self.index, now))
        return notes

    def count(self, metric: GoalMetric, amount: int, now: float) -> list[ShowNote]:
        """Count ``amount`` likes, diamonds or follows towards the current segment's goal;
        a ``goal_reached`` note once, when the count first meets the target."""
        segment = self.current
        if segment is None or self.index is None or amount <= 0:
            return []
        goal = segment.goal
        if goal is None or goal.metric != metric:
            return []
        self.goal_value += amount
        if self._goal_reached or self.goal_value < goal.target:
            return []
        self._goal_reached = True
        return [ShowNote("goal_reached", segment, self.index, now, value=self.goal_value,
                         next=self.next_segment)]

    def question(self) -> str | None:
        """The next prepared question: the current segment's first, then the plan's."""
        segment = self.current
        pool = (segment.questions if segment else ()) + self.plan.questions
        if not pool:
            return None
        question = pool[self._question % len(pool)]
        self._question += 1
        return question

    def poll(self) -> PollPlan | None:
        """The poll to suggest now: the current segment's, else the next prepared one."""
        segments = self.plan.segments
        start = self.index or 0
        for segment in segments[start:] + segments[:start]:
            if segment.poll is not None:
                return segment.poll
        return None

    def snapshot(self, now: float) -> dict[str, Any]:
        """Where the show is, JSON-ready, for the console (reads only: no prepared question
        is used up).

        ``remaining_s`` goes negative when the segment overruns; ``next_question`` is the
        one the next quiet-chat prompt will suggest.
        """
        plan = self.plan
        current: dict[str, Any] | None = None
        segment = self.current
        if segment is not None and self.index is not None and self.started_at is not None:
            planned = segment.minutes * 60.0
            elapsed = max(0.0, now - self.started_at)
            cta = segment.cta
            current = {
                "index": self.index,
                "name": segment.name,
                "minutes": segment.minutes,
                "started_at": self.started_at,
                "elapsed_s": elapsed,
                "remaining_s": planned - elapsed,
                "overrun": elapsed >= planned,
                "talking_points": list(segment.talking_points),
                "questions": list(segment.questions),
                "poll": segment.poll.model_dump(mode="json") if segment.poll else None,
                "goal": None if segment.goal is None else {
                    **segment.goal.model_dump(mode="json"),
                    "value": self.goal_value,
                    "reached": self._goal_reached,
                },
                "cta": None if cta is None else {
                    "text": cta.text,
                    "every_minutes": cta.every_minutes,
                    "next_in_s": max(0.0, self._last_cta + cta.every_minutes * 60.0 - now),
                },
            }
        pool = (segment.questions if segment else ()) + plan.questions
        upcoming = self.next_segment
        return {
            "loaded": True,
            "title": plan.title,
            "warn_before_minutes": plan.warn_before_minutes,
            "segments": [
                {"index": i, "name": s.name, "minutes": s.minutes, "poll": s.poll is not None}
                for i, s in enumerate(plan.segments)
            ],
            "current": current,
            "finished_at": self.finished_at,
            "next": upcoming.name if upcoming is not None else None,
            "next_question": pool[self._question % len(pool)] if pool else None,
            "questions": list(plan.questions),
        }
