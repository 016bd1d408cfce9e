"""The run-of-show on stage: segment commands in, the host's cues out.

:class:`ShowCues` wraps the :class:`~livepilot.stages.show.run_of_show.ShowTracker` for the
engagement stage: moderators start and advance segments (``segment_start`` with
``args.segment`` = name or number, ``segment_next``); each tick's timing notes become the
``segment_ending`` / ``segment_overrun`` alarms and cue prompts (talking points at the
start, "ends in 2 min", "the planned 15 min are up — move on?", the CTA reminder). It also
answers what other prompts need from the plan: the next prepared question, the poll to
suggest, the crisis guideline — with generic fallbacks when no plan is loaded.
"""

from __future__ import annotations

import logging
from typing import Any

from livepilot.commands import PollPlan
from livepilot.events import CommandEvent
from livepilot.insights import Severity
from livepilot.pipeline.alarm import AlarmLatch
from livepilot.pipeline.stage import Outbox
from livepilot.stages.show.prompts import PromptDesk, render
from livepilot.stages.show.run_of_show import RunOfShow, ShowNote, ShowTracker

__all__ = ["COMMANDS", "ShowCues"]

log = logging.getLogger(__name__)

COMMANDS = frozenset({"segment_start", "segment_next"})


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

    def tick(self, now: float, out: Outbox) -> None:
        if self.tracker is not None:
            self._cue(self.tracker.tick(now), now, out)

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
                text = render(lang, "segment_start", name=seg.name,
                              minutes=f"{seg.minutes:g}", points=points)
                desk.offer(now, "segment_start", text, priority=1)
            elif note.kind == "ending":
                alarm = self.ending.raise_(
                    now, f"segment {seg.name!r} ends in {note.minutes:.0f} min",
                    {"segment": seg.name, "index": note.index, "next": nxt},
                )
                if alarm is not None:
                    out.alarm(alarm)
                    after = render(lang, "segment_after", next=nxt) if nxt else ""
                    text = render(lang, "segment_ending", name=seg.name,
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
                    after = render(lang, "segment_overrun_after", next=nxt) if nxt else ""
                    text = render(lang, "segment_overrun", name=seg.name,
                                  minutes=f"{seg.minutes:g}", after=after)
                    desk.offer(now, "segment_overrun", text, priority=2, alarm_id=alarm.id)
            elif note.kind == "cta" and seg.cta is not None:
                desk.offer(now, "cta", render(lang, "cta", text=seg.cta.text), priority=1)
