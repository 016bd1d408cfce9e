from __future__ import annotations

import pytest
from pydantic import ValidationError

from livepilot.insights import Action, Label
from livepilot.ml.german import GermanVerdict
from livepilot.ml.policy import Evidence, PolicyConfig, ToxicityPolicy

POLICY = ToxicityPolicy(PolicyConfig(review=0.5, hide=0.85))


def german(score: float, kind: str = "insult") -> GermanVerdict:
    return GermanVerdict(score, kind)


@pytest.mark.parametrize(
    ("score", "action", "hidden"),
    [(0.2, None, False), (0.49, None, False), (0.5, Action.REVIEW, False),
     (0.84, Action.REVIEW, False), (0.85, Action.HIDE, True), (0.99, Action.HIDE, True)],
)
def test_thresholds(score: float, action: Action | None, hidden: bool) -> None:
    verdict = POLICY.decide(Evidence(language="de", german=german(score)))
    assert verdict.score == pytest.approx(score)
    assert verdict.action is action
    assert verdict.hidden is hidden
    assert bool(verdict.reasons) is (action is not None)
    if action is not None:
        assert verdict.kind == "insult"
        assert "German model" in verdict.reasons[0]


def test_word_filter_hit_wins_and_names_its_category() -> None:
    hit = Label(name="toxic", source="word_filter", kind="threat", score=1.0)
    verdict = POLICY.decide(Evidence(language="de", word_hits=(hit,), german=german(0.3)))
    assert (verdict.score, verdict.kind, verdict.action) == (1.0, "threat", Action.HIDE)
    assert verdict.reasons == ("word filter hit (threat)",)


def test_german_model_is_not_trusted_on_other_languages() -> None:
    assert POLICY.decide(Evidence(language="other", german=german(0.95))).action is None
    en = POLICY.decide(Evidence(language="en", german=german(0.95)))
    assert en.score == pytest.approx(0.95 * 0.6)
    # With an English model present, the German one does not speak for English text.
    with_model = POLICY.decide(
        Evidence(language="en", german=german(0.95), model={"toxicity": 0.1, "insult": 0.05})
    )
    assert with_model.action is None


def test_model_categories_pick_the_specific_kind() -> None:
    verdict = POLICY.decide(
        Evidence(language="en", model={"toxicity": 0.97, "threat": 0.9, "insult": 0.2})
    )
    assert (verdict.action, verdict.kind) == (Action.HIDE, "threat")
    assert verdict.scores["detoxify_threat"] == 0.9
    assert "detoxify 0.97" in verdict.reasons[0]


def test_model_without_german_counts_half_on_german_text() -> None:
    verdict = POLICY.decide(Evidence(language="de", model={"toxicity": 0.9}))
    assert verdict.score == pytest.approx(0.45)
    assert verdict.action is None


def test_more_evidence_never_lowers_the_score() -> None:
    before = POLICY.decide(Evidence(language="de", german=german(0.7)))
    after = POLICY.decide(Evidence(language="de", german=german(0.7), model={"toxicity": 0.01}))
    assert after.score >= before.score
    assert after.action is before.action


def test_thresholds_must_be_ordered() -> None:
    with pytest.raises(ValidationError, match="below hide"):
        PolicyConfig(review=0.9, hide=0.8)
    with pytest.raises(ValidationError):
        PolicyConfig(revue=0.5)  # type: ignore[call-arg]
