"""The rules of ``rules/intents.yaml``: validated models, loaded once per file version.

A brand's live manager tunes the phrases per label and kind, the host hints in each
language and the tech-issue alarm thresholds. :func:`load_intent_rules` reads and
validates the file into :class:`IntentRules` and builds the
:class:`~livepilot.stages.audience.intent_classifier.IntentClassifier` from it; every error
names the file and the field or phrase that is wrong.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from livepilot.errors import RulesError
from livepilot.stages.audience.intent_classifier import IntentClassifier
from livepilot.stages.audience.phrases import Phrase, PhraseIndex, Slot, parse_phrase, tokenize
from livepilot.yamlfile import describe, read_mapping

__all__ = [
    "FeedbackRules",
    "IntentRules",
    "Localized",
    "QuestionRules",
    "TechAlarmRules",
    "TechKindRules",
    "load_intent_rules",
]

_Kind = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
_Phrases = tuple[Annotated[str, StringConstraints(min_length=1)], ...]


class _Rules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class QuestionRules(_Rules):
    lead_in: _Phrases = ()
    starts: _Phrases = ()
    anywhere: _Phrases = ()
    not_: _Phrases = Field(default=(), alias="not")
    #: At the start, with or without a "?", these are not questions ("wer kennt's?").
    rhetorical: _Phrases = ()
    interjections: _Phrases = ()


class Localized(_Rules):
    """A text for host prompts and alarms in each host language."""

    de: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def __call__(self, language: str) -> str:
        return self.de if language == "de" else self.en


class TechKindRules(_Rules):
    #: How alarms and prompts name the problem ("kein Ton" / "no audio").
    say: Localized
    #: What the host should check ("Mikrofon prüfen" / "check the microphone").
    hint: Localized
    phrases: _Phrases = Field(min_length=1)


class FeedbackRules(_Rules):
    phrases: _Phrases = ()
    emoji: str = ""


class TechAlarmRules(_Rules):
    viewers: int = Field(default=3, ge=2)
    window: float = Field(default=30.0, gt=0)
    clear_after: float = Field(default=60.0, gt=0)
    cooldown: float = Field(default=120.0, ge=0)


class IntentRules(_Rules):
    """``rules/intents.yaml``, validated. :meth:`build` makes the classifier."""

    question: QuestionRules
    lead: dict[_Kind, _Phrases] = Field(default_factory=dict)
    #: Lead kinds that count only when the message is a question: "vegan" asked about
    #: the product is a lead, "ich bin vegan" is not.
    ask_only: tuple[_Kind, ...] = ()
    #: Words around a lead or tech phrase that make it something else: "der preis ist
    #: heiß", "nen döner gekauft", "hab ton aus". A phrase here cancels every lead (tech)
    #: phrase that starts inside the words it matched.
    not_lead: _Phrases = ()
    not_tech_issue: _Phrases = ()
    tech_issue: dict[_Kind, TechKindRules] = Field(default_factory=dict)
    negators: _Phrases = ()
    feedback_positive: FeedbackRules = FeedbackRules()
    feedback_negative: FeedbackRules = FeedbackRules()
    tech_alarm: TechAlarmRules = TechAlarmRules()

    def build(self) -> IntentClassifier:
        """Compile every phrase; a bad phrase raises ``ValueError`` naming where it is."""
        combined: list[Phrase] = []

        def add(where: str, texts: tuple[str, ...], label: str, kind: str | None, rank: int,
                into: list[Phrase]) -> None:
            for n, text in enumerate(texts):
                try:
                    slots = parse_phrase(text)
                except ValueError as exc:
                    raise ValueError(f"{where}[{n}]: {exc}") from None
                into.append(Phrase(text, slots, label, kind, rank))

        for rank, (kind, texts) in enumerate(self.lead.items()):
            add(f"lead.{kind}", texts, "lead", kind, rank, combined)
        for rank, (kind, tech) in enumerate(self.tech_issue.items()):
            add(f"tech_issue.{kind}.phrases", tech.phrases, "tech_issue", kind, rank, combined)
        add("feedback_positive.phrases", self.feedback_positive.phrases, "feedback_positive",
            None, 0, combined)
        add("feedback_negative.phrases", self.feedback_negative.phrases, "feedback_negative",
            None, 0, combined)
        add("question.anywhere", self.question.anywhere, "question", None, 0, combined)
        starts: list[Phrase] = []
        add("question.starts", self.question.starts, "question", None, 0, starts)
        nots: list[Phrase] = []
        add("question.not", self.question.not_, "not_question", None, 0, nots)
        rhetorical: list[Phrase] = []
        add("question.rhetorical", self.question.rhetorical, "not_question", None, 0,
            rhetorical)
        # Vetoes share the index with what they veto: one look-up per word serves both.
        add("not_lead", self.not_lead, "not_lead", None, 0, combined)
        add("not_tech_issue", self.not_tech_issue, "not_tech_issue", None, 0, combined)
        for kind in self.ask_only:
            if kind not in self.lead:
                raise ValueError(f"ask_only: {kind!r} is not a lead kind of this file")
        # One-word lead phrases are synonym groups ("kostet|preis*|price*"): the question
        # queue treats words of one group as the same word. Not for the ask-only kinds:
        # their lines list different facts ("vegan", "gold", "waschbar"), and "in gold"
        # and "in silber" must stay two questions.
        lead_words: list[tuple[str, Slot]] = []
        for kind, texts in self.lead.items():
            if kind in self.ask_only:
                continue
            for n, text in enumerate(texts):
                slots = parse_phrase(text)
                if len(slots) == 1 and slots[0] is not None:
                    lead_words.append((f"{kind}.{n}", slots[0]))
        return IntentClassifier(
            phrases=PhraseIndex(combined),
            starts=PhraseIndex(starts),
            nots=PhraseIndex(nots),
            rhetorical=PhraseIndex(rhetorical),
            ask_only=frozenset(self.ask_only),
            lead_in=frozenset(w for t in self.question.lead_in for w in tokenize(t)),
            interjections=frozenset(w for t in self.question.interjections for w in tokenize(t)),
            negators=frozenset(w for t in self.negators for w in tokenize(t)),
            positive_emoji=frozenset(self.feedback_positive.emoji),
            negative_emoji=frozenset(self.feedback_negative.emoji),
            lead_words=tuple(lead_words),
        )


# An unquoted list item with " #10" or a trailing " #": YAML drops it as a comment.
_UNQUOTED_NUMBER = re.compile(r"""^\s*-\s+[^"'\s].*?\s#(?:\d|\s*$)""")


