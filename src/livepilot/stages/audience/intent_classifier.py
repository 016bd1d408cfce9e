"""The intent classifier: a message's text → what it wants, as a list of :class:`Hit`.

Pure and synchronous; built once from the rules by
:meth:`livepilot.stages.audience.intent_rules.IntentRules.build`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from livepilot.ml.text import analysed
from livepilot.stages.audience.phrases import (
    CLAUSE_BREAKS,
    Phrase,
    PhraseIndex,
    Slot,
    clause_starts,
    tokenize,
)

__all__ = ["Hit", "IntentClassifier"]


@dataclass(frozen=True, slots=True)
class Hit:
    """One conclusion about a message: label, kind and the words that matched."""

    label: str
    kind: str | None
    phrase: str


_FLIP = {"feedback_positive": "feedback_negative", "feedback_negative": "feedback_positive"}
#: Labels of ``not_lead`` / ``not_tech_issue`` phrases in the phrase index.
_NOT_LEAD, _NOT_TECH = "not_lead", "not_tech_issue"
_BREAKS = frozenset(CLAUSE_BREAKS)
#: How many clauses of a message may open a question.
_MAX_CLAUSES = 16


@dataclass(frozen=True, slots=True)
class IntentClassifier:
    """Pure text → :class:`Hit` list. At most one lead kind and one tech kind per message;
    a message can carry several labels ("hört man dich nicht?" is a question and a tech
    report, "is it vegan" a question and a lead)."""

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
    #: Phrases that make a message not a question even with a "?" ("wer kennt's?").
    rhetorical: PhraseIndex = field(default_factory=lambda: PhraseIndex([]))
    #: Lead kinds that count only in a question.
    ask_only: frozenset[str] = frozenset()

    def lead_group(self, token: str) -> str | None:
        """The synonym group of a lead word ("kostet", "preise" → ``price.0``), or None."""
        for group, slot in self.lead_words:
            if slot.accepts(token):
                return group
        return None

    def classify(self, text: str, asked: bool = False) -> list[Hit]:
        """What ``text`` wants. ``asked``: the platform says it is a question (its Q&A),
        so lead kinds that count only in questions count here too."""
        text = analysed(text)
        tokens = tokenize(text)
        hits: list[Hit] = []
        rhetorical = self._rhetorical(tokens)
        if not rhetorical and self._is_question(text, tokens):
            hits.append(Hit("question", None, "?" if "?" in text else tokens[0]))
        # (phrase, start, end) of the best match so far; words are joined only at the end.
        lead: tuple[Phrase, int, int] | None = None
        asked_lead: tuple[Phrase, int, int] | None = None  # a kind that counts if asked
        tech: tuple[Phrase, int, int] | None = None
        feedback: dict[str, str] = {}
        # A veto matched at j covers tokens j..end-1; matches are met in order of their
        # start, so "covered" is one number per label: the furthest veto end so far.
        lead_veto = tech_veto = 0
        for i in range(len(tokens)):
            found = self.phrases.at(tokens, i)
            if not found:
                continue
            for phrase, end in found:
                if phrase.label == _NOT_LEAD:
                    lead_veto = max(lead_veto, end)
                elif phrase.label == _NOT_TECH:
                    tech_veto = max(tech_veto, end)
            for phrase, end in found:
                label = phrase.label
                if label == "lead":
                    if i < lead_veto:
                        continue
                    if phrase.kind in self.ask_only:
                        if asked_lead is None or phrase.rank < asked_lead[0].rank:
                            asked_lead = (phrase, i, end)
                    elif lead is None or phrase.rank < lead[0].rank:
                        lead = (phrase, i, end)
                elif label == "tech_issue":
                    if i >= tech_veto and (tech is None or phrase.rank < tech[0].rank):
                        tech = (phrase, i, end)
                elif label == "question":
                    if not rhetorical and (not hits or hits[0].label != "question"):
                        hits.insert(0, Hit("question", None, " ".join(tokens[i:end])))
                elif label in _FLIP:
                    start = i
                    if self._negated(tokens, i):
                        label, start = _FLIP[label], max(0, i - 2)
                    if label not in feedback:
                        feedback[label] = " ".join(tokens[start:end])
        if asked_lead is not None and (asked or (hits and hits[0].label == "question")) and (
            lead is None or asked_lead[0].rank < lead[0].rank
        ):
            lead = asked_lead
        if lead is not None:
            hits.append(Hit("lead", lead[0].kind, " ".join(tokens[lead[1]:lead[2]])))
        if tech is not None:
            hits.append(Hit("tech_issue", tech[0].kind, " ".join(tokens[tech[1]:tech[2]])))
        for label, emoji in (("feedback_positive", self.positive_emoji),
                             ("feedback_negative", self.negative_emoji)):
            if label not in feedback and not emoji.isdisjoint(text):
                feedback[label] = next(ch for ch in text if ch in emoji)
        for label in ("feedback_positive", "feedback_negative"):
            if label in feedback:
                hits.append(Hit(label, None, feedback[label]))
        return hits

    def _skip_lead_in(self, tokens: list[str], i: int) -> int:
        while i < len(tokens) - 1 and tokens[i] in self.lead_in:
            i += 1
        return i

    def _rhetorical(self, tokens: list[str]) -> bool:
        """Banter, not a question, whatever else it has: a rhetorical opening ("wer
        kennt's?") or nothing but reactions ("oder?", "echt jetzt?")."""
        if not tokens:
            return False
        if self.interjections.issuperset(tokens):
            return True
        if self.rhetorical.at(tokens, 0):
            return True
        i = self._skip_lead_in(tokens, 0)
        return i > 0 and bool(self.rhetorical.at(tokens, i))

    def _negated(self, tokens: list[str], i: int) -> bool:
        negators = self.negators
        return (i >= 1 and tokens[i - 1] in negators) or (i >= 2 and tokens[i - 2] in negators)

    def _is_question(self, text: str, tokens: list[str]) -> bool:
        if not tokens:
            return False
        if "?" in text:
            return True
        # Each clause may open the question: "ich hätte gern zwei, wie geht das". Only the
        # first few clauses: a chat message has a handful, a wall of "a,a,a" has no more
        # claim on the CPU than a short one.
        opens = clause_starts(text, _MAX_CLAUSES) if not _BREAKS.isdisjoint(text) else [0]
        for start in opens:
            if start >= len(tokens):
                break
            i = self._skip_lead_in(tokens, start)
            if self.nots.at(tokens, i):
                continue
            if self.starts.at(tokens, i):
                return True
        return False
