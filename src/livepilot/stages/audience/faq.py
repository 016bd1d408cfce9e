"""The knowledge base: answer suggestions for viewers' questions, in the brand's voice.

``rules/faq.yaml`` (or ``faq-<stream>.yaml`` for one stream) lists entries with example
questions, optional keywords, the answer in the brand's tone (``du`` or ``Sie``) and
optional links. It is validated into :class:`FaqFile` (``extra="forbid"`` catches typos;
errors name the file, the entry and the field) and built into a :class:`KnowledgeBase`,
whose :meth:`~KnowledgeBase.match` returns the best answer with a confidence, or ``None``.

Matching first narrows the entries with an inverted index over the first four letters of
each content word (so "versand", "versandkosten" and the typo "versnad" meet), then
scores the few candidates with rapidfuzz. The question stage reloads the file when it
changes (``livepilot.pipeline.reload.HotReload``, polled from ``tick``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from rapidfuzz import fuzz

from livepilot.errors import RulesError
from livepilot.stages.audience.phrases import tokenize
from livepilot.yamlfile import describe, read_mapping

__all__ = [
    "STOPWORDS",
    "FaqEntry",
    "FaqFile",
    "FaqMatch",
    "KnowledgeBase",
    "check_faq",
    "content_tokens",
    "load_faq",
]

log = logging.getLogger(__name__)

#: Words that carry no topic (normalised as :func:`livepilot.stages.audience.phrases.tokenize`).
STOPWORDS = frozenset(
    """
    der die das den dem des ein eine einen einem einer eines nen ne und oder aber auch noch
    schon mal doch denn ja nein nicht nur so wie was wo wann warum wieso weshalb wer wen wem
    welche welcher welches welchen woher wohin ist isst sind bin bist seid war waren wird
    werden kann kannst koennt koennen konnt darf habt hast hat haben habe hab gibt gibts es
    ich du er sie wir ihr man mich dich mir dir uns euch sich mein meine meinen meiner dein
    deine deinen euer eure ihre sein seine im in an auf aus bei mit nach von vor zu zum zur
    fuer ueber um ab bis dass ob wenn dann da hier jetzt heute bitte danke hallo hi hey pls
    plz grad gerade eigentlich halt eben etwa wirklich echt sehr viel wieviel wv denn sag
    geht gehts klappt moeglich
    the a an and or but also too still just so how what whats where wheres when why who
    which is are am was were be been do does did can could will would should have has had
    i you u he she it we they me him her us them my your ur his its our their this that
    these those there here in on at to for of from with about by as if then than please
    thanks thank hello hey ok okay yes no not really very much any anyone r ya
    """.split()
)


def content_tokens(text: str) -> list[str]:
    """The topic words of ``text``: tokens without :data:`STOPWORDS`."""
    return [token for token in tokenize(text) if token not in STOPWORDS]


def _key(token: str) -> str:
    return token[:4]


# -- file model -------------------------------------------------------------------------

_Id = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=60)]
_Text = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
_Link = Annotated[str, StringConstraints(pattern=r"^https?://\S+$")]

# In Sie-tone answers these words give the brand's voice away.
_DU_WORDS = re.compile(
    r"\b(?:du|dich|dir|dein|deine|deinen|deinem|deiner|deines|euch|euer|eure|euren|eurem)\b",
    re.IGNORECASE,
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FaqEntry(_Frozen):
    """One answer and the ways viewers ask for it."""

    id: _Id
    questions: tuple[_Text, ...] = Field(min_length=1)
    #: Words that point to this entry wherever they appear ("versand", "dhl").
    keywords: tuple[_Text, ...] = ()
    answer: _Text = Field(max_length=500)
    links: tuple[_Link, ...] = ()


class FaqFile(_Frozen):
    """A knowledge base file: tone of voice, threshold and entries."""

    tone: Literal["du", "Sie"]
    language: Literal["de", "en"] = "de"
    #: Suggestions below this confidence (0–1) are not shown.
    min_confidence: float = Field(default=0.6, ge=0.0, le=1.0)
    entries: tuple[FaqEntry, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> FaqFile:
        seen: set[str] = set()
        for entry in self.entries:
            if entry.id in seen:
                raise ValueError(f"entry id {entry.id!r} appears twice")
            seen.add(entry.id)
            if self.tone == "Sie":
                found = _DU_WORDS.search(entry.answer)
                if found:
                    raise ValueError(
                        f"entry {entry.id!r}: answer says {found.group(0)!r} but the tone is "
                        "'Sie'; write the answer in Sie-form or set tone: du"
                    )
        return self

    def build(self, source: str = "<memory>") -> KnowledgeBase:
        return KnowledgeBase(self, source)


# -- matching ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FaqMatch:
    """The best answer for a question, how sure we are, and the example it matched."""

    entry: str
    answer: str
    confidence: float
    links: tuple[str, ...]
    example: str


@dataclass(frozen=True, slots=True)
class _Example:
    entry: int
    text: str
    tokens: tuple[str, ...]  # content tokens
    token_set: frozenset[str]


#: Two words count as the same when rapidfuzz's ratio is at least this (typos, endings).
_SAME_WORD = 80.0
#: A near match ("kosten" for "kostet", "versnad" for "versand") counts this much.
_NEAR = 0.8


def _covered(query: list[str], near: dict[str, frozenset[str]], example: _Example) -> float:
    """How many query words appear in the example: exact 1, near (typo, ending) 0.8."""
    found = 0.0
    words = example.token_set
    for token in query:
        if token in words:
            found += 1.0
        elif token in near and not near[token].isdisjoint(words):
            found += _NEAR
    return found


class KnowledgeBase:
    """Built once from a :class:`FaqFile`; :meth:`match` is pure and cheap.

    Confidence is an F2 score of word overlap between the question and an entry's best
    example (recall, i.e. how much of the example the question covers, counts double: "was
    kostet das" must not match "was kostet der Versand"), plus a bonus per keyword.
    """

    #: How many index candidates are scored.
    CANDIDATES = 8
    #: Confidence added per keyword found in the question, at most twice.
    KEYWORD_BONUS = 0.15

    def __init__(self, faq: FaqFile, source: str = "<memory>") -> None:
        self.faq = faq
        self.source = source
        self._examples: list[list[_Example]] = []
        self._keywords: list[frozenset[str]] = []
        self._index: dict[str, set[int]] = {}
        for n, entry in enumerate(faq.entries):
            examples = []
            for question in entry.questions:
                tokens = tuple(dict.fromkeys(content_tokens(question)))
                if tokens:
                    examples.append(_Example(n, question, tokens, frozenset(tokens)))
                for token in tokens:
                    self._index.setdefault(_key(token), set()).add(n)
            keywords = frozenset(t for k in entry.keywords for t in content_tokens(k))
            for token in keywords:
                self._index.setdefault(_key(token), set()).add(n)
            self._examples.append(examples)
            self._keywords.append(keywords)
        # Near matches are looked for among the words sharing the index key only, so a
        # question costs a few ratio calls, not one per word of the knowledge base.
        by_key: dict[str, set[str]] = {}
        for examples in self._examples:
            for example in examples:
                for token in example.tokens:
                    by_key.setdefault(_key(token), set()).add(token)
        self._vocabulary: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in by_key.items()}

    def __len__(self) -> int:
        return len(self.faq.entries)

    @property
    def tone(self) -> str:
        return self.faq.tone

    def match(self, text: str) -> FaqMatch | None:
        """The best entry for ``text`` at or above ``min_confidence``, else ``None``."""
        tokens = list(dict.fromkeys(content_tokens(text)))
        if not tokens:
            return None
        votes: dict[int, int] = {}
        index = self._index
        for token in tokens:
            for n in index.get(_key(token), ()):
                votes[n] = votes.get(n, 0) + 1
        if not votes:
            return None
        ranked = sorted(votes, key=votes.__getitem__, reverse=True)[: self.CANDIDATES]
        query_set = frozenset(tokens)
        near: dict[str, frozenset[str]] = {}
        for token in tokens:
            if len(token) >= 5:
                words = self._vocabulary.get(_key(token), ())
                close = frozenset(
                    w for w in words
                    if w != token and fuzz.ratio(token, w, score_cutoff=_SAME_WORD)
                )
                if close:
                    near[token] = close
        best: tuple[float, int, str] | None = None
        for n in ranked:
            keywords = query_set & self._keywords[n]
            example_text = ""
            overlap = 0.0
            for example in self._examples[n]:
                found = _covered(tokens, near, example)
                if not found:
                    continue
                # Keywords count for the question's side: "liefert ihr in die schweiz"
                # is fully about an entry with the example "liefert ihr nach österreich"
                # and the keyword "schweiz".
                extra = sum(1 for t in keywords if t not in example.token_set)
                precision = min(1.0, (found + extra) / len(tokens))
                recall = min(1.0, found / len(example.tokens))
                f2 = 5 * precision * recall / (4 * precision + recall)
                if f2 > overlap:
                    overlap, example_text = f2, example.text
            score = overlap + self.KEYWORD_BONUS * min(2, len(keywords))
            if best is None or score > best[0]:
                best = (score, n, example_text)
        if best is None or best[0] < self.faq.min_confidence:
            return None
        score, n, example_text = best
        entry = self.faq.entries[n]
        confidence = round(min(1.0, score), 3)
        return FaqMatch(entry.id, entry.answer, confidence, entry.links, example_text)


# -- loading ----------------------------------------------------------------------------


def load_faq(path: Path) -> KnowledgeBase:
    """Read, validate and build ``path``; :class:`RulesError` names file, entry and field."""
    raw = read_mapping(path, "the knowledge base")
    try:
        faq = FaqFile.model_validate(raw)
    except ValidationError as exc:
        raise RulesError(f"{path}: {describe(exc, raw)}") from None
    return faq.build(str(path))


def check_faq(path: Path, questions: Sequence[str] = ()) -> str:
    """A live manager's check before going live: is the file valid, what would it answer?

    Raises :class:`RulesError` for an invalid file; otherwise returns a short report, one
    line per sample question (``livepilot faq check FILE "wie lange dauert der versand"``).
    """
    kb = load_faq(path)
    faq = kb.faq
    lines = [
        f"{path}: {len(kb)} entries, tone {faq.tone}, language {faq.language}, "
        f"min_confidence {faq.min_confidence}"
    ]
    for question in questions:
        found = kb.match(question)
        if found is None:
            lines.append(f"{question!r} → no suggestion")
            continue
        answer = found.answer if len(found.answer) <= 70 else found.answer[:69] + "…"
        lines.append(f"{question!r} → {found.entry} ({found.confidence:.2f}): {answer}")
    return "\n".join(lines)
