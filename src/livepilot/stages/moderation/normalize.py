"""Text normalisation for matching: what chat users do to hide a word, undone.

Two levels, both pure functions:

* :func:`fold` works on a whole message once: Unicode NFKC, invisible characters and
  combining marks removed, Cyrillic/Greek look-alikes mapped to Latin, lower case, German
  umlauts and ß spelled out (``ä`` → ``ae``, ``ß`` → ``ss``) so that ``Mißgeburt`` and
  ``Missgeburt`` meet, other accents dropped.
* :func:`candidates` works on one whitespace-separated chunk of folded text and returns the
  forms worth matching: separators inside a word removed (``h.u.r.e`` → ``hure``), the
  parts around them, leetspeak undone (``h0r3ns0hn`` → ``horensohn``; ``@``, ``$``, ``€``
  and ``!`` between letters too), masking characters (``*``, ``#``) kept as wildcards for
  the matcher. Matchers memoise per chunk, so this runs once per distinct chunk.

:func:`squeeze` collapses repeated letters (``huuuure``); the matcher applies it to both
sides so that doubled letters in real words (``nutte``, ``missgeburt``) still match.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "MASKS",
    "candidates",
    "collapse_runs",
    "fold",
    "fold_term",
    "squeeze",
    "unleet",
    "words",
]

#: Characters users put in place of a letter to mask it (``h*re``, ``f##k``).
MASKS = frozenset("*#")

# Zero-width and formatting characters that split a word without being visible.
_INVISIBLE = dict.fromkeys(
    map(ord, "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e"
             "\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\ufeff"),
    None,
)

# Look-alikes from other scripts, lower case (folding lower-cases first).
_HOMOGLYPHS: dict[str, str | None] = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "з": "3", "и": "u", "й": "u", "к": "k",
    "м": "m", "н": "h", "о": "o", "п": "n", "р": "p", "с": "c", "т": "t", "у": "y",
    "х": "x", "ь": "b", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ԛ": "q",
    "ԝ": "w", "һ": "h", "ӏ": "l", "г": "r",
    # Greek
    "α": "a", "β": "b", "γ": "y", "δ": "d", "ε": "e", "η": "n", "ι": "i", "κ": "k",
    "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ς": "s",
    "σ": "o", "μ": "u", "λ": "l",
    # Latin oddities NFKC leaves alone
    "ı": "i", "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ŧ": "t", "ɑ": "a", "ɡ": "g",
    "ſ": "s", "æ": "ae", "œ": "oe", "ð": "d", "þ": "th",
    # German spelled out: the canonical form on both sides of every comparison
    "ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ẞ": "ss",
}
# Capitals that look like a different Latin letter than their lower case does (Greek Η
# is an H, η an n), mapped before lower-casing.
_CAPITALS = {
    "А": "a", "В": "b", "Е": "e", "К": "k", "М": "m", "Н": "h", "О": "o", "Р": "p",
    "С": "c", "Т": "t", "Х": "x", "У": "y", "Ѕ": "s", "І": "i", "Ј": "j", "Α": "a",
    "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "i", "Κ": "k", "Μ": "m", "Ν": "n",
    "Ο": "o", "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x",
}
_CAPITAL_TABLE = str.maketrans(_CAPITALS)
_FOLD_TABLE: dict[int, str | None] = {**str.maketrans(_HOMOGLYPHS), **_INVISIBLE}

# Leetspeak, applied only to chunks that contain a letter (so "2024" stays a number).
_LEET = str.maketrans(
    {"0": "o", "1": "i", "2": "z", "3": "e", "4": "a", "5": "s", "6": "g", "7": "t", "8": "b",
     "9": "g", "@": "a", "$": "s", "€": "e", "£": "e", "¢": "c", "+": "t"}
)

# Split points inside a chunk: punctuation that never sits inside a word.
_HARD = re.compile(r"[,;:?!—–\"'()\[\]{}<>«»„“”‚‘’…¿¡]+")
# Separators users put between the letters of one word (``h.u.r.e``, ``h-u-r-e``).
_SOFT = re.compile(r"[.\-_|/~·•=^\\]+")
_LETTER = re.compile(r"[a-z]")
_LONG_DIGITS = re.compile(r"\d{3}")
_SHORT_DIGITS = re.compile(r"(?<!\d)\d{1,2}(?!\d)")
_SYMBOLS = str.maketrans({"@": "a", "$": "s", "€": "e", "£": "e", "¢": "c", "+": "t"})
# Accented Latin letters and combining marks: what the slow decomposition pass removes.
_MARKS = re.compile(r"[\u00c0-\u02af\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u1e00-\u1eff"
                    r"\u20d0-\u20ff\ufe20-\ufe2f]")
_BANG = re.compile(r"(?<=[a-z])!(?=[a-z])")
_RUN3 = re.compile(r"(.)\1{2,}")
_RUN2 = re.compile(r"(.)\1+")
_EDGE = ".-_|/~·•=^\\*#"


def fold(text: str) -> str:
    """The whole message, lower-cased and with look-alikes, accents and invisibles undone."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKC", text).translate(_CAPITAL_TABLE)
    text = text.lower().translate(_FOLD_TABLE)
    if text.isascii() or not _MARKS.search(text):
        return text  # emoji and other scripts stay as they are
    # Drop what is left of accents and combining marks (Zalgo text, é → e).
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def unleet(token: str) -> str:
    """Undo leetspeak in a token that contains at least one letter.

    Digits count as letters only in runs of one or two (``h0r3ns0hn``, ``l33t``); longer
    runs are numbers (``anna1987``, ``hure187``).
    """
    if not _LETTER.search(token):
        return token
    if _LONG_DIGITS.search(token):
        return _SHORT_DIGITS.sub(_unleet_match, token).translate(_SYMBOLS)
    return token.translate(_LEET)


