"""The German toxicity model shipped with livepilot: numpy inference, no pickle, no sklearn.

The model (``livepilot/data/german_toxicity.npz``) is trained by
:mod:`livepilot.ml.train_german` on GermEval 2018 (Wiegand, Siegel, Ruppenhofer, CC BY 4.0;
see ``docs/german-model.md``). It is two logistic regressions over the same hashed TF-IDF
features (character 2–5-grams within words, word 1–2-grams): one on plain TF-IDF, one on
TF-IDF scaled by naive-Bayes log-count ratios. Their probabilities are averaged (with
the weights in the file's ``mix``, one pair for short and one for long texts, chosen by
cross-validation inside the training data; an even average in files without it) and
Platt-calibrated on out-of-fold predictions, with the intercept shifted so that 0.5 is the
decision threshold chosen by cross-validation (files of the first model instead store that
threshold and map it to 0.5 piecewise-linearly; both load here). A third, multinomial
model names the kind of offence (abuse, insult, profanity).

A long text (a prepared text of at least ``long_at`` characters, in the file's meta) also
sets a second copy of its features in both regressions, with weights of their own: long
texts (the tweets the model learnt from) and short ones (chat) share the first copy's
weights, and the second lets long texts differ where they need to ("frustratingly easy"
domain adaptation, Daumé III 2007, keyed by length because a message does not say where
it comes from). Short texts are scored as if the second copy did not exist.

Allow-listed words (the word filter's ``allow:`` entries, handed in with
:meth:`GermanModel.allow`) are cut out of the normalised text before features are taken:
a word the rules call harmless ("Schwanzflosse", "Fickmühle") must not raise the score
through its character n-grams.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt

from livepilot.errors import ConfigError
from livepilot.ml.text import Featurizer, normalize

__all__ = ["FORMAT", "KINDS", "GermanModel", "GermanVerdict", "allow_pattern",
           "default_model_path"]

#: Bumped when the file layout changes; the loader refuses other versions.
FORMAT = 1
#: The fine GermEval classes, in the order of the rows of ``kind_coef``.
KINDS = ("abuse", "insult", "profanity")

Floats = npt.NDArray[np.float64]


def default_model_path() -> Path:
    """The model file inside the installed package."""
    return Path(str(resources.files("livepilot") / "data" / "german_toxicity.npz"))


@dataclass(frozen=True, slots=True)
class GermanVerdict:
    """The model's view of one message: ``score`` in [0, 1] (≥ 0.5 means offensive)."""

    score: float
    kind: str

    @property
    def offensive(self) -> bool:
        return self.score >= 0.5


_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def allow_pattern(terms: Iterable[str]) -> re.Pattern[str] | None:
    """One regex matching every allow-listed term inside normalised text, longest first,
    in both spellings (``fickmühle`` and ``fickmuehle``); ``None`` for no terms.

    An alternation of literals: each position of the text is tried against each term
    once, so matching is linear in the text's length.
    """
    forms: set[str] = set()
    for term in terms:
        form = normalize(term)
        if len(form) >= 3:  # shorter terms would cut letters out of ordinary words
            forms.update((form, form.translate(_UMLAUTS)))
    if not forms:
        return None
    return re.compile("|".join(re.escape(f) for f in sorted(forms, key=lambda f: (-len(f), f))))


def _sigmoid(x: Floats) -> Floats:
    out: Floats = 1.0 / (1.0 + np.exp(-x))
    return out