# An unquoted list item starting with "*" ("- *st du"): YAML reads it as an alias.
_UNQUOTED_STAR = re.compile(r"^\s*-\s+\*")


def load_intent_rules(path: Path) -> tuple[IntentRules, IntentClassifier]:
    """Read, validate and compile ``path``; :class:`RulesError` names the file and field."""
    try:
        raw = read_mapping(path, "intent rules")
    except RulesError:
        _explain_alias(path)
        raise
    text = path.read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), start=1):
        if _UNQUOTED_NUMBER.match(line):
            raise RulesError(
                f"{path}:{number}: {line.strip()!r}: after a space YAML reads '#' as the "
                "start of a comment; put the phrase in quotes"
            )
    try:
        rules = IntentRules.model_validate(raw)
        return rules, rules.build()
    except ValidationError as exc:
        raise RulesError(f"{path}: {describe(exc, raw)}") from None
    except ValueError as exc:
        raise RulesError(f"{path}: {exc}") from exc


def _explain_alias(path: Path) -> None:
    """A YAML error on a line like ``- *st du`` gets the fix in words."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if _UNQUOTED_STAR.match(line):
            raise RulesError(
                f"{path}:{number}: {line.strip()!r}: YAML reads '*' at the start as an "
                "alias; put the phrase in quotes"
            )
