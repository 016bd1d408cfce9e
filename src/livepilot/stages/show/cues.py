"""The run-of-show on stage: segment commands in, the host's cues out.

:class:`ShowCues` wraps the :class:`~livepilot.stages.show.run_of_show.ShowTracker` for the
engagement stage: moderators start and advance segments (``segment_start`` with
``args.segment`` = name or number, ``segment_next``); each tick's timing notes become the
``segment_ending`` / ``segment_overrun`` alarms and cue prompts (talking points at the
start, "ends in 2 min", "the planned 15 min are up — move on?", the CTA reminder). It also
answers what other prompts need from the plan: the next prepared question, the poll to
suggest, the crisis guideline — with generic fallbacks when no plan is loaded.

A segment with a ``goal`` raises the ``goal`` alarm (info) while it runs, its data the goal
(``metric``, ``target``, ``label``, ``segment``, ``value`` counted so far): that is how the
goal overlay, on any API replica, learns the segment's goal and where its count starts. The
alarm is cleared when the segment ends. Likes, diamonds (a gift streak once, at its end)
and follows count towards it; the first time the count meets the target the host gets a
``goal_reached`` prompt, once per segment run.
"""

from __future__ import annotations

import logging
from typing import Any

from livepilot.commands import PollPlan
from livepilot.events import CommandEvent, FollowEvent, GiftEvent, LikeEvent, LiveEvent
from livepilot.insights import Severity
from livepilot.pipeline.alarm import AlarmLatch
from livepilot.pipeline.stage import Outbox
from livepilot.stages.show.prompts import PromptDesk, phrase, render
from livepilot.stages.show.run_of_show import (
    Goal,
    GoalMetric,
    RunOfShow,
    ShowNote,
    ShowTracker,
)

__all__ = ["COMMANDS", "ShowCues"]

log = logging.getLogger(__name__)

COMMANDS = frozenset({"segment_start", "segment_next"})

#: The host prompt when a segment goal is met (kept here, beside the goal it speaks of).
_GOAL_REACHED = {
    "de": "Ziel erreicht: {value} {metric} in „{name}“ – bedank dich beim Chat!",
    "en": "Goal reached: {value} {metric} in “{name}” – thank the chat!",
}
_METRIC_WORDS = {
    "de": {"likes": "Likes", "diamonds": "Diamanten", "follows": "Follower"},
    "en": {"likes": "likes", "diamonds": "diamonds", "follows": "followers"},
}


