"""The intent stage: labels what a chat message wants and raises the tech-issue alarm.

The patterns live in ``rules/intents.yaml`` (a brand's live manager adds product words,
kinds of leads, translations of the host hints); :mod:`~livepilot.stages.audience.intent_rules`
validates them and builds the classifier (:mod:`~livepilot.stages.audience.intent_classifier`,
on the phrase engine of :mod:`~livepilot.stages.audience.phrases`) once per file version.

Labels added (source ``intent``): ``question`` (kind ``qna`` for the platform's own Q&A),
``lead`` (kind ``price``, ``availability``, ``shipping``, ``how_to_order``, ``link``,
``discount``, ``bulk``, ``collab``, ``purchase``, ``product`` or a kind of your own),
``tech_issue`` (kind ``no_audio``, ``audio_sync``, ``frozen_video``, ``lag``),
``feedback_positive``, ``feedback_negative`` — as many of them as the message carries
("hört man dich nicht?" is a question and a tech report). When several distinct
viewers report the same tech issue within a window,
:class:`~livepilot.stages.audience.tech_alarm.TechIssueWatch` raises one alarm and a host
prompt, and clears it when the reports stop.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from livepilot.errors import RulesError
from livepilot.events import ChatEvent, LiveEvent, QuestionEvent
from livepilot.pipeline.reload import HotReload
from livepilot.pipeline.stage import Draft, Outbox
from livepilot.settings import checkout_path
from livepilot.stages.audience.intent_classifier import Hit, IntentClassifier
from livepilot.stages.audience.intent_rules import IntentRules, load_intent_rules
from livepilot.stages.audience.tech_alarm import TechIssueWatch
from livepilot.texts import say

if TYPE_CHECKING:
    from livepilot.metrics import Metrics
    from livepilot.pipeline.context import StageContext

__all__ = ["IntentStage", "build", "rules_path"]

log = logging.getLogger(__name__)

# -- stage ------------------------------------------------------------------------------


class IntentStage:
    """Labels what a message wants; raises the tech-issue alarm."""

    name = "intent"

    def __init__(
        self,
        classifier: IntentClassifier | HotReload[tuple[IntentRules, IntentClassifier]],
        watch: TechIssueWatch,
        metrics: Metrics | None = None,
    ) -> None:
        self._rules = classifier
        self._watch = watch
        self._tech_reports = metrics.tech_issue_reports if metrics is not None else None

    @property
    def classifier(self) -> IntentClassifier:
        rules = self._rules
        return rules if isinstance(rules, IntentClassifier) else rules.current[1]

    def process(self, event: LiveEvent, draft: Draft) -> None:
        classifier = self.classifier
        if isinstance(event, QuestionEvent):
            draft.label("question", self.name, kind="qna")
            for hit in classifier.classify(event.text, asked=True):
                if hit.label != "question":
                    self._add(hit, draft)
            return
        # Judged whether or not a filter or the model flagged the message: a rude
        # "man hört dich nicht" is still a tech report (and the model's verdict may come
        # later anyway). The questions stage keeps toxic messages off the host's screen.
        if not isinstance(event, ChatEvent) or _promotes(draft):
            return
        for hit in classifier.classify(event.text):
            self._add(hit, draft)
            if hit.label == "tech_issue" and hit.kind is not None:
                if self._tech_reports is not None:
                    self._tech_reports.labels(event.stream, hit.kind).inc()
                self._watch.report(event.stream, hit.kind, event.user.id, draft.now, draft.out)

    def _add(self, hit: Hit, draft: Draft) -> None:
        draft.label(hit.label, self.name, kind=hit.kind)
        if hit.label != "question":
            what = hit.label if hit.kind is None else f"{hit.label} ({hit.kind})"
            text = f"{what}: matched {hit.phrase!r}"
            if hit.label == "lead":
                draft.reason(self.name, say("reason.lead", text, kind=hit.kind or "",
                                            phrase=hit.phrase))
            elif hit.kind is None:
                draft.reason(self.name, say("reason.intent", text, label=hit.label,
                                            phrase=hit.phrase))
            else:
                draft.reason(self.name, say("reason.intent_kind", text, label=hit.label,
                                            kind=hit.kind, phrase=hit.phrase))

    def tick(self, now: float, out: Outbox) -> None:
        rules = self._rules
        if isinstance(rules, HotReload) and rules.poll(now, out):
            # New thresholds and texts apply at once; reports and raised alarms stay.
            fresh = rules.current[0]
            self._watch.rules = fresh.tech_alarm
            self._watch.says = dict(fresh.tech_issue)
        self._watch.tick(now, out)

    @property
    def watch(self) -> TechIssueWatch:
        return self._watch


#: Spam that advertises something: its words are bait, not a viewer's question or praise.
_PROMOTION = frozenset({"link", "phone", "raid"})


def _promotes(draft: Draft) -> bool:
    return any(label.name == "spam" and label.kind in _PROMOTION for label in draft.labels)


def rules_path(ctx: StageContext) -> Path:
    """``<rules_dir>/intents.yaml``, else the one shipped in the source checkout."""
    path = ctx.rules_dir / "intents.yaml"
    if path.is_file():
        return path
    shipped = checkout_path("rules") / "intents.yaml"
    if shipped.is_file():
        log.warning("%s not found; using the shipped %s", path, shipped)
        return shipped
    raise RulesError(
        f"{path}: intent rules not found; copy rules/intents.yaml from livepilot's "
        "source into your rules directory (LIVEPILOT_RULES_DIR)"
    )


def build(ctx: StageContext) -> IntentStage:
    """The stage over ``intents.yaml``, reloaded when the file changes (broken edits keep
    the previous rules and raise a ``rules_rejected`` alarm)."""
    path = rules_path(ctx)
    rules = HotReload([path], lambda: load_intent_rules(path), stream=ctx.stream, source="intent")
    fresh = rules.current[0]
    language = getattr(ctx.settings, "host_language", "de")
    watch = TechIssueWatch(fresh.tech_alarm, dict(fresh.tech_issue), language=language)
    return IntentStage(rules, watch, ctx.metrics)
