"""Where each chat message may be seen — visible, held or hidden — with who, why and when.

Every chat message (and platform question) the moderation stage sees gets a state
(:class:`~livepilot.insights.Visibility`):

- ``visible``: on every console and overlay;
- ``held``: on the consoles only, awaiting review — a stage's verdict hid it (the toxicity
  policy's hide threshold, the word or spam filter's hide action, the strike ladder), or
  a moderator held it;
- ``hidden``: off the overlays by a moderator's decision, or because a moderator blocked
  its author locally.

Moderators move a message with ``hide`` (→ hidden), ``approve`` or ``unhide``
(→ visible) and ``hold`` (→ held, back into the review queue). A message from an author a
moderator blocked arrives hidden by that decision (a ``block`` decision, no queue item).
Policy:

- a stage may only ever *hold* a visible message that no moderator has decided on (a late
  model verdict, or one of a raid wave's first messages once the wave is recognised,
  :meth:`MessageStates.hold`); stages never release or hide;
- a moderator's ``hide``, ``approve`` or ``unhide`` is final for that message: a later
  verdict cannot undo it, and a late insight update is revised to match the state before
  it is published (``Insight.hidden`` always says whether the message is off the
  overlays);
- the same decision twice is a no-op (nothing is published); a command for a message
  this stream does not know (never seen, or forgotten) is ignored with a warning.

The review queue holds every message a stage flagged (``toxic``, ``spam``) or held, open
until a moderator decides on it; then it moves to the handled list, which keeps the
newest ``max_handled`` decisions with who decided, from which state to which.

Bounded: the newest ``max_messages`` messages of the stream, each forgotten ``ttl``
seconds after it arrived (checked on tick, oldest first, a bounded number per tick); at
most ``max_open`` open items — when a raid floods the queue the oldest open item leaves
it and is counted in ``dropped``, its message keeps its state.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from livepilot.events import ChatEvent, CommandEvent, PinEvent, QuestionEvent, User
from livepilot.insights import Insight, Label, ModerationDecision, Reason, Visibility
from livepilot.pipeline.stage import Draft

__all__ = [
    "MAX_HANDLED",
    "MAX_MESSAGES",
    "MAX_OPEN",
    "MESSAGE_ACTIONS",
    "MESSAGE_TTL",
    "MessageStates",
]

log = logging.getLogger(__name__)

#: Messages remembered per stream, and for how long (seconds).
MAX_MESSAGES = 10_000
MESSAGE_TTL = 2 * 3600.0
#: Open review items per stream, and handled ones kept for the view.
MAX_OPEN = 1_000
MAX_HANDLED = 50

#: Each moderator action on a message and the state it asks for.
MESSAGE_ACTIONS: dict[str, Visibility] = {
    "hide": Visibility.HIDDEN,
    "approve": Visibility.VISIBLE,
    "unhide": Visibility.VISIBLE,
    "hold": Visibility.HELD,
}

_FLAGS = frozenset({"toxic", "spam"})
_TEXT = 300  # characters of a message kept for the review view
_REASON = 200  # characters of each reason kept
_REASONS = 4
_SWEEP = 500  # messages looked at per tick for expiry


@dataclass(slots=True)
class _Message:
    user_id: str
    handle: str
    nickname: str
    text: str
    #: The event's own time (shown), and when the stage saw it (what expiry counts from).
    at: float
    seen: float
    state: Visibility
    #: Who put it in ``state``, why, and since when.
    by: str
    reason: str
    since: float
    #: A moderator's hide/approve/unhide (or a block): no verdict changes it any more.
    final: bool = False
    #: The last decision: its action, the state before it, the command that asked.
    action: str = ""
    previous: Visibility | None = None
    command: str | None = None
    #: What the stages flagged (``toxic:insult``, ``spam``) and said, for the queue.
    flags: tuple[str, ...] = ()
    why: tuple[str, ...] = ()
    #: The reasons behind ``why`` with their codes (for the console's own language).
    coded: tuple[Reason, ...] = ()


class MessageStates:
    """One stream's message states and review queue; plain synchronous code, no I/O."""

    def __init__(
        self,
        *,
        max_messages: int = MAX_MESSAGES,
        ttl: float = MESSAGE_TTL,
        max_open: int = MAX_OPEN,
        max_handled: int = MAX_HANDLED,
    ) -> None:
        if min(max_messages, max_open, max_handled) < 1 or ttl <= 0:
            raise ValueError("message state bounds must be positive")
        self._max = max_messages
        self._ttl = ttl
        self._max_open = max_open
        self._max_handled = max_handled
        self._messages: OrderedDict[str, _Message] = OrderedDict()  # arrival order
        self._open: OrderedDict[str, None] = OrderedDict()
        self._handled: OrderedDict[str, None] = OrderedDict()  # oldest decision first
        #: Open items that left a full queue undecided.
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._messages)

    @property
    def open_count(self) -> int:
        return len(self._open)

    def state(self, event_id: str) -> Visibility | None:
        message = self._messages.get(event_id)
        return None if message is None else message.state

    # -- what changes the state ---------------------------------------------------------

    def admit(self, event: ChatEvent | QuestionEvent, draft: Draft,
              blocked_by: str | None = None) -> ModerationDecision | None:
        """A new message, with the verdict the stages reached on it (``draft``).

        Its state is in its insight (``hidden``: held for review) — except for a message
        from an author a moderator blocked, which is hidden by that decision: returned as
        a ``block`` decision to publish, so every console can tell it from a held one.
        """
        if event.id in self._messages:
            return None  # a redelivered event keeps the state it has
        flags = _flags(draft.labels)
        if blocked_by is not None:
            state, by, reason = Visibility.HIDDEN, blocked_by, f"author blocked by {blocked_by}"
        elif draft.hidden:
            state, by, reason = Visibility.HELD, _sources(draft.labels, draft.reasons), \
                _reason(draft.reasons)
        else:
            state, by, reason = Visibility.VISIBLE, "", ""
        user = event.user
        message = _Message(
            user_id=user.id, handle=user.unique_id, nickname=user.nickname,
            text=event.text[:_TEXT], at=event.at, seen=draft.now, state=state, by=by,
            reason=reason,
            since=draft.now, final=blocked_by is not None, flags=flags,
        )
        messages = self._messages
        messages[event.id] = message
        while len(messages) > self._max:
            self._forget(next(iter(messages)))
        if (flags or state is Visibility.HELD) and not message.final:
            message.why, message.coded = _whys(draft.reasons), tuple(draft.reasons[:_REASONS])
            self._reopen(event.id)
        if blocked_by is None:
            return None
        message.action = "block"
        return ModerationDecision(
            event_id=event.id, stream=event.stream, at=draft.now, previous=Visibility.VISIBLE,
            state=state, action="block", by=blocked_by, moderator=True, reason=reason,
        )

    def command(self, command: CommandEvent, now: float) -> ModerationDecision | None:
        """Apply a moderator's ``hide``, ``approve``, ``unhide`` or ``hold``; the decision
        to publish, or ``None`` when nothing changed (the same decision again, an unknown
        message)."""
        wanted = MESSAGE_ACTIONS.get(command.action)
        if wanted is None:
            return None
        event_id = command.target
        message = self._messages.get(event_id)
        if message is None:
            log.warning(
                "moderation: %s by %s ignored: no message %.200r among this stream's last "
                "%d (never seen, or forgotten)", command.action, command.by, event_id,
                len(self._messages),
            )
            return None
        final = command.action != "hold"
        if message.state is wanted and (message.final if final else event_id in self._open):
            log.debug("moderation: %s of %s by %s changes nothing", command.action, event_id,
                      command.by)
            return None
        previous = message.state
        message.state, message.by, message.since = wanted, command.by, now
        message.final, message.action, message.previous = final, command.action, previous
        message.command = command.id
        message.reason = "" if final else f"held for review by {command.by}"
        if final:
            self._open.pop(event_id, None)
            self._handled.pop(event_id, None)
            self._handled[event_id] = None
            while len(self._handled) > self._max_handled:
                self._handled.popitem(last=False)
        else:
            self._handled.pop(event_id, None)
            self._reopen(event_id)
        log.info("moderation: %s %s message %s (%s → %s)", command.by, command.action,
                 event_id, previous, wanted)
        return ModerationDecision(
            event_id=event_id, stream=command.stream, at=now, previous=previous,
            state=wanted, action=command.action, by=command.by, moderator=True,
            reason=message.reason, command=command.id,
        )

    def pin(self, command: CommandEvent, now: float) -> PinEvent | None:
        """Apply a moderator's ``pin`` / ``unpin`` (the on-screen spotlight); the pin event
        to publish, or ``None``. Only a visible message goes on screen: pinning a held or
        hidden one, or one this stream does not know, is ignored with a warning."""
        message = self._messages.get(command.target)
        pinned = command.action == "pin"
        if message is None or (pinned and message.state is not Visibility.VISIBLE):
            log.warning("moderation: %s by %s ignored: message %.200r is %s", command.action,
                        command.by, command.target,
                        "unknown" if message is None else message.state.value)
            return None
        return PinEvent(
            id=f"{command.id}:pin", stream=command.stream, at=now, received=now,
            target=command.target, pinned=pinned, text=message.text,
            user=User(id=message.user_id, unique_id=message.handle,
                      nickname=message.nickname),
        )

    def hold(self, event_id: str, stream: str, now: float, by: str,
             reason: str) -> ModerationDecision | None:
        """A stage holds an earlier message (one of a raid wave's first messages): the
        decision to publish, or ``None`` when the message is unknown, a moderator decided
        on it, or it is off the overlays already."""
        message = self._messages.get(event_id)
        if message is None or message.final or message.state is not Visibility.VISIBLE:
            return None
        previous = message.state
        message.state, message.by, message.since = Visibility.HELD, by, now
        message.reason = reason[:_REASON]
        if message.reason not in message.why:
            message.why = (*message.why, message.reason)[-_REASONS:]
        self._handled.pop(event_id, None)
        self._reopen(event_id)
        return ModerationDecision(
            event_id=event_id, stream=stream, at=now, previous=previous,
            state=Visibility.HELD, action="hold", by=by, moderator=False,
            reason=message.reason,
        )

    def revise(self, insight: Insight, now: float) -> tuple[Insight, ModerationDecision | None]:
        """A late verdict on a message, made to agree with its state: it may hold a visible
        message no moderator decided on (the decision is returned to publish); anything
        else keeps the state, and ``insight.hidden`` is set to match it."""
        message = self._messages.get(insight.event_id)
        if message is None:
            return insight, None
        flags = _flags(insight.labels)
        if flags != message.flags and flags:
            message.flags = flags
            message.why, message.coded = _whys(insight.reasons), insight.reasons[:_REASONS]
            if not message.final and insight.event_id not in self._handled:
                self._reopen(insight.event_id)
        if insight.hidden and message.state is Visibility.VISIBLE and not message.final:
            previous = message.state
            by = _sources(insight.labels, insight.reasons)
            message.state, message.by, message.since = Visibility.HELD, by, now
            message.reason = _reason(insight.reasons)
            message.why, message.coded = _whys(insight.reasons), insight.reasons[:_REASONS]
            self._handled.pop(insight.event_id, None)
            self._reopen(insight.event_id)
            return insight, ModerationDecision(
                event_id=insight.event_id, stream=insight.stream, at=now, previous=previous,
                state=Visibility.HELD, action="hold", by=by, moderator=False,
                reason=message.reason,
            )
        hidden = message.state is not Visibility.VISIBLE
        if insight.hidden != hidden:
            insight = insight.model_copy(update={"hidden": hidden})
        return insight, None

    def expire(self, now: float) -> int:
        """Forget messages older than the ttl, oldest first, at most a sweep's worth;
        returns how many."""
        messages = self._messages
        horizon = now - self._ttl
        gone = 0
        while messages and gone < _SWEEP:
            event_id, message = next(iter(messages.items()))
            if message.seen > horizon:
                break
            self._forget(event_id)
            gone += 1
        return gone

    def _reopen(self, event_id: str) -> None:
        self._open.pop(event_id, None)
        self._open[event_id] = None
        while len(self._open) > self._max_open:
            self._open.popitem(last=False)
            self.dropped += 1

    def _forget(self, event_id: str) -> None:
        del self._messages[event_id]
        self._open.pop(event_id, None)
        self._handled.pop(event_id, None)

    # -- the read side ------------------------------------------------------------------

    def review(self, limit: int = 200) -> dict[str, Any]:
        """The review queue, JSON-ready: counts, the open items (newest first, at most
        ``limit``) and the handled ones (latest decision first)."""
        return {
            "open": len(self._open),
            "handled": len(self._handled),
            "dropped": self.dropped,
            "messages": len(self._messages),
            "open_items": [self.message(i) for i in _newest(self._open, limit)],
            "handled_items": [self.message(i) for i in _newest(self._handled, limit)],
        }

    def message(self, event_id: str) -> dict[str, Any]:
        """One message's state, JSON-ready; ``state`` is ``None`` for a message this
        stream does not know (never seen, or forgotten)."""
        m = self._messages.get(event_id)
        if m is None:
            return {"event_id": event_id, "state": None}
        return {
            "event_id": event_id,
            "state": str(m.state),
            "by": m.by,
            "reason": m.reason,
            "since": m.since,
            "final": m.final,
            "open": event_id in self._open,
            "action": m.action or None,
            "previous": None if m.previous is None else str(m.previous),
            "command": m.command,
            "at": m.at,
            "user": {"id": m.user_id, "unique_id": m.handle, "nickname": m.nickname},
            "text": m.text,
            "flags": list(m.flags),
            "reasons": list(m.why),
            # ``reasons`` again, each with its code and params where a stage gave them.
            "said": [_said(text, m.coded) for text in m.why],
        }


