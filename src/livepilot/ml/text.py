"""Text normalisation and hashed n-gram features shared by training and inference.

The German model and its training script must see exactly the same features, so both
call :func:`normalize` and :class:`Featurizer` from here. Hashing uses CRC-32, which is
stable across processes (Python's ``hash`` is salted per process).

Normalisation is deliberately small: case folding, ``@user``/URL placeholders, leetspeak
un-mapping inside words, and collapsing long character runs. It should converge with the
word filter's normaliser once that exists, so filter and model see the same text.
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

__all__ = ["Featurizer", "normalize", "tokens"]

_MENTION = re.compile(r"@\w+")
_URL = re.compile(r"https?://\S+|www\.\S+")
_REPEAT = re.compile(r"(.)\1{2,}")
_WORD = re.compile(r"[^\W_]+(?:[*'’.-][^\W_]+)*|[^\w\s]")
# Digits and symbols that stand for letters when they sit between letters ("h0ren5ohn").
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a",
                       "$": "s", "!": "i", "€": "e"})
_LEETY = re.compile(r"\w*[a-zäöüß][\w@$!€*]*[0-9@$!€][\w@$!€*]*", re.IGNORECASE)


def _unleet(match: re.Match[str]) -> str:
    word = match.group(0)
    if word.isdigit():
        return word
    return word.translate(_LEET)


def normalize(text: str) -> str:
    """Fold case and the usual chat disguises so that variants share features."""
    text = unicodedata.normalize("NFKC", text)
    text = _URL.sub(" url ", text)
    text = _MENTION.sub(" @user ", text)
    text = text.casefold()
    text = _LEETY.sub(_unleet, text)
    text = _REPEAT.sub(r"\1\1", text)
    return " ".join(text.split())


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
    memoised (chat repeats its words a lot); the memo is bounded.
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
