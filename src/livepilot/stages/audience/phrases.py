"""The phrase engine: normalised tokens and the phrase syntax of ``rules/intents.yaml``.

A phrase is a sequence of slots separated by spaces; a slot is one word, alternatives
joined by ``|`` ("kostet|preis*"), a prefix (``preis*``), a suffix (``*st``: "hast",
"zeigst", "kummst" — dialect spellings share endings, not stems), a number (``#``, or
``#10`` for 10 and up); ``..`` between two slots stands for up to two other words, and a
final ``$`` means the message ends there ("will ich $" but not "will ich wissen").
:class:`PhraseIndex` looks phrases up by their first slot, so matching a message costs a
handful of dict look-ups however many phrases there are.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "CLAUSE_BREAKS",
    "Phrase",
    "PhraseIndex",
    "Slot",
    "clause_starts",
    "normalise",
    "parse_phrase",
    "tokenize",
]

# -- text -------------------------------------------------------------------------------

_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "'": None, "’": None,
                       "`": None, "´": None})
_MENTION = re.compile(r"@\S+")
_REPEAT = re.compile(r"([^\W\d_])\1{2,}")
_TOKEN = re.compile(r"[^\W_]+")


def normalise(text: str) -> str:
    """Lower case, umlauts as digraphs, no apostrophes or @mentions, "tooon" → "ton"."""
    text = text.lower().translate(_FOLD)
    if "@" in text:
        text = _MENTION.sub(" ", text)
    return _REPEAT.sub(r"\1", text)


def tokenize(text: str) -> list[str]:
    """The words of ``text`` after :func:`normalise`."""
    return _TOKEN.findall(normalise(text))


#: What ends a clause: the next word may open a question of its own.
CLAUSE_BREAKS = ",;.!:\n"
_CLAUSE = re.compile(f"[{re.escape(CLAUSE_BREAKS)}]+")


def clause_starts(text: str, limit: int | None = None) -> list[int]:
    """Indices (into :func:`tokenize` of ``text``) of the words that open a clause: the
    first word and each first word after a ``,``, ``;``, ``.``, ``!``, ``:`` or line break
    ("ich hätte gern zwei, wie geht das" → 0 and 4); at most ``limit`` of them. One pass
    over the text, stopping at the limit."""
    norm = normalise(text)
    starts: list[int] = []
    count = pos = 0
    for brk in _breaks(norm):
        end = len(norm) if brk is None else brk.start()
        words = len(_TOKEN.findall(norm, pos, end))
        if words:
            starts.append(count)
            count += words
            if limit is not None and len(starts) >= limit:
                break
        if brk is not None:
            pos = brk.end()
    return starts


def _breaks(norm: str) -> Iterator[re.Match[str] | None]:
    """The clause breaks of ``norm``, lazily, then None for the end of the text."""
    yield from _CLAUSE.finditer(norm)
    yield None


# -- phrases ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Slot:
    """One position of a phrase: the words, prefixes and numbers it accepts."""

    words: frozenset[str]
    prefixes: tuple[str, ...]
    #: Numbers accepted from this value up; ``None``: no numbers.
    min_number: int | None
    suffixes: tuple[str, ...] = ()

    def accepts(self, token: str) -> bool:
        if token in self.words:
            return True
        for prefix in self.prefixes:
            if token.startswith(prefix):
                return True
        for suffix in self.suffixes:
            # "*st" wants a word of its own before the ending: not "st" itself.
            if len(token) > len(suffix) and token.endswith(suffix):
                return True
        return self.min_number is not None and _at_least(token, self.min_number)


def _at_least(token: str, minimum: int) -> bool:
    """Whether ``token`` is a number of at least ``minimum``, in time linear in its length
    (``int()`` is quadratic in the digits and refuses more than 4,300 of them)."""
    if not token.isdecimal():
        return False
    digits = "".join(str(unicodedata.decimal(ch)) for ch in token).lstrip("0") or "0"
    bound = str(minimum)
    return len(digits) > len(bound) or (len(digits) == len(bound) and digits >= bound)


#: A gap slot: up to this many other words.
_GAP_WIDTH = 2

#: The ``$`` slot: the message ends here. Compared by identity, accepts no word.
_END = Slot(frozenset(), (), None)


@dataclass(frozen=True, slots=True)
class Phrase:
    """A compiled phrase with the label, kind and rank it gives a message."""

    text: str
    slots: tuple[Slot | None, ...]  # None is a gap
    label: str
    kind: str | None
    rank: int


def parse_phrase(text: str) -> tuple[Slot | None, ...]:
    """Parse the phrase syntax of ``rules/intents.yaml``; ValueError says what is wrong."""
    slots: list[Slot | None] = []
    for chunk in text.split():
        if slots and slots[-1] is _END:
            raise ValueError(f"phrase {text!r}: '$' (end of message) must come last")
        if chunk == "$":
            if not slots or slots[-1] is None:
                raise ValueError(f"phrase {text!r}: '$' must follow a word")
            slots.append(_END)
            continue
        if chunk == "..":
            if not slots or slots[-1] is None:
                raise ValueError(f"phrase {text!r}: '..' must come between two words")
            slots.append(None)
            continue
        words: set[str] = set()
        prefixes: list[str] = []
        suffixes: list[str] = []
        min_number: int | None = None
        for alt in chunk.split("|"):
            if alt.startswith("#"):
                bound = alt[1:]
                if bound and not bound.isdigit():
                    raise ValueError(f"phrase {text!r}: {alt!r} must be '#' or '#<number>'")
                min_number = int(bound) if bound else 0
                continue
            lead_star, star = alt.startswith("*"), alt.endswith("*")
            if lead_star and star:
                raise ValueError(f"phrase {text!r}: {alt!r}: a '*' goes before or after, "
                                 "not both")
            core = tokenize(alt.strip("*"))
            if len(core) != 1:
                raise ValueError(
                    f"phrase {text!r}: {alt!r} is not one word (write words with spaces "
                    "between them, alternatives with '|')"
                )
            if star:
                prefixes.append(core[0])
            elif lead_star:
                suffixes.append(core[0])
            else:
                words.add(core[0])
        slots.append(Slot(frozenset(words), tuple(prefixes), min_number, tuple(suffixes)))
    if not slots:
        raise ValueError("empty phrase")
    if slots[-1] is None:
        raise ValueError(f"phrase {text!r}: '..' must come between two words")
    return tuple(slots)


def _match(slots: tuple[Slot | None, ...], k: int, tokens: list[str], j: int) -> int:
    """End index of ``slots[k:]`` matched at ``tokens[j:]``, or -1."""
    n = len(tokens)
    while k < len(slots):
        slot = slots[k]
        if slot is _END:
            return j if j == n else -1
        if slot is None:
            for skip in range(_GAP_WIDTH + 1):
                if j + skip >= n:
                    break
                end = _match(slots, k + 1, tokens, j + skip)
                if end >= 0:
                    return end
            return -1
        if j >= n or not slot.accepts(tokens[j]):
            return -1
        k += 1
        j += 1
    return j


class PhraseIndex:
    """Phrases indexed by their first slot: each token costs one or two dict look-ups.

    Whole words are looked up directly; prefixes ("preis*") are bucketed by their first
    three letters, so a token checks only the few prefixes that share its head; suffixes
    ("*st") are bucketed by their last letter.
    """

    _HEAD = 3

    def __init__(self, phrases: list[Phrase]) -> None:
        self._by_word: dict[str, list[Phrase]] = {}
        by_prefix: dict[str, list[Phrase]] = {}
        self._numeric: list[Phrase] = []
        self._by_tail: dict[str, list[Phrase]] = {}
        for phrase in phrases:
            first = phrase.slots[0]
            assert first is not None  # parse_phrase guarantees it
            for word in first.words:
                self._by_word.setdefault(word, []).append(phrase)
            for prefix in first.prefixes:
                by_prefix.setdefault(prefix, []).append(phrase)
            for suffix in first.suffixes:
                self._by_tail.setdefault(suffix[-1], []).append(phrase)
            if first.min_number is not None:
                self._numeric.append(phrase)
        heads: dict[str, list[tuple[str, list[Phrase]]]] = {}
        self._short: list[tuple[str, list[Phrase]]] = []
        for prefix, found in by_prefix.items():
            if len(prefix) < self._HEAD:
                self._short.append((prefix, found))
            else:
                heads.setdefault(prefix[: self._HEAD], []).append((prefix, found))
        self._by_head = {head: tuple(entries) for head, entries in heads.items()}

    def at(self, tokens: list[str], i: int) -> list[tuple[Phrase, int]]:
        """Phrases matching at ``tokens[i]``, with their end index."""
        token = tokens[i]
        found: list[tuple[Phrase, int]] = []
        candidates = self._by_word.get(token)
        if candidates:
            # the word itself is the key: the first slot accepts it, go on from the second
            for phrase in candidates:
                if len(phrase.slots) == 1:
                    found.append((phrase, i + 1))
                    continue
                end = _match(phrase.slots, 1, tokens, i + 1)
                if end >= 0:
                    found.append((phrase, end))
        bucket = self._by_head.get(token[: self._HEAD])
        if bucket:
            for prefix, phrases in bucket:
                if token.startswith(prefix):
                    self._verify(phrases, tokens, i, found)
        for prefix, phrases in self._short:
            if token.startswith(prefix):
                self._verify(phrases, tokens, i, found)
        if self._by_tail:
            tail = self._by_tail.get(token[-1])
            if tail:
                self._verify(tail, tokens, i, found)
        if self._numeric and token.isdigit():
            self._verify(self._numeric, tokens, i, found)
        return found

    @staticmethod
    def _verify(
        candidates: list[Phrase], tokens: list[str], i: int, found: list[tuple[Phrase, int]]
    ) -> None:
        for phrase in candidates:
            first = phrase.slots[0]
            if first is not None and first.accepts(tokens[i]):
                end = _match(phrase.slots, 1, tokens, i + 1)
                if end >= 0:
                    found.append((phrase, end))
