"""One alarm's lifecycle: a deterministic id, raised once, cleared once, then quiet.

Every alarm livepilot publishes (engagement, run-of-show cues, gift moments, copy-paste
raids, tech issues, polls and giveaways, rejected rules files) is raised and cleared
through an :class:`AlarmLatch`, so an alarm behaves the same whichever stage owns it:

* its id is ``<stream>:<kind>:<n>`` (``<stream>:<kind>:<subject>:<n>`` for a latch with a
  subject), the same for the raise and its clear, and counted rather than random, so a
  replay publishes identical output on every run;
* it is not raised again while raised, and nothing is cleared that was not raised;
* after a clear it stays quiet for ``cooldown_s`` (hysteresis in time), so a signal
  hovering at its threshold never flaps.

Latches whose alarms must never share a number (one per copy-paste wave, one per kind of
tech issue) share an :class:`AlarmCounter`.
"""

from __future__ import annotations

from typing import Any, Protocol

from livepilot.insights import Alarm, AlarmState, Severity
from livepilot.texts import Phrase, wire_params

__all__ = ["AlarmCounter", "AlarmLatch", "AlarmSink", "publish"]


class AlarmSink(Protocol):
    """Where alarms are published (a stage's ``Outbox``)."""

    def alarm(self, alarm: Alarm) -> None: ...


def publish(out: AlarmSink, alarm: Alarm | None) -> None:
    """Publish what a latch returned, if anything changed."""
    if alarm is not None:
        out.alarm(alarm)


class AlarmCounter:
    """The running number at the end of alarm ids; shared by latches that must not reuse
    one another's numbers."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        #: The number of the last raise (0: none yet).
        self.last = 0


class AlarmLatch:
    """Raise/clear state for one alarm on one stream, with a cool-down after each clear.

    :meth:`raise_` and :meth:`clear` return the :class:`~livepilot.insights.Alarm` to
    publish, or ``None`` when nothing changes (already raised, still cooling down, not
    raised). ``cooldown_s`` and ``severity`` may be changed at any time (a rules reload);
    the cool-down is measured from the last clear with the value current at the next
    raise, so an edited cool-down applies at once.
    """

    __slots__ = ("_cleared_at", "_counter", "_kind", "_prefix", "_source", "_stream", "active",
                 "cooldown_s", "raised_at", "severity")

    def __init__(
        self,
        stream: str,
        kind: str,
        source: str,
        *,
        subject: str = "",
        cooldown_s: float = 0.0,
        severity: Severity = Severity.WARNING,
        counter: AlarmCounter | None = None,
    ) -> None:
        self._stream = stream
        self._kind = kind
        self._source = source
        self._prefix = f"{stream}:{kind}:{subject}:" if subject else f"{stream}:{kind}:"
        self._counter = counter if counter is not None else AlarmCounter()
        self._cleared_at = float("-inf")
        self.cooldown_s = cooldown_s
        self.severity = severity
        #: The id of the raised alarm, or None.
        self.active: str | None = None
        self.raised_at: float | None = None

    @property
    def kind(self) -> str:
        return self._kind

    @property
    def next_id(self) -> str:
        """The id the next raise will carry (to name an object after its alarm first)."""
        return f"{self._prefix}{self._counter.last + 1}"

    def can_raise(self, now: float) -> bool:
        return self.active is None and now - self._cleared_at >= self.cooldown_s

    def raise_(
        self,
        now: float,
        message: str | Phrase,
        data: dict[str, Any] | None = None,
        severity: Severity | None = None,
    ) -> Alarm | None:
        """The raise to publish; ``None`` while raised or cooling down."""
        if not self.can_raise(now):
            return None
        self._counter.last += 1
        self.active = f"{self._prefix}{self._counter.last}"
        self.raised_at = now
        return self._alarm(self.active, now, AlarmState.RAISED, message, data, severity)

    def clear(
        self, now: float, message: str | Phrase, data: dict[str, Any] | None = None
    ) -> Alarm | None:
        """The clear to publish; ``None`` when not raised. Starts the cool-down."""
        alarm_id = self.active
        if alarm_id is None:
            return None
        self.active = None
        self.raised_at = None
        self._cleared_at = now
        return self._alarm(alarm_id, now, AlarmState.CLEARED, message, data, None)

    def _alarm(
        self,
        alarm_id: str,
        now: float,
        state: AlarmState,
        message: str | Phrase,
        data: dict[str, Any] | None,
        severity: Severity | None,
    ) -> Alarm:
        return Alarm(
            id=alarm_id,
            stream=self._stream,
            kind=self._kind,
            source=self._source,
            at=now,
            state=state,
            severity=severity or self.severity,
            message=str(message),
            data=data or {},
            code=message.code if isinstance(message, Phrase) else None,
            params=wire_params(message.params) if isinstance(message, Phrase) else {},
        )
