"""The tech-issue alarm: several distinct viewers report one problem → one alarm.

Reports are counted per kind of problem (``no_audio``, ``lag``, ...) over a sliding
window, once per viewer; the alarm is raised with a host prompt when enough viewers agree,
cleared when the reports stop, and then stays quiet for a cool-down so that a flaky
connection does not flap it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from livepilot.insights import Prompt
from livepilot.pipeline.alarm import AlarmCounter, AlarmLatch, publish
from livepilot.pipeline.stage import Outbox
from livepilot.stages.audience.intent_rules import TechAlarmRules, TechKindRules
from livepilot.texts import say as said
from livepilot.texts import wire_params

__all__ = ["TechIssueWatch"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Raised:
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
    #: One latch per kind of issue (ids ``<stream>:tech_issue:<kind>:<n>``, numbered together).
    _alarms: dict[str, AlarmLatch] = field(default_factory=dict)
    _counter: AlarmCounter = field(default_factory=AlarmCounter)

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
        latch = self._alarms.get(kind)
        if latch is None:
            latch = self._alarms[kind] = AlarmLatch(
                stream, "tech_issue", self.source, subject=kind, counter=self._counter
            )
        latch.cooldown_s = self.rules.cooldown  # the current rules, also after a reload
        say, hint = self._say(kind)
        what, how = self._both(kind)
        n, window = len(users), self.rules.window
        if self.language == "de":
            message = f"{n} Zuschauer: {say} in den letzten {window:.0f} s"
            text = f"{n} Zuschauer melden: {say} – {hint}"
        else:
            message = f"{n} viewers: {say} in the last {window:.0f} s"
            text = f"{n} viewers report {say} — {hint}"
        prompt = said("prompt.tech", text, n=n, what=what, hint=how)
        alarm = latch.raise_(
            now, said("alarm_text.tech_raised", message, n=n, what=what, s=round(window)),
            {"issue": kind, "viewers": len(users), "window": self.rules.window},
        )
        if alarm is None:  # cooling down after the last episode
            return
        self._raised[kind] = _Raised(stream, now, len(users))
        out.alarm(alarm)
        out.prompt(
            Prompt(
                id=f"{alarm.id}:prompt",
                stream=stream,
                source=self.source,
                at=now,
                text=text,
                code=prompt.code,
                params=wire_params(prompt.params),
                priority=3,
                alarm_id=alarm.id,
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
            latch = self._alarms[kind]
            say = self._say(kind)[0]
            message = (
                f"Keine Meldungen mehr: {say}" if self.language == "de"
                else f"No more reports of {say}"
            )
            cleared = said("alarm_text.tech_cleared", message, what=self._both(kind)[0])
            publish(out, latch.clear(now, cleared, {"issue": kind, "viewers": raised.viewers}))
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

    def _both(self, kind: str) -> tuple[dict[str, str], dict[str, str]]:
        """The problem's name and the hint in every host language (the console picks its
        own from these)."""
        rules = self.says.get(kind)
        if rules is None:
            plain = kind.replace("_", " ")
            return {"de": plain, "en": plain}, {"de": "Stream prüfen", "en": "check the stream"}
        return rules.say.model_dump(), rules.hint.model_dump()

    def _say(self, kind: str) -> tuple[str, str]:
        rules = self.says.get(kind)
        if rules is None:
            return kind.replace("_", " "), "check the stream"
        return rules.say(self.language), rules.hint(self.language)
