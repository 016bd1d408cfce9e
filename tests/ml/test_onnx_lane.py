"""The ONNX lane on a tiny Detoxify-format BERT built here: export, int8, truncation, and
the same scores as Detoxify.predict (fp32 exactly, int8 closely), in input order."""

from __future__ import annotations

from pathlib import Path

# The ML extra is part of the test install (./dev test): a missing package is a failure.
import detoxify
import onnx  # noqa: F401  (the int8 export needs it)
import onnxruntime  # noqa: F401
import pytest

from livepilot.ml.onnx_lane import OnnxDetoxifyScorer
from livepilot.ml.tiny_checkpoint import write_tiny_checkpoint

WORDS = "hello chat gg you are bad lol du bist so dumm nice stream wie geht es".split()
TEXTS = [
    "hello chat gg",
    "you are bad lol you are bad lol you are bad lol",
    "du bist so dumm",
    "nice",
    "wie geht es " * 40,  # far past 64 tokens
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("onnx")
    checkpoint, config_dir = write_tiny_checkpoint(root, WORDS)
    return checkpoint, config_dir, root / "cache"


@pytest.fixture(scope="module")
def reference(tiny: tuple[Path, Path, Path]) -> list[dict[str, float]]:
    checkpoint, config_dir, _ = tiny
    det = detoxify.Detoxify(checkpoint=str(checkpoint), huggingface_config_path=str(config_dir))
    # One text per predict(), exactly as Detoxify is used as shipped.
    return [{k: float(v) for k, v in det.predict(t).items()} for t in TEXTS[:4]]


@pytest.mark.parametrize(("quantize", "tolerance"), [(False, 1e-4), (True, 0.02)])
def test_matches_detoxify_predict(
    tiny: tuple[Path, Path, Path], reference: list[dict[str, float]],
    quantize: bool, tolerance: float,
) -> None:
    checkpoint, config_dir, cache = tiny
    scorer = OnnxDetoxifyScorer(checkpoint, config_dir, quantize=quantize, cache_dir=cache)
    scorer.load()
    assert scorer.status.available, scorer.status
    assert ("int8" in scorer.status.reason) is quantize
    scores = scorer.score(TEXTS)
    assert len(scores) == len(TEXTS)
    for got, want in zip(scores, reference, strict=False):  # short texts: no truncation
        assert set(got) == set(want)
        for category, value in want.items():
            assert got[category] == pytest.approx(value, abs=tolerance)
    files = sorted(p.name for p in cache.rglob("*.onnx"))
    assert ("model.int8.onnx" in files) is quantize


def test_truncates_to_max_length(tiny: tuple[Path, Path, Path]) -> None:
    checkpoint, config_dir, cache = tiny
    scorer = OnnxDetoxifyScorer(checkpoint, config_dir, quantize=False, cache_dir=cache,
                                max_length=8)
    scorer.load()
    long, cut = scorer.score([TEXTS[4], "wie geht es wie geht es wie"])
    # 8 tokens = [CLS] + 6 words + [SEP]: both inputs are the same once truncated
    assert long == pytest.approx(cut, abs=1e-5)


def test_missing_checkpoint_is_reported(tmp_path: Path) -> None:
    scorer = OnnxDetoxifyScorer(tmp_path / "nope.ckpt", tmp_path, cache_dir=tmp_path)
    scorer.load()
    assert not scorer.status.available and "nope.ckpt" in scorer.status.reason
    assert not OnnxDetoxifyScorer(None).status.available


@pytest.mark.parametrize("quantize", [False, True], ids=["fp32", "int8"])
def test_scores_do_not_depend_on_the_rest_of_the_batch(
    tiny: tuple[Path, Path, Path], quantize: bool,
) -> None:
    """int8 quantises each batch's activations with one scale: batched, a text's scores
    moved with its neighbours. Each text runs alone, so they are bit-for-bit the same."""
    checkpoint, config_dir, cache = tiny
    scorer = OnnxDetoxifyScorer(checkpoint, config_dir, quantize=quantize, cache_dir=cache)
    scorer.load()
    alone = [scorer.score([t])[0] for t in TEXTS]
    assert scorer.score(TEXTS) == alone
    assert scorer.score(TEXTS[::-1]) == alone[::-1]
    assert scorer.score(TEXTS[1:3]) == alone[1:3]