class GermanModel:
    """Loads the weights once; :meth:`score` works on batches and is thread-compatible
    as long as one instance is used by one thread at a time (the feature memo is not
    locked)."""

    name = "german"

    def __init__(self, arrays: dict[str, npt.NDArray[np.generic]], meta: dict[str, object]) -> None:
        try:
            self._featurizer = Featurizer(int(str(meta["char_buckets"])),
                                          int(str(meta["word_buckets"])))
            self._idf = arrays["idf"].astype(np.float64)
            self._coef = arrays["coef"].astype(np.float64)  # (2, size): plain, nb-scaled
            self._intercept = arrays["intercept"].astype(np.float64)  # (2,)
            self._kind_coef = arrays["kind_coef"].astype(np.float64)  # (3, size)
            self._kind_intercept = arrays["kind_intercept"].astype(np.float64)  # (3,)
            self._platt = arrays["platt"].astype(np.float64)  # (2,): a, b
            self._threshold = float(arrays["threshold"])
            # Weight of the NB-LR regression in the average, for short and long texts
            # (files before the mix was chosen by cross-validation: an even average).
            mix = arrays.get("mix")
            self._mix = np.full(2, 0.5) if mix is None else mix.astype(np.float64)
            self._sublinear = bool(meta.get("sublinear", True))
            # 0: no second copy for long texts (files before it was introduced).
            self._long_at = int(str(meta.get("long_at", 0)))
        except KeyError as exc:
            raise ConfigError(f"German model file lacks {exc}; retrain it") from exc
        size = self._featurizer.size
        width = 2 * size if self._long_at else size
        if self._idf.shape != (size,) or self._coef.shape != (2, width) or \
                self._kind_coef.shape != (len(KINDS), size) or self._mix.shape != (2,):
            raise ConfigError(f"German model file has wrong shapes for {size} features")
        self.meta = meta
        self._allow: re.Pattern[str] | None = None

    def allow(self, terms: Iterable[str]) -> None:
        """Cut these words (the word filter's allow-list) out of every text before scoring;
        replaces the previous list."""
        self._allow = allow_pattern(terms)

    def prepare(self, text: str) -> str:
        """What the model reads of ``text``: normalised, allow-listed words cut out."""
        normalized = normalize(text)
        if self._allow is None:
            return normalized
        return " ".join(self._allow.sub(" ", normalized).split())

    @classmethod
    def load(cls, path: Path | None = None, *, allow: Iterable[str] = ()) -> GermanModel:
        """Load a model file written by :func:`livepilot.ml.train_german.save`; ``allow``
        as for :meth:`allow`."""
        path = path or default_model_path()
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except FileNotFoundError as exc:
            raise ConfigError(f"German model file {path} not found") from exc
        except ValueError as exc:
            raise ConfigError(f"German model file {path} is not a valid npz: {exc}") from exc
        meta = json.loads(str(arrays.pop("meta")))
        if meta.get("format") != FORMAT:
            raise ConfigError(
                f"German model file {path} has format {meta.get('format')!r}, expected {FORMAT}"
            )
        model = cls(arrays, meta)
        model.allow(allow)
        return model

    def _features(
        self, texts: Sequence[str]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], Floats, npt.NDArray[np.bool_]]:
        """TF-IDF entries (rows, columns, values) and which rows are long texts."""
        prepared = [self.prepare(t) for t in texts]
        rows, cols, counts = self._featurizer.batch(prepared)
        tf = 1.0 + np.log(counts) if self._sublinear else counts
        values = tf * self._idf[cols]
        # L2-normalise the character block and the word block of each row separately.
        block = rows * 2 + (cols >= self._featurizer.char_buckets)
        norms = np.sqrt(np.bincount(block, weights=values * values, minlength=2 * len(texts)))
        values = values / np.maximum(norms[block], 1e-12)
        lengths = np.fromiter((len(p) for p in prepared), np.int64, len(prepared))
        long = lengths >= self._long_at if self._long_at else np.zeros(len(texts), dtype=bool)
        return rows, cols, values, long

    def _raw(self, rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64],
             values: Floats, long: npt.NDArray[np.bool_], n: int) -> Floats:
        if long.any():
            # The second copy of a long text's features sits behind the first.
            extra = long[rows]
            rows = np.concatenate([rows, rows[extra]])
            cols = np.concatenate([cols, cols[extra] + self._featurizer.size])
            values = np.concatenate([values, values[extra]])
        nb = self._mix[long.astype(np.int64)]  # the NB-LR regression's weight per text
        probs = np.zeros(n)
        for k, share in enumerate((1.0 - nb, nb)):
            logits = np.bincount(rows, weights=values * self._coef[k, cols], minlength=n)
            probs += share * _sigmoid(logits + self._intercept[k])
        a, b = self._platt
        calibrated: Floats = _sigmoid(a * probs + b)
        return calibrated

    def _map(self, p: Floats) -> Floats:
        t = self._threshold
        mapped: Floats = np.where(p < t, 0.5 * p / t, 0.5 + 0.5 * (p - t) / (1.0 - t))
        return np.clip(mapped, 0.0, 1.0)

    def _kinds(self, rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64],
               values: Floats, n: int) -> list[str]:
        logits = np.stack(
            [
                np.bincount(rows, weights=values * self._kind_coef[k, cols], minlength=n)
                + self._kind_intercept[k]
                for k in range(len(KINDS))
            ]
        )
        return [KINDS[int(i)] for i in np.argmax(logits, axis=0)]

    def raw(self, texts: Sequence[str]) -> Floats:
        """Calibrated probability of offence, before the threshold mapping."""
        if not texts:
            return np.zeros(0)
        return self._raw(*self._features(texts), len(texts))

    def scores(self, texts: Sequence[str]) -> Floats:
        """Score in [0, 1] per text; 0.5 is the model's decision threshold."""
        return self._map(self.raw(texts))

    def predict(self, texts: Sequence[str]) -> list[GermanVerdict]:
        """Score and kind of offence per text (the kind matters where the score is high)."""
        if not texts:
            return []
        rows, cols, values, long = self._features(texts)
        n = len(texts)
        scores = self._map(self._raw(rows, cols, values, long, n))
        kinds = self._kinds(rows, cols, values, n)
        return [GermanVerdict(float(s), k) for s, k in zip(scores, kinds, strict=True)]
