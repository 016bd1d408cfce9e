"""The tech-issue alarm: several distinct viewers report one problem → one alarm.

Reports are counted per kind of problem (``no_audio``, ``lag``, ...) over a sliding
window, once per viewer; the alarm is raised with a host prompt when enough viewers agree,
cleared when the reports stop, and then stays quiet for a cool-down so that a flaky
connection does not flap it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from livepilot.insights import Alarm, AlarmState, Prompt, Severity
from livepilot.pipeline.stage import Outbox
from livepilot.stages.audience.intent_rules import TechAlarmRules, TechKindRules

__all__ = ["TechIssueWatch"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Raised:
    id: str
    stream: str
    last_report: float
    viewers: int


@dataclass(slots=True)
class TechIssueWatch:
    """Distinct viewers per tech-issue kind in a sliding window → one alarm per episode.

    Raised at once when ``viewers`` different users reported the same kind within
    ``window`` seconds; further reports only keep it alive. Cleared from ``tick`` once
    nobody reported it for ``clear_after`` seconds; then quiet for ``cooldown`` seconds so
    a flaky connection does not flap the alarm.
    """

    rules: TechAlarmRules
    says: dict[str, TechKindRules]
    language: str = "de"
    source: str = "intent"
    _reports: dict[str, dict[str, float]] = field(default_factory=dict)
    _raised: dict[str, _Raised] = field(default_factory=dict)
    _cleared_at: dict[str, float] = field(default_factory=dict)
    _seq: int = 0

    def report(self, stream: str, kind: str, user: str, now: float, out: Outbox) -> None:
        users = self._reports.setdefault(kind, {})
        users.pop(user, None)
        users[user] = now  # dict order = report order, oldest first
        self._prune(users, now)
        raised = self._raised.get(kind)
        if raised is not None:
            raised.last_report = now
            raised.viewers = max(raised.viewers, len(users))
            return
        if len(users) < self.rules.viewers:
            return
        cleared = self._cleared_at.get(kind)
        if cleared is not None and now - cleared < self.rules.cooldown:
            return
        self._seq += 1
        raised = _Raised(f"{stream}:tech_issue:{kind}:{self._seq}", stream, now, len(users))
        self._raised[kind] = raised
        say, hint = self._say(kind)
        n, window = len(users), self.rules.window
        if self.language == "de":
            message = f"{n} Zuschauer: {say} in den letzten {window:.0f} s"
            text = f"{n} Zuschauer melden: {say} – {hint}"
        else:
            message = f"{n} viewers: {say} in the last {window:.0f} s"
            text = f"{n} viewers report {say} — {hint}"
        alarm = Alarm(
            id=raised.id,
            stream=stream,
            kind="tech_issue",
            source=self.source,
            at=now,
            severity=Severity.WARNING,
            message=message,
            data={"issue": kind, "viewers": len(users), "window": self.rules.window},
        )
        out.alarm(alarm)
        out.prompt(
            Prompt(
                id=f"{raised.id}:prompt",
                stream=stream,
                source=self.source,
                at=now,
                text=text,
                priority=3,
                alarm_id=raised.id,
                expires_at=now + 60,
            )
        )
        log.info("stream %s: tech issue %s reported by %d viewers", stream, kind, len(users))

    def tick(self, now: float, out: Outbox) -> None:
        for kind in list(self._raised):
            raised = self._raised[kind]
            if now - raised.last_report < self.rules.clear_after:
                continue
            del self._raised[kind]
            self._cleared_at[kind] = now
            out.alarm(
                Alarm(
                    id=raised.id,
                    stream=raised.stream,
                    kind="tech_issue",
                    source=self.source,
                    at=now,
                    state=AlarmState.CLEARED,
                    message=(
                        f"Keine Meldungen mehr: {self._say(kind)[0]}"
                        if self.language == "de"
                        else f"No more reports of {self._say(kind)[0]}"
                    ),
                    data={"issue": kind, "viewers": raised.viewers},
                )
            )
            log.info("stream %s: tech issue %s cleared", raised.stream, kind)
        for users in self._reports.values():
            self._prune(users, now)

    def active(self) -> dict[str, int]:
        """Raised kinds and how many viewers reported them."""
        return {kind: raised.viewers for kind, raised in self._raised.items()}

    def _prune(self, users: dict[str, float], now: float) -> None:
        horizon = now - self.rules.window
        while users:
            oldest = next(iter(users))
            if users[oldest] >= horizon:
                break
            del users[oldest]

    def _say(self, kind: str) -> tuple[str, str]:
        rules = self.says.get(kind)
        if rules is None:
            return kind.replace("_", " "), "check the stream"
        return rules.say(self.language), rules.hint(self.language)