def _newest(table: OrderedDict[str, None], limit: int) -> list[str]:
    out: list[str] = []
    for event_id in reversed(table):
        if len(out) >= limit:
            break
        out.append(event_id)
    return out


def _flags(labels: list[Label] | tuple[Label, ...]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for label in labels:
        if label.name in _FLAGS:
            seen.setdefault(f"{label.name}:{label.kind}" if label.kind else label.name, None)
    return tuple(seen)


def _sources(labels: list[Label] | tuple[Label, ...],
             reasons: list[Reason] | tuple[Reason, ...]) -> str:
    """The stages behind a hold: those that flagged the message, else those that said why."""
    seen: dict[str, None] = {}
    for label in labels:
        if label.name in _FLAGS:
            seen.setdefault(label.source, None)
    if not seen:
        for reason in reasons:
            seen.setdefault(reason.source, None)
    return ", ".join(seen) or "livepilot"


def _reason(reasons: list[Reason] | tuple[Reason, ...]) -> str:
    return " · ".join(r.text[:_REASON] for r in reasons[:_REASONS])


def _said(text: str, coded: tuple[Reason, ...]) -> dict[str, object]:
    for reason in coded:
        if reason.text[:_REASON] == text:
            return reason.model_dump(mode="json")
    return {"text": text}


def _whys(reasons: list[Reason] | tuple[Reason, ...]) -> tuple[str, ...]:
    return tuple(r.text[:_REASON] for r in reasons[:_REASONS])
