"""Detoxify, offline: a tiny BERT checkpoint in Detoxify's format, built here with random
weights and a vocabulary written by the test, loaded through Detoxify's real loader,
scored through our batcher. Nothing touches the network."""

from __future__ import annotations

import asyncio
from pathlib import Path

# The ML extra is part of the test install (./dev test): a missing package is a failure.
import detoxify
import pytest
import torch

from livepilot.insights import Insight
from livepilot.metrics import Metrics
from livepilot.ml.batcher import BatcherConfig, Job, MicroBatcher, Results
from livepilot.ml.detoxify_scorer import DetoxifyScorer
from livepilot.ml.tiny_checkpoint import write_tiny_checkpoint
from livepilot.pipeline.context import StageContext
from livepilot.pipeline.runner import Pipeline
from livepilot.settings import Settings
from livepilot.stages.moderation.toxicity import ToxicityStage, build
from livepilot.testing import EventFactory, FakeClock

WORDS = "hello chat gg you are bad lol du bist so dumm nice stream wie geht es".split()


def build_checkpoint(root: Path, *, model_type: str | None = None) -> tuple[Path, Path]:
    return write_tiny_checkpoint(root, WORDS, model_type=model_type)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_checkpoint(tmp_path_factory.mktemp("detox"))


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def test_loads_offline_and_matches_detoxify_predict(tiny: tuple[Path, Path]) -> None:
    checkpoint, config_dir = tiny
    scorer = DetoxifyScorer(checkpoint=checkpoint, config_dir=config_dir)
    assert scorer.status.reason == "loading"
    scorer.load()
    assert scorer.status.available, scorer.status
    texts = ["hello chat gg", "you are bad lol", "du bist so dumm"]
    scores = scorer.score(texts)
    assert [sorted(s) for s in scores] == [sorted(
        ["toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"]
    )] * 3
    reference = detoxify.Detoxify(checkpoint=str(checkpoint),
                                  huggingface_config_path=str(config_dir))
    for i, text in enumerate(texts):
        alone = reference.predict(text)  # one text: detoxify returns floats, not lists
        for category, value in alone.items():
            assert scores[i][category] == pytest.approx(value, abs=1e-5)
    assert scorer.score(["nice"])[0]["toxicity"] == pytest.approx(
        reference.predict("nice")["toxicity"], abs=1e-6
    )


def test_released_style_checkpoint_loads_from_config_dir(tmp_path: Path) -> None:
    """Released checkpoints name a hub model ("bert-base-uncased"); with the config
    directory given, that must not reach for the network."""
    checkpoint, config_dir = build_checkpoint(tmp_path, model_type="bert-base-uncased")
    scorer = DetoxifyScorer(checkpoint=checkpoint, config_dir=config_dir)
    scorer.load()
    assert scorer.status.available, scorer.status
    assert 0.0 <= scorer.score(["hello"])[0]["insult"] <= 1.0

    no_config = DetoxifyScorer(checkpoint=checkpoint, config_dir=None)
    no_config.load()
    assert not no_config.status.available
    assert "LIVEPILOT_DETOXIFY_CONFIG_DIR" in no_config.status.reason


def test_unavailable_weights_are_reported_not_raised(tmp_path: Path) -> None:
    unset = DetoxifyScorer(checkpoint=None)
    unset.load()
    status = unset.status.as_dict()
    assert status["available"] is False
    assert "livepilot models pull multilingual" in str(status["reason"])
    missing = DetoxifyScorer(checkpoint=tmp_path / "nope.ckpt", config_dir=tmp_path)
    missing.load()
    assert not missing.status.available
    assert "nope.ckpt" in missing.status.reason
    junk = tmp_path / "junk.ckpt"
    torch.save({"weights": 1}, junk)
    bad = DetoxifyScorer(checkpoint=junk, config_dir=tmp_path)
    bad.load()
    assert "not a Detoxify checkpoint" in bad.status.reason


async def test_runs_through_the_batcher(tiny: tuple[Path, Path]) -> None:
    checkpoint, config_dir = tiny
    scorer = DetoxifyScorer(checkpoint=checkpoint, config_dir=config_dir)
    batcher = MicroBatcher(scorer, BatcherConfig(max_batch=4, max_wait=0.01), Metrics())
    got: list[tuple[str, object]] = []
    done = asyncio.Event()

    async def consume(results: Results) -> None:
        got.extend((job.key, scores) for job, scores in results)
        if len(got) == 6:
            done.set()

    for i in range(6):
        assert batcher.offer(Job(f"e{i}", WORDS[i] + " " + WORDS[-i - 1]))
    task = asyncio.create_task(batcher.run(consume))
    try:
        await asyncio.wait_for(done.wait(), 30)
    finally:
        task.cancel()
    assert [k for k, _ in got] == [f"e{i}" for i in range(6)]
    assert all(isinstance(s, dict) and "toxicity" in s for _, s in got)
    assert scorer.status.available


async def judged(texts: list[str], settings: Settings) -> list[Insight]:
    """What ``livepilot score`` does per chunk: the lane scores the texts first, then each
    runs through the stage with its verdict known."""
    stage = build(StageContext(settings, Metrics()))
    await stage.prefetch(texts)
    pipeline = Pipeline([stage], Metrics())
    events = EventFactory(FakeClock())
    return [
        next(m for m in pipeline.handle(events.chat(f"u{i}", t), 0) if isinstance(m, Insight))
        for i, t in enumerate(texts)
    ]


async def test_settings_wire_detoxify_into_the_toxicity_verdict(
    tiny: tuple[Path, Path], tmp_path: Path
) -> None:
    checkpoint, config_dir = tiny
    settings = Settings(detoxify_checkpoint=checkpoint, detoxify_config_dir=config_dir,
                        toxicity_german_inline=False, models_dir=tmp_path)
    assert settings.detoxify_runtime == "onnx"  # the default
    english, emotes = await judged(["you are bad lol", "😂😂"], settings)
    assert english.pending == () and english.not_scored is None
    assert 0.0 <= english.scores["detoxify_toxicity"] <= 1.0
    assert "toxicity_german" in english.scores  # one lane: both models, one verdict
    assert emotes.not_scored == "no_letters" and "detoxify_toxicity" not in emotes.scores
    broken = Settings(detoxify_checkpoint=checkpoint.with_name("gone.ckpt"),
                      toxicity_german_inline=False, models_dir=tmp_path)
    (plain,) = await judged(["you are bad lol"], broken)  # runs on without the model
    assert plain.pending == () and plain.not_scored is None
    assert "toxicity_german" in plain.scores and "detoxify_toxicity" not in plain.scores
    # German inline: without Detoxify there is no lane at all
    inline = broken.model_copy(update={"toxicity_german_inline": True})
    stage = build(StageContext(inline, Metrics()))
    assert isinstance(stage, ToxicityStage) and stage.german_inline
    (plain,) = await judged(["you are bad lol"], inline)
    assert plain.version == 0 and "toxicity_german" in plain.scores


def test_scores_do_not_depend_on_the_rest_of_the_batch(tiny: tuple[Path, Path]) -> None:
    """Padded batches sum in a shape-dependent order; each text runs alone instead."""
    checkpoint, config_dir = tiny
    scorer = DetoxifyScorer(checkpoint=checkpoint, config_dir=config_dir)
    scorer.load()
    texts = ["hello chat gg", "you are bad lol you are bad lol", "du bist so dumm", "nice"]
    alone = [scorer.score([t])[0] for t in texts]
    assert scorer.score(texts) == alone
    assert scorer.score(texts[::-1]) == alone[::-1]
