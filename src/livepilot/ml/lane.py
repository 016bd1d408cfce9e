"""The toxicity lane: the models that run off the event loop, as one batch scorer.

The :class:`~livepilot.ml.batcher.MicroBatcher` runs :class:`ToxicityLane` on its worker
thread. Per batch of texts it runs the German model (one batched ``predict``: ~25 µs a
message instead of ~150 µs for a message alone) and, when configured, a slower scorer
(Detoxify) on the same texts, and returns one :class:`LaneScores` per text.

One lane rather than two: each message gets one late update that carries both models'
evidence, and the policy decides on all of it at once, exactly as it did when the German
model ran inline. The German model goes first because it is cheap and always there; if
the slower scorer fails on a batch, that is logged and counted and the batch still
returns its German verdicts.

A text's result depends on that text alone: the German model computes every row of a
batch on its own (bit-for-bit the same as alone, tested), and the Detoxify scorers run
each text alone. So how the batcher happens to group the queue never changes a verdict.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from livepilot.ml.german import GermanModel, GermanVerdict
from livepilot.ml.scorer import Scorer, ScorerStatus, Scores

__all__ = ["LaneScores", "ToxicityLane"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LaneScores:
    """What the lane concluded about one text: the German model's verdict and the slower
    scorer's category scores, each ``None`` when that model did not run or failed."""

    german: GermanVerdict | None = None
    model: Scores | None = None


class ToxicityLane:
    """A :class:`~livepilot.ml.batcher.BatchScorer` over the German model and an optional
    :class:`~livepilot.ml.scorer.Scorer`. Either may be absent, not both.
    ``on_model_error`` is called when the scorer fails on a batch (a metric's ``inc``).

    Not thread-safe: the German model's feature memo is unlocked, so while the lane runs
    on the batcher's thread nothing else may use the same :class:`GermanModel`.
    """

    def __init__(
        self,
        german: GermanModel | None,
        model: Scorer | None = None,
        *,
        on_model_error: Callable[[], object] | None = None,
    ) -> None:
        if german is None and model is None:
            raise ValueError("a toxicity lane needs the German model or a scorer")
        self.german = german
        self.model = model
        #: The metric label: "german", the scorer's name, or both ("german+detoxify").
        self.name = "+".join(
            n for n in ("german" if german else "", model.name if model else "") if n
        )
        self._on_model_error = on_model_error

    @property
    def status(self) -> ScorerStatus:
        """Available while any of its models is; loading while only the scorer could be."""
        if self.german is not None:
            return ScorerStatus(self.name, True)
        assert self.model is not None
        return self.model.status

    def load(self) -> None:
        if self.model is not None:
            self.model.load()

    def score(self, texts: Sequence[str]) -> list[LaneScores]:
        """One :class:`LaneScores` per text, in order."""
        german: Sequence[GermanVerdict | None] = (
            self.german.predict(texts) if self.german is not None else [None] * len(texts)
        )
        scored: Sequence[Scores | None] = [None] * len(texts)
        model = self.model
        if model is not None and (self.german is None or model.status.available):
            if self.german is None:
                scored = model.score(texts)  # alone it fails the batch, as a scorer does
            else:
                try:
                    scored = model.score(texts)
                    if len(scored) != len(texts):
                        raise ValueError(
                            f"scorer returned {len(scored)} results for {len(texts)} texts"
                        )
                except Exception:
                    # Contained here so the batch keeps its German verdicts.
                    if self._on_model_error is not None:
                        self._on_model_error()
                    log.error("scorer %s failed on a batch of %d", model.name, len(texts),
                              exc_info=True)
                    scored = [None] * len(texts)
        return [LaneScores(g, m) for g, m in zip(german, scored, strict=True)]
