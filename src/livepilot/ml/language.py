"""Language routing for chat: German, English or other, cheaply and on very short text.

Statistical identifiers are unreliable on two-word chat ("hallo", "lol", "gg"), so a small
list of chat words decides first; longer text goes to ``py3langid`` (langid.py's model,
shipped inside its wheel, ~40 µs per message), restricted to languages that are common in
German and English streams so it does not wander off to Polish for "nice". Whatever stays
unsure falls back to the stream's default language (German: livepilot is German-first).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from livepilot.ml.text import analysed

__all__ = ["CANDIDATES", "Language", "LanguageRouter"]

log = logging.getLogger(__name__)

Language = Literal["de", "en", "other"]

#: What langid may answer; anything but de/en routes as "other".
CANDIDATES = ("de", "en", "fr", "es", "it", "pt", "nl", "pl", "tr", "ru", "ar", "sv", "da")

_WORD = re.compile(r"[^\W\d_]+")

# Words that are frequent in chat and (nearly) unambiguous. Shared words ("so", "hi",
# "was", "bro", "lol") are left out on purpose: they carry no vote.
_DE = frozenset(
    """
    hallo moin servus tschüss tschau danke bitte geil krass digga alter ja nein nee doch
    ich du er sie wir ihr mich dich mir dir uns euch bist bin ist sind hast habe hab nicht
    kein keine und oder aber auch noch schon mal jetzt heute wie warum wieso weshalb wer
    wo wann der die das den dem des ein eine einen einem mit für von zu zum zur auf aus
    bei nach über unter sehr gut schön super mega echt voll halt einfach gerade grad
    schlecht toll lieb liebe geht gehts mach macht kann kannst willst will muss musst
    sollte würde wäre hier dort da dein deine mein meine sein seine ihre unser richtig
    wirklich vielleicht etwa ganz gar nichts alles viel viele kostet kosten preis gibts
    geh sterben halts fresse maul idiot hurensohn opfer schwachsinn spast wichser
    """.split()
)
_EN = frozenset(
    """
    hello hey thanks thank please yes yeah yep nope the you your you're youre are is
    not and but what why where when who how this that these those with for from about
    very good great nice cool love like awesome amazing cute beautiful bad stupid dumb
    ugly shut up go kill yourself guys everyone anyone someone price much cost buy
    can could would should can't dont don't doesn't isn't it's its my our their
    they them he she we him her just really now today here there have has had been
    """.split()
)


@dataclass(slots=True)
class LanguageRouter:
    """Routes a text to ``de``, ``en`` or ``other``.

    ``default`` is used for text too short or too mixed to tell. The langid model is
    loaded on first use (about half a second) unless ``identifier`` is given.
    """

    default: Language = "de"
    min_confidence: float = 0.5
    candidates: tuple[str, ...] = CANDIDATES
    identifier: Any = None
    _loaded: bool = field(default=False, init=False)

    def load(self) -> None:
        """Load the langid model now (else on first use)."""
        self._langid()

    def _langid(self) -> Any:
        if self.identifier is None:
            try:
                from py3langid.langid import (  # type: ignore[import-untyped, unused-ignore]
                    MODEL_FILE,
                    LanguageIdentifier,
                )
            except ImportError:
                if not self._loaded:
                    log.warning("py3langid is not installed: language routing uses word lists only")
                    self._loaded = True
                return None
            ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            ident.set_languages(list(self.candidates))
            self.identifier = ident
        return self.identifier

    @staticmethod
    def _vote(words: Iterable[str]) -> tuple[int, int]:
        de = en = 0
        for w in words:
            de += w in _DE
            en += w in _EN
        return de, en

    def route(self, text: str) -> Language:
        text = analysed(text)  # langid's cost grows with the text; the start tells enough
        words = _WORD.findall(text.casefold())
        if not words:
            return self.default
        de, en = self._vote(words)
        if len(words) <= 3 or de + en >= max(2, len(words) // 2):
            # Short or full of chat words: the word lists know better than the statistics.
            if de > en:
                return "de"
            if en > de:
                return "en"
            if len(words) <= 2:
                return self.default
        ident = self._langid()
        if ident is None:
            return "de" if de > en else "en" if en > de else self.default
        lang, confidence = ident.classify(text)
        if confidence < self.min_confidence:
            if de != en:
                return "de" if de > en else "en"
            return self.default
        if lang in ("de", "en"):
            return lang  # type: ignore[no-any-return]
        return "other"
