"""The ``model_overload`` alarm: the toxicity model lane is shedding messages.

Raised on the first message the lane could not score (evicted, stale or turned away),
with how many and how deep the queue is; cleared once the lane has shed nothing for
``CLEAR_AFTER`` seconds, with how many messages went without a model verdict meanwhile.
The messages themselves say ``not_scored: overload`` on their insights.
"""

from __future__ import annotations

from livepilot.insights import Alarm, AlarmState, Severity
from livepilot.pipeline.stage import Outbox
from livepilot.texts import Phrase, say, wire_params

__all__ = ["CLEAR_AFTER", "OverloadAlarm"]

#: The alarm clears after this long without a shed message (seconds).
CLEAR_AFTER = 30.0


class OverloadAlarm:
    """The ``model_overload`` alarm: raised on the first shed message, cleared once the
    lane has shed nothing for ``CLEAR_AFTER`` seconds."""

    def __init__(self, stream: str, source: str, language: str) -> None:
        self.stream = stream
        self.source = source
        self.german = language == "de"
        self.seen = 0
        self.since = 0
        self.last = 0.0
        self.raised: str | None = None
        self._seq = 0

    def tick(self, now: float, shed_total: int, depth: int, out: Outbox) -> bool | None:
        """Raise or clear; returns the new state when it changed, else ``None``."""
        fresh = shed_total - self.seen
        self.seen = shed_total
        if fresh > 0:
            self.since += fresh
            self.last = now
            if self.raised is None:
                self._seq += 1
                self.raised = f"{self.stream}:{self.source}:overload:{self._seq}"
                message = (
                    f"Toxizitätsmodell überlastet: {fresh} Nachrichten ohne Modellurteil — "
                    "unsichere Nachrichten und neue Zuschauer zuerst"
                    if self.german else
                    f"Toxicity model overloaded: {fresh} messages not scored — uncertain "
                    "messages and new viewers first"
                )
                out.alarm(self._alarm(now, AlarmState.RAISED,
                                      say("alarm_text.overload_raised", message, n=fresh),
                                      {"shed": fresh, "queue": depth}))
                return True
            return None
        if self.raised is not None and now - self.last >= CLEAR_AFTER:
            message = (
                f"Toxizitätsmodell wieder aktuell; {self.since} Nachrichten blieben ohne "
                "Modellurteil" if self.german else
                f"Toxicity model caught up; {self.since} messages were not scored"
            )
            out.alarm(self._alarm(now, AlarmState.CLEARED,
                                  say("alarm_text.overload_cleared", message, n=self.since),
                                  {"shed": self.since}))
            self.raised = None
            self.since = 0
            return False
        return None

    def _alarm(self, now: float, state: AlarmState, message: Phrase,
               data: dict[str, object]) -> Alarm:
        assert self.raised is not None
        return Alarm(id=self.raised, stream=self.stream, kind="model_overload",
                     source=self.source, at=now, state=state, severity=Severity.WARNING,
                     message=message.text, data=data, code=message.code,
                     params=wire_params(message.params))
