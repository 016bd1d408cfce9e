"""One stored stream in the making: published messages in, rows out.

A :class:`Recording` reads the wire messages of one stream (events, insights, alarms,
prompts) plus the moderator commands that reached it, and turns them into the store's
rows (:mod:`livepilot.store.schema`). Plain synchronous code with no I/O: rows go to a
:class:`RowSink` (the writer), which never blocks.

Everything is keyed by the stream's own time: an event by its ``at``, an insight or a
command by the time of the stream when it came (the newest event time so far), an alarm
or prompt by its ``at`` (stream time too, from the runner's clock). Minute ``n`` is
``[start + 60 n, start + 60 (n + 1))`` from the first event, so a replay at any speed
stores the same minutes.

Chat rows wait for their final insight (the one with nothing ``pending``: the model's
late verdict replaces the first), at most ``_PENDING_S`` of stream time; only then are
they counted as flagged or not, so a chat's minute gets the same verdict whichever way
the model ran.

A message withdrawn from the question queue by a late toxic verdict (the update no
longer carries its ``queued`` label) counts in its item's ``withdrawn``; an item left with
no ask is stored as ``withdrawn``.

A recording can go on with a stored stream the process stopped in the middle of
(:class:`Resumption`, after a restart): same key, the stored numbers as the base, the
time it was down stored as a gap with the cause ``restart``.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Table

from livepilot.events import (
    ChatEvent,
    CommandEvent,
    EmoteEvent,
    FollowEvent,
    GapEvent,
    GiftEvent,
    JoinEvent,
    LikeEvent,
    LiveEvent,
    QuestionEvent,
    ShareEvent,
    StatusEvent,
    StreamState,
    SubscribeEvent,
    ViewerCountEvent,
)
from livepilot.insights import Alarm, AlarmState, Insight, Prompt
from livepilot.leads import LeadPolicy
from livepilot.store import schema
from livepilot.store.minutes import Minute, MinuteBook
from livepilot.store.segments import SegmentTracker, ShowPlan

__all__ = ["Recording", "Resumption", "RowSink", "stream_key"]

log = logging.getLogger(__name__)

#: A chat message waits this long (stream seconds) for its final insight.
_PENDING_S = 30.0
_PENDING_MAX = 20_000
#: A command waits this long for the insight saying what it changed.
_COMMAND_S = 10.0
#: Distinct users remembered per stream (for unique counts); past it counts are bounds.
_USER_CAP = 500_000

_SEEN, _CHATTED, _INTERACTED = 1, 2, 4
_QUEUE_STATES = frozenset({"claimed", "answered", "dismissed"})
_QUEUE_LABELS = ("lead", "question", "feedback_negative")


class RowSink(Protocol):
    """Where rows go (:class:`~livepilot.store.writer.StoreWriter`); never blocks."""

    def stream(self, key: str, row: dict[str, Any], *, opening: bool = False) -> None: ...

    def put(self, table: Table, row: dict[str, Any]) -> None: ...

    def append(self, table: Table, row: dict[str, Any]) -> bool: ...


def stream_key(name: str, started_at: float) -> str:
    """``name@2026-01-01T00:00:00Z``: the same recording replayed gets the same key."""
    when = datetime.fromtimestamp(started_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{name}@{when}"


@dataclass(frozen=True, slots=True)
class Resumption:
    """A stored stream to go on with, as read back at start-up (rows as stored)."""

    stream: dict[str, Any]
    #: Why the stream paused: ``restart`` (its process stopped it) or ``crash`` (its
    #: process died without an end); the cause of the gap the pause becomes.
    cause: str = "restart"
    minutes: list[dict[str, Any]] = field(default_factory=list)
    segments: list[dict[str, Any]] = field(default_factory=list)
    questions: list[dict[str, Any]] = field(default_factory=list)


class _Pending:
    __slots__ = ("event", "insight", "minute")

    def __init__(self, event: ChatEvent | QuestionEvent, minute: Minute) -> None:
        self.event = event
        self.minute = minute
        self.insight: Insight | None = None


class Recording:
    """One stream's rows, built as its messages arrive; see the module docstring."""

    def __init__(
        self,
        name: str,
        started_at: float,
        sink: RowSink,
        *,
        creator: str,
        platform: str,
        plan: ShowPlan | None,
        policy: LeadPolicy,
        wall: Callable[[], float],
        resume: Resumption | None = None,
    ) -> None:
        first = started_at
        if resume is not None:
            started_at = float(resume.stream["started_at"])
        self.name = name
        self.started_at = started_at
        self.key = stream_key(name, started_at)
        self._sink = sink
        self._policy = policy
        self._stream: dict[str, Any] = {
            "stream": self.key, "name": name, "creator": creator, "platform": platform,
            "run_of_show": plan.title if plan is not None else None,
            "started_at": started_at, "last_at": started_at, "ended_at": None,
            "end_reason": None, "recorded_at": wall(), "peak_viewers": None, "peak_at": None,
            "viewers_total": None,
            "users_capped": False,
        }
        self._wall = wall
        #: The end of the newest gap stored (gaps arrive in time order).
        self._gaps_until = float("-inf")
        #: The newest event time so far: "now" for insights and commands.
        self.now = started_at
        self.ended = False
        self.minutes = MinuteBook(self.key, started_at)
        self.segments = SegmentTracker(plan)
        self._users: dict[str, int] = {}
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._commands: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._questions: dict[str, dict[str, Any]] = {}
        self._dirty_questions: set[str] = set()
        self._alarms: dict[str, dict[str, Any]] = {}
        if resume is not None:
            self._resume(resume, first)
        sink.stream(self.key, self._stream_row(), opening=resume is None)

    def _resume(self, resume: Resumption, first: float) -> None:
        """Go on with a stored stream: its numbers are the base; the pause is a gap."""
        stored = resume.stream
        kept = ("recorded_at", "peak_viewers", "peak_at", "viewers_total", "users_capped",
                "last_at")
        self._stream.update({k: stored[k] for k in kept if k in stored})
        last = float(stored["last_at"])
        self.now = max(self.now, last)
        self.minutes.seed(resume.minutes)
        self.segments.seed(resume.segments)
        for row in resume.questions:
            item = {k: v for k, v in row.items() if k != "stream_id"}
            item["stream"] = self.key
            item.setdefault("withdrawn", 0)
            self._questions[str(row["item"])] = item
        if first > last:
            self._gap(last, first, resume.cause)
        log.info("store: %s resumed after a %s (%.0f s later)", self.key, resume.cause,
                 max(0.0, first - last))

    # -- events ---------------------------------------------------------------------------

    def event(self, event: LiveEvent) -> None:
        at = event.at
        if at > self.now:
            self.now = at
        if isinstance(event, ChatEvent | QuestionEvent):
            minute = self._minute(at)
            minute.count("chat" if isinstance(event, ChatEvent) else "questions")
            if isinstance(event, QuestionEvent):
                minute.count("chat")
            self._user(event.user.id, minute, _CHATTED)
            self._pending[event.id] = _Pending(event, minute)
            self._expire_pending()
        elif isinstance(event, GiftEvent):
            minute = self._minute(at)
            self._user(event.user.id, minute, _INTERACTED)
            if event.final:
                minute.count("gifts")
                minute.count("diamonds", event.diamonds)
                self._sink.append(schema.gifts, {
                    "stream": self.key, "at": at, "handle": event.user.unique_id,
                    "gift_name": event.gift_name, "count": event.count,
                    "diamonds": event.diamonds,
                })
        elif isinstance(event, LikeEvent):
            minute = self._minute(at)
            minute.count("likes", event.count)
            self._user(event.user.id, minute, _INTERACTED)
        elif isinstance(event, ShareEvent | FollowEvent | SubscribeEvent):
            minute = self._minute(at)
            minute.count({"share": "shares", "follow": "follows"}.get(event.type, "subscribes"))
            self._user(event.user.id, minute, _INTERACTED)
        elif isinstance(event, EmoteEvent):
            self._user(event.user.id, self._minute(at), _INTERACTED)
        elif isinstance(event, JoinEvent):
            minute = self._minute(at)
            minute.count("joins", event.count)
            self._user(event.user.id, minute, _SEEN)
        elif isinstance(event, ViewerCountEvent):
            self._minute(at)
            self.minutes.viewers(at, event.count, event.total)
            peak = self._stream["peak_viewers"]
            if peak is None or event.count > peak:
                self._stream["peak_viewers"] = event.count
                self._stream["peak_at"] = at
            if event.total is not None:
                known = self._stream["viewers_total"]
                self._stream["viewers_total"] = max(known or 0, event.total)
        elif isinstance(event, StatusEvent):
            self._sink.append(schema.states, {"stream": self.key, "at": at,
                                              "state": str(event.state), "detail": event.detail})
            if event.state is StreamState.LIVE_ENDED:
                self._end(at, "live_ended")
        elif isinstance(event, GapEvent):
            self._gap(event.start, event.end, event.cause)
        elif isinstance(event, CommandEvent):
            self.command(event, at)
        if at > self._stream["last_at"]:
            self._stream["last_at"] = at

    def _minute(self, at: float) -> Minute:
        minute = self.minutes.at(at)
        current = self.segments.current
        if current is not None:
            minute.segment = current
        return minute

    def _user(self, user_id: str, minute: Minute, flag: int) -> None:
        """Count a user as seen (and chatting / interacting) in the stream and minute."""
        before = self._users.get(user_id)
        if before is None:
            if len(self._users) >= _USER_CAP:
                self._stream["users_capped"] = True
                minute.touch(user_id, flag, new=0)
                return
            before = 0
        wanted = flag | _SEEN | (_INTERACTED if flag == _CHATTED else 0)
        if before & wanted != wanted:
            self._users[user_id] = before | wanted
        minute.touch(user_id, wanted, new=wanted & ~before)

    # -- what the stages concluded ----------------------------------------------------------

    def insight(self, insight: Insight) -> None:
        pending = self._pending.get(insight.event_id)
        if pending is not None:
            previous = pending.insight
            if previous is None or insight.version >= previous.version:
                pending.insight = insight
                self._queued(pending.event, insight)
                if previous is not None and insight.version > previous.version:
                    self._withdrawn(previous, insight)
            if not insight.pending:
                del self._pending[insight.event_id]
                self._finish_chat(pending)
            return
        command = self._commands.pop(insight.event_id, None)
        if command is not None:
            outcome = "; ".join(r.text for r in insight.reasons) or ",".join(insight.label_names)
            command["outcome"] = outcome[:200] or None
            self._sink.append(schema.commands, command)
        by = command["by"] if command is not None else None
        for label in insight.labels:
            if label.name in _QUEUE_STATES and label.kind:
                self._queue_state(label.kind, label.name, by, label.score)

    def _queued(self, event: ChatEvent | QuestionEvent, insight: Insight) -> None:
        """A message that joined the question queue: a new item, or one more asker."""
        queued = next((lb for lb in insight.labels if lb.name == "queued" and lb.kind), None)
        if queued is None or queued.kind is None:
            return
        askers = int(queued.score or 1)
        item = self._questions.get(queued.kind)
        if item is None:
            label = min((lb for lb in insight.labels if lb.name in _QUEUE_LABELS),
                        key=lambda lb: _QUEUE_LABELS.index(lb.name), default=None)
            name = label.name if label is not None else "question"
            text: str | None = event.text
            if name == "lead" and not self._policy.message:
                text = None
            item = self._questions[queued.kind] = {
                "stream": self.key, "item": queued.kind, "label": name,
                "kind": label.kind if label is not None else None, "text": text,
                "asked_at": event.at, "last_at": event.at, "askers": askers, "state": "open",
                "claimed_by": None, "claimed_at": None, "closed_by": None,
                "closed_at": None, "response_s": None, "withdrawn": 0,
            }
        else:
            item["askers"] = max(item["askers"], askers)
            item["last_at"] = max(item["last_at"], event.at)
        self._dirty_questions.add(queued.kind)

    def _withdrawn(self, previous: Insight, insight: Insight) -> None:
        """A queued message whose update has no ``queued`` label any more: the late
        verdict took it back out of its item."""
        item_id = None
        for label in previous.labels:  # plain loops: this runs on every late update
            if label.name == "queued":
                item_id = label.kind
        if item_id is None:
            return
        for label in insight.labels:
            if label.name == "queued":
                return
        item = self._questions.get(item_id)
        if item is None:
            return
        item["withdrawn"] = int(item.get("withdrawn") or 0) + 1
        if item["withdrawn"] >= item["askers"] and item["state"] == "open":
            item["state"] = "withdrawn"
        self._dirty_questions.add(item_id)

    def _queue_state(self, item_id: str, state: str, by: str | None, score: float | None) -> None:
        item = self._questions.get(item_id)
        if item is None:
            return
        if state == "claimed":
            item.update(state="claimed", claimed_by=by, claimed_at=self.now)
        else:
            item.update(state=state, closed_by=by, closed_at=self.now)
            if state == "answered":
                item["response_s"] = score
        self._dirty_questions.add(item_id)

    def _finish_chat(self, pending: _Pending) -> None:
        event, insight, minute = pending.event, pending.insight, pending.minute
        labels = insight.labels if insight is not None else ()
        names = {label.name for label in labels}
        flagged = "toxic" in names or "spam" in names
        for name, column in (("toxic", "toxic"), ("spam", "spam"), ("question", "questions"),
                             ("feedback_positive", "positive"), ("lead", "leads"),
                             ("feedback_negative", "negative"), ("tech_issue", "tech_reports")):
            if name in names and not (column == "questions" and isinstance(event, QuestionEvent)):
                minute.count(column)
        if flagged:
            minute.count("flagged")
        hidden = insight is not None and insight.hidden
        if hidden:
            minute.count("hidden")
        policy = self._policy
        user = self._user_as(event.user.id, event.user.unique_id)
        lead = "lead" in names
        text = event.text if policy.message or not lead else None
        tags: dict[str, None] = {}
        for label in labels:
            tags[f"{label.name}:{label.kind}" if label.kind else label.name] = None
        self._sink.append(schema.chat, {
            "stream": self.key, "event_id": event.id, "at": event.at, "type": event.type,
            "user": user, "text": text, "labels": ",".join(tags), "hidden": hidden,
            "action": str(insight.action) if insight is not None and insight.action else None,
        })
        if lead:
            kind = next((lb.kind for lb in labels if lb.name == "lead"), None) or "other"
            item = next((lb.kind for lb in labels if lb.name == "queued"), None)
            self._sink.append(schema.leads, {
                "stream": self.key, "event_id": event.id, "at": event.at, "kind": kind,
                "user": user, "text": text, "item": item,
            })

    def _user_as(self, user_id: str, handle: str) -> str | None:
        mode = self._policy.user
        if mode == "handle":
            return handle
        if mode == "pseudonym":
            return self._policy.pseudonym(user_id)
        return None

    def _expire_pending(self) -> None:
        horizon = self.now - _PENDING_S
        pending = self._pending
        while pending:
            first = next(iter(pending.values()))
            if first.event.at >= horizon and len(pending) <= _PENDING_MAX:
                break
            pending.popitem(last=False)
            self._finish_chat(first)

    # -- alarms, prompts, commands --------------------------------------------------------

    def alarm(self, alarm: Alarm) -> None:
        row = self._alarms.get(alarm.id)
        if row is None:
            row = {
                "stream": self.key, "alarm_id": alarm.id, "kind": alarm.kind,
                "source": alarm.source, "severity": str(alarm.severity),
                "message": alarm.message,
                "data": json.dumps(alarm.data, sort_keys=True, default=str),
                "raised_at": alarm.at, "cleared_at": None,
            }
        if alarm.state is AlarmState.CLEARED:
            row["cleared_at"] = alarm.at
            if alarm.kind in ("poll", "giveaway"):
                # The clear carries the result (votes per option, the winner).
                row["data"] = json.dumps({**alarm.data, "result": alarm.message},
                                         sort_keys=True, default=str)
            self._alarms.pop(alarm.id, None)
        else:
            self._alarms[alarm.id] = row
        self._sink.put(schema.alarms, row)

    def prompt(self, prompt: Prompt) -> None:
        self._sink.append(schema.prompts, {
            "stream": self.key, "prompt_id": prompt.id, "at": prompt.at,
            "source": prompt.source, "text": prompt.text, "priority": prompt.priority,
            "alarm_id": prompt.alarm_id,
        })

    def command(self, command: CommandEvent, at: float | None = None) -> None:
        """A moderator command that reached the stream, at stream time ``at`` (now)."""
        when = self.now if at is None else at
        which = str(command.args.get("segment", command.target))
        self.segments.command(command.action, which, when)
        self._commands[command.id] = {
            "stream": self.key, "command_id": command.id, "at": when, "wall_at": self._wall(),
            "action": command.action, "target": command.target, "by": command.by,
            "args": json.dumps(command.args, sort_keys=True, default=str), "outcome": None,
        }
        horizon = self.now - _COMMAND_S
        while self._commands:
            first = next(iter(self._commands.values()))
            if first["at"] >= horizon and len(self._commands) <= 1_000:
                break
            self._commands.popitem(last=False)
            self._sink.append(schema.commands, first)

    # -- writing ----------------------------------------------------------------------------

    def emit(self) -> None:
        """Hand every changed aggregate to the sink (minutes, questions, segments, stream)."""
        self._sink.stream(self.key, self._stream_row())
        for row in self.minutes.changed(self.now):
            self._sink.put(schema.minutes, row)
        for item_id in sorted(self._dirty_questions):
            self._sink.put(schema.questions, dict(self._questions[item_id]))
        self._dirty_questions.clear()
        for row in self.segments.changed():
            self._sink.put(schema.segments, {"stream": self.key, **row})

    def finish(self, reason: str) -> None:
        """The stream is over (or the process stops): settle everything and emit it."""
        while self._pending:
            _, pending = self._pending.popitem(last=False)
            self._finish_chat(pending)
        while self._commands:
            _, command = self._commands.popitem(last=False)
            self._sink.append(schema.commands, command)
        end = self._stream["ended_at"] or self._stream["last_at"]
        self._end(end, self._stream["end_reason"] or reason)
        self.emit()

    def _gap(self, start: float, end: float, cause: str) -> None:
        """Store a data gap; time an earlier gap row already covers is not stored twice
        (a worker that takes over a dead one's stream reports the same silence as a
        ``failover`` gap that the resumed recording already stored as ``crash``)."""
        start = max(start, self._gaps_until)
        if end <= start:
            return
        self._gaps_until = end
        self._sink.append(schema.gaps, {"stream": self.key, "start": start, "end": end,
                                        "cause": cause})

    def _end(self, at: float, reason: str) -> None:
        self.ended = True
        self._stream["ended_at"] = at
        self._stream["end_reason"] = reason
        self.minutes.close(at)
        self.segments.end(at)

    def _stream_row(self) -> dict[str, Any]:
        return {k: v for k, v in self._stream.items() if k != "stream"} | {"stream": self.key}
