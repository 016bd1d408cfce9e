"""Disguised spellings of chat lines, for training only.

Chat hides insults behind stars, hyphens and stretched letters (``f*tze``, ``arsch-loch``,
``iiidiot``). Normalisation (:func:`livepilot.ml.text.normalize`) undoes leetspeak and
spelled-out words, but a star or hyphen cannot be undone: the letter it stands for is
unknown. The model must learn such forms from their character n-grams, so training adds
one disguised copy of each written chat line — of both classes, so that a star alone does
not become a sign of offence (``sch*iße, lag`` stays harmless). Deterministic (seeded).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

__all__ = ["disguise", "disguise_all"]

_VOWELS = frozenset("aeiouäöü")


def _star_one(word: str) -> str:
    for i in range(1, len(word)):
        if word[i] in _VOWELS:
            return word[:i] + "*" + word[i + 1 :]
    return word


def _star_vowels(word: str) -> str:
    return word[0] + "".join("*" if c in _VOWELS else c for c in word[1:])


def _hyphen(word: str) -> str:
    half = len(word) // 2
    return word[:half] + "-" + word[half:]


def _stretch(word: str) -> str:
    for i, c in enumerate(word):
        if c in _VOWELS:
            return word[:i] + c * 4 + word[i + 1 :]
    return word


def _star_middle(word: str) -> str:
    if len(word) < 4:
        return _star_one(word)
    return word[0] + "*" * (len(word) - 2) + word[-1]


_TRANSFORMS: tuple[Callable[[str], str], ...] = (
    _star_one, _star_vowels, _hyphen, _stretch, _star_middle,
)


def disguise(text: str, rng: random.Random) -> str:
    """``text`` with its longest word (the one most likely to carry the meaning, at least
    four letters) disguised by one randomly chosen transform; unchanged if it has none."""
    words = text.split()
    candidates = [i for i, w in enumerate(words) if w.isalpha() and len(w) >= 4]
    if not candidates:
        return text
    target = max(candidates, key=lambda i: len(words[i]))
    words[target] = rng.choice(_TRANSFORMS)(words[target])
    return " ".join(words)


def disguise_all(texts: Sequence[str], seed: int = 0) -> list[str]:
    """One disguised copy per text (same order), reproducible for a given ``seed``."""
    rng = random.Random(seed)
    return [disguise(t, rng) for t in texts]
