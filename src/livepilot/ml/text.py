"""Text normalisation and hashed n-gram features shared by training and inference.

The German model and its training script must see exactly the same features, so both
call :func:`normalize` and :class:`Featurizer` from here. Hashing uses CRC-32, which is
stable across processes (Python's ``hash`` is salted per process).

Normalisation is deliberately small: case folding, ``@user``/URL placeholders, leetspeak
un-mapping inside words, collapsing long character runs, and joining words spelled out
letter by letter (``f i c k`` → ``fick``). It should converge with the
word filter's normaliser once that exists, so filter and model see the same text.

Chat text is hostile input, so every step here is linear in the length of the text, and
analysis looks only at the first :data:`ANALYSED_CHARS` characters (:func:`analysed`):
the matchers, the model features and the language guess of a longer message come from
its beginning, while the message itself still reaches the console whole.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["ANALYSED_CHARS", "Featurizer", "analysed", "normalize", "tokens"]

# A mention starts a word; "sp@st" is leetspeak, not a mention.
_MENTION = re.compile(r"(?<!\w)@\w+")
_URL = re.compile(r"https?://\S+|www\.\S+")
_REPEAT = re.compile(r"(.)\1{2,}")
# Three or more single letters spelled out with spaces, dots or hyphens ("f i c k",
# "h.u.r.e"): joined into one word. Letters and separators are disjoint, so one pass.
_SPELLED = re.compile(r"(?<![^\W_])(?:[^\W\d_][ .-]){2,}[^\W\d_](?![^\W_])")
_SPELLED_SEP = re.compile(r"[ .-]")
_WORD = re.compile(r"[^\W_]+(?:[*'’.-][^\W_]+)*|[^\w\s]")
# Digits and symbols that stand for letters when they sit between letters ("h0ren5ohn").
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a",
                       "$": "s", "!": "i", "€": "e"})
# A leet word is a run of these characters that has a letter and, after it, a digit or
# symbol; it starts at the beginning of the word part (no symbol) holding its first letter.
_LEET_RUN = re.compile(r"[\w@$!€*]+")
_LEET_LETTER = re.compile(r"[a-zäöüß]", re.IGNORECASE)
_LEET_DIGIT = re.compile(r"[0-9@$!€]")
_LEET_SYMBOLS = "@$!€*"  # the run's characters that are not word characters
#: Per-word features are memoised only for words up to this long (chat words are short;
#: a long one is a one-off and its tuple would be large).
_MEMO_WORD = 64

#: How much of a message analysis looks at: word matching, model features and language
#: detection see the first this many characters (see :func:`analysed`).
ANALYSED_CHARS = 2_000


def analysed(text: str) -> str:
    """The part of ``text`` analysis looks at: the first :data:`ANALYSED_CHARS`
    characters, less a word cut in two at the end (when there is a space before it)."""
    if len(text) <= ANALYSED_CHARS:
        return text
    head = text[:ANALYSED_CHARS]
    if not text[ANALYSED_CHARS].isspace():
        cut = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
        if cut > 0:
            head = head[:cut]
    return head


def _unleet(text: str) -> str:
    r"""Undo leetspeak in every leet word (``h0ren5ohn`` → ``horensohn``).

    One pass over the runs of word characters and leet symbols; the same result as
    substituting ``\w*[a-zäöüß][\w@$!€*]*[0-9@$!€][\w@$!€*]*`` (which backtracks in
    cubic time on a long word), because such a match always runs to the end of its run.
    """
    out: list[str] = []
    done = 0
    for run in _LEET_RUN.finditer(text):
        word = run.group(0)
        letter = _LEET_LETTER.search(word)
        if letter is None or _LEET_DIGIT.search(word, letter.start() + 1) is None:
            continue
        start = run.start() + max(word.rfind(ch, 0, letter.start()) for ch in _LEET_SYMBOLS) + 1
        out.append(text[done:start])
        out.append(text[start : run.end()].translate(_LEET))
        done = run.end()
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


def normalize(text: str) -> str:
    """Fold case and the usual chat disguises so that variants share features.

    Looks at :func:`analysed` ``(text)`` only; linear in its length.
    """
    text = unicodedata.normalize("NFKC", analysed(text))
    text = _URL.sub(" url ", text)
    text = _MENTION.sub(" @user ", text)
    text = text.casefold()
    text = _unleet(text)
    text = _REPEAT.sub(r"\1\1", text)
    # Spelled-out words are joined twice: first while a wider gap still separates them
    # ("d u  s p a s t" → "d u  spast", not "duspast"), then once the gaps are collapsed
    # ("f  i  c  k" → "fick"). Each pass is linear.
    text = _SPELLED.sub(_join, text)
    text = " ".join(text.split())
    return _SPELLED.sub(_join, text)


def _join(match: re.Match[str]) -> str:
    return _SPELLED_SEP.sub("", match.group(0))


def tokens(text: str) -> list[str]:
    """Words and single punctuation marks of normalised text."""
    return _WORD.findall(text)


def _crc(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


@dataclass(slots=True)
class Featurizer:
    """Hashed character n-grams (within words, ``char_wb`` style) and word 1–2-grams.

    Character features land in ``[0, char_buckets)``, word features in
    ``[char_buckets, char_buckets + word_buckets)``; the two blocks are normalised
    separately, like two TF-IDF vectorisers side by side. Per-word character features are
    memoised (chat repeats its words a lot); the memo is bounded in entries and holds only
    words of chat length.
    """

    char_buckets: int
    word_buckets: int
    char_min: int = 2
    char_max: int = 5
    memo_size: int = 50_000
    _memo: dict[str, tuple[int, ...]] = field(default_factory=dict, init=False, repr=False)

    @property
    def size(self) -> int:
        return self.char_buckets + self.word_buckets

    def _word_chars(self, word: str) -> tuple[int, ...]:
        hit = self._memo.get(word)
        if hit is not None:
            return hit
        padded = f" {word} "
        length = len(padded)
        mask = self.char_buckets - 1
        out = [
            _crc(padded[i : i + n]) & mask
            for n in range(self.char_min, self.char_max + 1)
            for i in range(length - n + 1)
        ]
        result = tuple(out)
        if len(word) <= _MEMO_WORD:
            if len(self._memo) >= self.memo_size:
                self._memo.clear()
            self._memo[word] = result
        return result

    def indices(self, normalized: str) -> list[int]:
        """Feature indices (with repeats: a repeat counts twice) of one normalised text."""
        words = tokens(normalized)
        out: list[int] = []
        for word in words:
            out.extend(self._word_chars(word))
        base = self.char_buckets
        mask = self.word_buckets - 1
        out.extend(base + (_crc("w " + w) & mask) for w in words)
        out.extend(base + (_crc(f"b {a} {b}") & mask) for a, b in itertools.pairwise(words))
        return out

    def batch(
        self, normalized: Sequence[str]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Rows, columns and counts (a sparse matrix in COO form, sorted, no duplicates)."""
        rows: list[int] = []
        cols: list[int] = []
        for row, text in enumerate(normalized):
            idx = self.indices(text)
            cols.extend(idx)
            rows.extend([row] * len(idx))
        key = np.asarray(rows, dtype=np.int64) * self.size + np.asarray(cols, dtype=np.int64)
        uniq, counts = np.unique(key, return_counts=True)
        return uniq // self.size, uniq % self.size, counts.astype(np.float64)
