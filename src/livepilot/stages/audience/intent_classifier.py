"""The intent classifier: a message's text → what it wants, as a list of :class:`Hit`.

Pure and synchronous; built once from the rules by
:meth:`livepilot.stages.audience.intent_rules.IntentRules.build`.
"""

from __future__ import annotations

from dataclasses import dataclass

from livepilot.ml.text import analysed
from livepilot.stages.audience.phrases import Phrase, PhraseIndex, Slot, tokenize

__all__ = ["Hit", "IntentClassifier"]


@dataclass(frozen=True, slots=True)
class Hit:
    """One conclusion about a message: label, kind and the words that matched."""

    label: str
    kind: str | None
    phrase: str


_FLIP = {"feedback_positive": "feedback_negative", "feedback_negative": "feedback_positive"}


@dataclass(frozen=True, slots=True)
class IntentClassifier:
    """Pure text → :class:`Hit` list. At most one lead kind and one tech kind per message."""

    phrases: PhraseIndex
    starts: PhraseIndex
    nots: PhraseIndex
    lead_in: frozenset[str]
    interjections: frozenset[str]
    negators: frozenset[str]
    positive_emoji: frozenset[str]
    negative_emoji: frozenset[str]
    #: One-word lead phrases with their group id (``price.0``): words that name the
    #: kind of a lead ("kostet", "preis"), not what it is about.
    lead_words: tuple[tuple[str, Slot], ...] = ()

    def lead_group(self, token: str) -> str | None:
        """The synonym group of a lead word ("kostet", "preise" → ``price.0``), or None."""
        for group, slot in self.lead_words:
            if slot.accepts(token):
                return group
        return None

    def classify(self, text: str) -> list[Hit]:
        text = analysed(text)
        tokens = tokenize(text)
        hits: list[Hit] = []
        if self._is_question(text, tokens):
            hits.append(Hit("question", None, "?" if "?" in text else tokens[0]))
        lead: tuple[Phrase, str] | None = None
        tech: tuple[Phrase, str] | None = None
        feedback: dict[str, str] = {}
        for i in range(len(tokens)):
            for phrase, end in self.phrases.at(tokens, i):
                label = phrase.label
                words = " ".join(tokens[i:end])  # what the message said, for the reason
                if label == "lead":
                    if lead is None or phrase.rank < lead[0].rank:
                        lead = (phrase, words)
                elif label == "tech_issue":
                    if tech is None or phrase.rank < tech[0].rank:
                        tech = (phrase, words)
                elif label == "question":
                    if not hits or hits[0].label != "question":
                        hits.insert(0, Hit("question", None, words))
                else:
                    if self._negated(tokens, i):
                        label = _FLIP[label]
                        words = " ".join(tokens[max(0, i - 2):end])
                    feedback.setdefault(label, words)
        if lead is not None:
            hits.append(Hit("lead", lead[0].kind, lead[1]))
        if tech is not None:
            hits.append(Hit("tech_issue", tech[0].kind, tech[1]))
        for label, emoji in (("feedback_positive", self.positive_emoji),
                             ("feedback_negative", self.negative_emoji)):
            if label not in feedback and not emoji.isdisjoint(text):
                feedback[label] = next(ch for ch in text if ch in emoji)
        for label in ("feedback_positive", "feedback_negative"):
            if label in feedback:
                hits.append(Hit(label, None, feedback[label]))
        return hits

    def _negated(self, tokens: list[str], i: int) -> bool:
        negators = self.negators
        return (i >= 1 and tokens[i - 1] in negators) or (i >= 2 and tokens[i - 2] in negators)

    def _is_question(self, text: str, tokens: list[str]) -> bool:
        if not tokens:
            return False
        if all(token in self.interjections for token in tokens):
            return False
        if "?" in text:
            return True
        i = 0
        while i < len(tokens) - 1 and tokens[i] in self.lead_in:
            i += 1
        if self.nots.at(tokens, i):
            return False
        return bool(self.starts.at(tokens, i))