class ShowCues:
    """Segment timing alarms and cue prompts for one stream (a no-op without a plan)."""

    def __init__(
        self,
        stream: str,
        source: str,
        plan: RunOfShow | None,
        *,
        desk: PromptDesk,
        language: str,
    ) -> None:
        self._stream = stream
        self.tracker = ShowTracker(plan) if plan is not None else None
        self.ending = AlarmLatch(stream, "segment_ending", source, cooldown_s=0.0,
                                 severity=Severity.INFO)
        self.overrun = AlarmLatch(stream, "segment_overrun", source, cooldown_s=0.0,
                                  severity=Severity.WARNING)
        self.goal = AlarmLatch(stream, "goal", source, cooldown_s=0.0, severity=Severity.INFO)
        #: The segment run and goal the raised ``goal`` alarm announces.
        self._goal_shown: tuple[float, int, Goal] | None = None
        self._desk = desk
        self._language = language

    def replan(self, plan: RunOfShow) -> None:
        """An edited plan: carry on with the current segment if it is still in it."""
        self.tracker = self.tracker.replan(plan) if self.tracker else ShowTracker(plan)

    def command(self, cmd: CommandEvent, now: float, out: Outbox) -> None:
        if self.tracker is None:
            log.warning("stream %s: %s by %s but no run-of-show is loaded (LIVEPILOT_RUN_OF_SHOW)",
                        self._stream, cmd.action, cmd.by)
            return
        which = str(cmd.args.get("segment", cmd.target))
        try:
            if cmd.action == "segment_next":
                notes = self.tracker.advance(now)
            else:
                notes = self.tracker.start(now, which)
        except KeyError:
            log.warning("stream %s: %s by %s: no segment %r in the run-of-show",
                        self._stream, cmd.action, cmd.by, which)
            return
        self._cue(notes, now, out)
        self._sync_goal(now, out)

    def tick(self, now: float, out: Outbox) -> None:
        if self.tracker is not None:
            self._cue(self.tracker.tick(now), now, out)
            self._sync_goal(now, out)  # an edited plan may have changed the goal

    def on_event(self, event: LiveEvent, now: float, out: Outbox) -> None:
        """Count likes, diamonds and follows towards the running segment's goal."""
        tracker = self.tracker
        if tracker is None:
            return
        metric: GoalMetric
        if isinstance(event, LikeEvent):
            metric, amount = "likes", event.count
        elif isinstance(event, GiftEvent):
            if not event.final:  # a streak counts once, when it ends (as on the overlays)
                return
            metric, amount = "diamonds", event.diamonds
        elif isinstance(event, FollowEvent):
            metric, amount = "follows", 1
        else:
            return
        if self._goal_shown is None:
            # A segment resumed after a restart runs before the first tick announces its
            # goal: announce it now, so what comes before that tick counts too.
            self._sync_goal(now, out)
            if self._goal_shown is None:
                return
        notes = tracker.count(metric, amount, now)
        if notes:
            self._cue(notes, now, out)

    def snapshot(self, now: float) -> dict[str, Any]:
        """The run-of-show's state for the console (``loaded: false`` without a plan)."""
        if self.tracker is None:
            return {"loaded": False}
        return self.tracker.snapshot(now)

    # -- what other prompts take from the plan ----------------------------------------

    def question(self) -> str:
        """The next prepared question, or a generic one."""
        question = self.tracker.question() if self.tracker is not None else None
        return question or render(self._language, "fallback_question")

    def poll(self) -> PollPlan | None:
        return self.tracker.poll() if self.tracker is not None else None

    def crisis(self) -> str:
        plan = self.tracker.plan.crisis if self.tracker is not None else ""
        return plan or render(self._language, "fallback_crisis")

    # -- notes → alarms and prompts ---------------------------------------------------

    def _sync_goal(self, now: float, out: Outbox) -> None:
        """Keep the ``goal`` alarm saying what the running segment's goal is."""
        tracker = self.tracker
        segment = tracker.current if tracker is not None else None
        wanted: tuple[float, int, Goal] | None = None
        if (tracker is not None and segment is not None and segment.goal is not None
                and tracker.index is not None and tracker.started_at is not None):
            wanted = (tracker.started_at, tracker.index, segment.goal)
        if wanted == self._goal_shown:
            return
        self._desk.clear_alarm(self.goal, now, out, "segment goal over", withdraw=False)
        self._goal_shown = wanted
        if wanted is None or tracker is None or segment is None:
            return
        goal = wanted[2]
        alarm = self.goal.raise_(
            now, f"segment {segment.name!r}: goal {goal.target} {goal.metric}",
            {"segment": segment.name, "index": wanted[1], "started_at": wanted[0],
             "metric": goal.metric, "target": goal.target, "label": goal.label,
             "value": tracker.goal_value},
        )
        if alarm is not None:
            out.alarm(alarm)

    def _cue(self, notes: list[ShowNote], now: float, out: Outbox) -> None:
        desk, lang = self._desk, self._language
        for note in notes:
            seg = note.segment
            nxt = note.next.name if note.next is not None else None
            if note.kind in ("started", "ended", "finished"):
                desk.clear_alarm(self.ending, now, out, f"segment {seg.name!r} {note.kind}")
                desk.clear_alarm(self.overrun, now, out, f"segment {seg.name!r} {note.kind}")
            if note.kind == "started":
                points = "; ".join(seg.talking_points) or "—"
                text = phrase(lang, "segment_start", name=seg.name,
                              minutes=f"{seg.minutes:g}", points=points)
                desk.offer(now, "segment_start", text, priority=1)
            elif note.kind == "ending":
                alarm = self.ending.raise_(
                    now, f"segment {seg.name!r} ends in {note.minutes:.0f} min",
                    {"segment": seg.name, "index": note.index, "next": nxt},
                )
                if alarm is not None:
                    out.alarm(alarm)
                    after = phrase(lang, "segment_after", next=nxt) if nxt else ""
                    text = phrase(lang, "segment_ending", name=seg.name,
                                  minutes=f"{max(1, round(note.minutes))}", after=after)
                    desk.offer(now, "segment_ending", text, priority=1, alarm_id=alarm.id)
            elif note.kind == "overrun":
                desk.clear_alarm(self.ending, now, out, f"segment {seg.name!r} over time")
                alarm = self.overrun.raise_(
                    now, f"segment {seg.name!r} is over its planned {seg.minutes:g} min",
                    {"segment": seg.name, "index": note.index, "next": nxt},
                )
                if alarm is not None:
                    out.alarm(alarm)
                    after = phrase(lang, "segment_overrun_after", next=nxt) if nxt else ""
                    text = phrase(lang, "segment_overrun", name=seg.name,
                                  minutes=f"{seg.minutes:g}", after=after)
                    desk.offer(now, "segment_overrun", text, priority=2, alarm_id=alarm.id)
            elif note.kind == "cta" and seg.cta is not None:
                desk.offer(now, "cta", phrase(lang, "cta", text=seg.cta.text), priority=1)
            elif note.kind == "goal_reached" and seg.goal is not None:
                words = _METRIC_WORDS.get(lang, _METRIC_WORDS["de"])
                value = f"{note.value:,}".replace(",", "," if lang == "en" else ".")
                cheer = _GOAL_REACHED.get(lang, _GOAL_REACHED["de"]).format(
                    value=value, metric=words[seg.goal.metric], name=seg.name)
                desk.offer(now, "goal_reached", cheer, priority=2, alarm_id=self.goal.active)