def _unleet_match(match: re.Match[str]) -> str:
    return match.group(0).translate(_LEET)


def collapse_runs(token: str) -> str:
    """Three or more of the same character become two (``huuuure`` → ``huure``)."""
    return _RUN3.sub(r"\1\1", token)


def squeeze(token: str) -> str:
    """Every run of the same character becomes one (``huure`` → ``hure``)."""
    return _RUN2.sub(r"\1", token)


def _strip_edges(piece: str) -> str:
    return piece.strip(_EDGE)


def candidates(chunk: str) -> list[str]:
    """The forms of one folded, whitespace-free chunk worth matching, most joined first.

    ``"h.u.r.e!!"`` → ``["hure"]``; ``"ok.danke"`` → ``["okdanke", "ok", "danke"]``;
    ``"@anna"`` → ``["anna"]``; ``"h*r3ns0hn"`` → ``["h*rensohn"]`` (masks stay).
    """
    out: list[str] = []
    # "!" between letters is an i (sh!t, w!chser); elsewhere it is punctuation.
    for piece in _HARD.split(_BANG.sub("i", chunk) if "!" in chunk else chunk):
        if not piece:
            continue
        mention = piece.startswith("@")
        piece = _strip_edges(piece.lstrip("@") if mention else piece)
        if not piece:
            continue
        parts = [p for p in _SOFT.split(piece) if p]
        joined = unleet("".join(parts))
        if len(joined) >= 2 or (len(joined) == 1 and joined.isalnum() and piece == chunk):
            # A lone letter is kept: "fuck u", and "h u r e" joined by the matcher.
            out.append(joined)
        if len(parts) > 1:
            out.extend(unleet(_strip_edges(p)) for p in parts if len(p) >= 2)
    return out


def fold_term(term: str) -> str:
    """A rule term in the form the matcher compares: folded, separators and runs kept as
    written (terms are spelled properly), spaces collapsed."""
    return " ".join(fold(term).split())


def words(text: str) -> list[str]:
    """A folded message as matchable words (used for phrases, regex rules and spam)."""
    out: list[str] = []
    for chunk in fold(text).split():
        forms = candidates(chunk)
        if forms:
            out.append(forms[0])
    return out
