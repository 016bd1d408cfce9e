"""The one ensemble policy: word-filter hits, the German model and Detoxify → one verdict.

Each piece of evidence becomes a score in [0, 1], weighted by how much it can be trusted
for the message's language; the verdict's score is the strongest piece of evidence, so
every flag has exactly one reason a moderator can read first ("German model 0.91,
insult"), and more evidence can only raise it — a late model update never un-flags what
the rules already flagged. Two thresholds turn the score into an action: ``review``
(flag for moderators) and ``hide`` (keep off overlays and filtered chat until a
moderator approves).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, model_validator

from livepilot.insights import Action, Label
from livepilot.ml.german import GermanVerdict
from livepilot.ml.language import Language
from livepilot.ml.scorer import Scores
from livepilot.texts import Phrase, say

__all__ = ["Evidence", "PolicyConfig", "ToxicityPolicy", "Verdict"]

# Detoxify category → the kind we name; categories not listed are ignored.
_DETOX_KINDS = {
    "toxicity": "toxic",
    "severe_toxicity": "severe",
    "obscene": "profanity",
    "threat": "threat",
    "insult": "insult",
    "identity_attack": "hate",
    "sexual_explicit": "sexual",
}


class PolicyConfig(BaseModel):
    """Thresholds and trust weights. ``review`` < ``hide``, both in (0, 1]."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    review: float = Field(default=0.5, gt=0, le=1)
    hide: float = Field(default=0.85, gt=0, le=1)
    #: A word-filter hit without its own score counts as this.
    word_filter: float = Field(default=1.0, ge=0, le=1)
    #: Trust in the German model for German text, and for English text when no other
    #: model is there (it was trained on German tweets; English insults share few n-grams).
    german_de: float = Field(default=1.0, ge=0, le=1)
    german_en: float = Field(default=0.6, ge=0, le=1)
    #: Trust in a model that does not cover German (Detoxify) on German text.
    foreign_on_de: float = Field(default=0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> PolicyConfig:
        if self.review >= self.hide:
            raise ValueError(f"review threshold {self.review} must be below hide {self.hide}")
        return self


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything known about one message when the policy decides."""

    language: Language
    word_hits: Sequence[Label] = ()
    german: GermanVerdict | None = None
    model: Scores | None = None
    model_name: str = "detoxify"
    model_covers_german: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    score: float
    kind: str | None
    reasons: tuple[str | Phrase, ...] = ()
    action: Action | None = None
    hidden: bool = False
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def toxic(self) -> bool:
        return self.action is not None


class ToxicityPolicy:
    def __init__(self, config: PolicyConfig | None = None) -> None:
        self.config = config or PolicyConfig()

    def decide(self, evidence: Evidence) -> Verdict:
        cfg = self.config
        # (weighted score, kind, reason) for each piece of evidence.
        pieces: list[tuple[float, str | None, Phrase]] = []
        scores: dict[str, float] = {}
        for hit in evidence.word_hits:
            s = cfg.word_filter if hit.score is None else hit.score
            named = hit.kind or "toxic"
            pieces.append((s, hit.kind, say("reason.word_filter_hit",
                                            f"word filter hit ({named})", kind=named)))
        if evidence.german is not None:
            g = evidence.german
            scores["toxicity_german"] = round(g.score, 4)
            trust = {"de": cfg.german_de, "en": cfg.german_en}.get(evidence.language, 0.0)
            if evidence.language == "en" and evidence.model is not None:
                trust = 0.0  # an English model is there; the German one adds noise
            if trust > 0:
                pieces.append((g.score * trust, g.kind, say(
                    "reason.german_model", f"German model {g.score:.2f} ({g.kind})",
                    score=f"{g.score:.2f}", kind=g.kind or "toxic")))
        if evidence.model is not None:
            trust = 1.0
            if evidence.language == "de" and not evidence.model_covers_german:
                trust = cfg.foreign_on_de
            best_kind, best = None, 0.0
            for category, value in evidence.model.items():
                kind = _DETOX_KINDS.get(category)
                if kind is None:
                    continue
                scores[f"{evidence.model_name}_{category}"] = round(float(value), 4)
                if value > best or (value == best and kind != "toxic"):
                    best_kind, best = kind, float(value)
            # Prefer the specific category over the generic one when both are high.
            if best_kind == "toxic":
                specific = [
                    (float(v), _DETOX_KINDS[c]) for c, v in evidence.model.items()
                    if c in _DETOX_KINDS and c != "toxicity" and float(v) >= cfg.review
                ]
                if specific:
                    best_kind = max(specific)[1]
            pieces.append(
                (best * trust, best_kind, say(
                    "reason.model", f"{evidence.model_name} {best:.2f} ({best_kind})",
                    model=evidence.model_name, score=f"{best:.2f}", kind=best_kind or "toxic"))
            )
        if not pieces:
            return Verdict(0.0, None, (), None, False, scores)
        score, kind, reason = max(pieces, key=lambda p: p[0])
        score = min(1.0, max(0.0, score))
        action: Action | None = None
        if score >= cfg.hide:
            action = Action.HIDE
        elif score >= cfg.review:
            action = Action.REVIEW
        reasons = (reason,) if action is not None else ()
        return Verdict(round(score, 4), kind, reasons, action, action is Action.HIDE, scores)
