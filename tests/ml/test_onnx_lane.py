"""The ONNX lane on a tiny Detoxify-format BERT built here: export, int8, truncation, and
the same scores as Detoxify.predict (fp32 exactly, int8 closely), in input order."""

from __future__ import annotations

import json
from pathlib import Path

# The ML extra is part of the test install (./dev test): a missing package is a failure.
import detoxify
import onnx  # noqa: F401  (the int8 export needs it)
import onnxruntime  # noqa: F401
import pytest

from livepilot.ml.onnx_lane import OnnxDetoxifyScorer, agreement, probe_texts
from livepilot.ml.tiny_checkpoint import write_tiny_checkpoint

# Building, exporting and quantising a model takes a while on a busy 2-core box.
pytestmark = pytest.mark.timeout(240)

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
    # Only the scores matter here: the agreement check may not stand in the way.
    scorer = OnnxDetoxifyScorer(checkpoint, config_dir, quantize=quantize, cache_dir=cache,
                                min_agreement=0.0, probe=TEXTS)
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
                                max_length=8, min_agreement=0.0, probe=TEXTS)
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
    scorer = OnnxDetoxifyScorer(checkpoint, config_dir, quantize=quantize, cache_dir=cache,
                                min_agreement=0.0, probe=TEXTS)
    scorer.load()
    assert scorer.runtime.startswith("onnx")
    alone = [scorer.score([t])[0] for t in TEXTS]
    assert scorer.score(TEXTS) == alone
    assert scorer.score(TEXTS[::-1]) == alone[::-1]
    assert scorer.score(TEXTS[1:3]) == alone[1:3]


def test_the_int8_export_is_checked_against_pytorch(tmp_path: Path) -> None:
    """A model with clear answers passes the probe; the result is cached with the export,
    so the next load opens the ONNX file without asking PyTorch again."""
    checkpoint, config_dir = write_tiny_checkpoint(tmp_path, WORDS, margin=3.0)
    probe = probe_texts()[::6]  # a sample of the real probe: a test has one minute
    scorer = OnnxDetoxifyScorer(checkpoint, config_dir, cache_dir=tmp_path / "cache",
                                probe=probe)
    scorer.load()
    assert scorer.runtime == "onnx-int8" and scorer.agreement == 1.0, scorer.status
    assert scorer.status.reason == "multilingual, ONNX int8, ≤64 tokens"
    meta = next((tmp_path / "cache").rglob("meta.json"))
    assert '"model.int8.onnx:64:' in meta.read_text()
    again = OnnxDetoxifyScorer(checkpoint, config_dir, cache_dir=tmp_path / "cache",
                               probe=probe)
    again.load()
    assert again.runtime == "onnx-int8" and again.score(TEXTS) == scorer.score(TEXTS)


def test_a_disagreeing_export_falls_back_to_pytorch_and_says_why(tmp_path: Path) -> None:
    """When the check found too little agreement (recorded with the export, as a failed
    check leaves it), Detoxify runs as shipped and its status says why."""
    probe = probe_texts()[::6]
    checkpoint, config_dir = write_tiny_checkpoint(tmp_path, WORDS, margin=3.0)
    first = OnnxDetoxifyScorer(checkpoint, config_dir, cache_dir=tmp_path / "cache", probe=probe)
    first.load()
    assert first.runtime == "onnx-int8"
    meta_file = next((tmp_path / "cache").rglob("meta.json"))
    meta = json.loads(meta_file.read_text())
    (key,) = meta["agreement"]
    meta["agreement"][key] = 0.97
    meta_file.write_text(json.dumps(meta))
    scorer = OnnxDetoxifyScorer(checkpoint, config_dir, cache_dir=tmp_path / "cache",
                                probe=probe)
    scorer.load()
    assert scorer.runtime == "torch" and scorer.agreement == 0.97
    assert scorer.status.available
    assert scorer.status.reason == (
        "multilingual, PyTorch fp32 (fallback: ONNX int8 gave the same labels as PyTorch "
        "on only 97.0 % of the probe texts (< 99 %))"
    )
    det = detoxify.Detoxify(checkpoint=str(checkpoint), huggingface_config_path=str(config_dir))
    for got, text in zip(scorer.score(TEXTS[:3]), TEXTS[:3], strict=True):
        assert got == pytest.approx({k: float(v) for k, v in det.predict(text).items()},
                                    abs=1e-6)


def test_agreement_compares_labels_not_scores() -> None:
    a = [{"toxicity": 0.9, "insult": 0.1}, {"toxicity": 0.2, "insult": 0.6}]
    close = [{"toxicity": 0.8, "insult": 0.2}, {"toxicity": 0.3, "insult": 0.51}]
    flipped = [{"toxicity": 0.9, "insult": 0.1}, {"toxicity": 0.2, "insult": 0.49}]
    assert agreement(a, close) == 1.0
    assert agreement(a, flipped) == 0.5
    assert agreement([], []) == 1.0
