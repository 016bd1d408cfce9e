"""The seam for toxicity models: a ``Scorer`` scores a batch of texts, off the event loop.

A scorer is plain synchronous code that may be slow (a transformer); the
:class:`~livepilot.ml.batcher.MicroBatcher` calls it from a worker thread. Scores are per
category in [0, 1] (Detoxify's ``toxicity``, ``insult``, ``threat`` …). A scorer that cannot
work (no weights, missing package) says so through :attr:`Scorer.status` instead of
raising, so the pipeline runs on and the console can show why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["LOADING", "Scorer", "ScorerStatus", "Scores", "UnavailableScorer"]

#: The ``reason`` of a scorer that has not finished :meth:`Scorer.load` yet.
LOADING = "loading"

#: Category → probability for one text.
Scores = Mapping[str, float]


@dataclass(frozen=True, slots=True)
class ScorerStatus:
    """What the console shows about a scorer: ``{"scorer", "available", "reason"}``."""

    scorer: str
    available: bool
    reason: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"scorer": self.scorer, "available": self.available, "reason": self.reason}


@runtime_checkable
class Scorer(Protocol):
    #: Short name: the metric label and the source named in reasons ("detoxify").
    name: str
    #: Whether the model understands German text (Detoxify's models do not).
    covers_german: bool

    @property
    def status(self) -> ScorerStatus: ...

    def load(self) -> None:
        """Do the slow setup (weights, sessions). Called once, in the worker thread.

        Failing here is reported through :attr:`status`, not raised.
        """
        ...

    def score(self, texts: Sequence[str]) -> list[Scores]:
        """Scores per text, in order. May raise; the batcher contains it."""
        ...


class UnavailableScorer:
    """Stands in for a scorer that could not be set up; ``score`` is never useful."""

    covers_german = False

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self._status = ScorerStatus(name, False, reason)

    @property
    def status(self) -> ScorerStatus:
        return self._status

    def load(self) -> None:
        pass

    def score(self, texts: Sequence[str]) -> list[Scores]:
        raise RuntimeError(f"scorer {self.name} is unavailable: {self._status.reason}")
