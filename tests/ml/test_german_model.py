"""The shipped German model: loads without sklearn, scores clear cases, flags insults
that no block list catches, and is reproducible from its own features."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from livepilot.errors import ConfigError
from livepilot.ml.german import KINDS, GermanModel, default_model_path
from livepilot.ml.text import Featurizer, normalize

INSULTS = Path(__file__).parents[1] / "data" / "german_insults_no_blockwords.txt"


@pytest.fixture(scope="module")
def model() -> GermanModel:
    return GermanModel.load()


def test_shipped_file_is_small_and_pickle_free() -> None:
    path = default_model_path()
    assert path.stat().st_size <= 10 * 1024 * 1024
    with np.load(path, allow_pickle=False) as data:  # raises if anything is pickled
        meta = json.loads(str(data["meta"]))
        assert all(data[k].dtype != object for k in data.files)
    assert "GermEval 2018" in meta["trained_on"]


@pytest.mark.parametrize(
    "text",
    [
        "Du bist so ein dummes Stück Scheiße",
        "Was für ein Vollpfosten",
        "Halt die Fresse du Opfer",
        "du kleine schlampe",
        "Du elender Heuchler",
    ],
)
def test_flags_clear_insults(model: GermanModel, text: str) -> None:
    verdict = model.predict([text])[0]
    assert verdict.offensive, (text, verdict)
    assert verdict.kind in KINDS


@pytest.mark.parametrize(
    "text",
    [
        "Danke für die Rose",
        "Hallo zusammen, schöner Stream heute!",
        "Ich liebe deine Videos",
        "Wie teuer ist das Produkt?",
        "mach weiter so, top",
    ],
)
def test_leaves_friendly_chat_alone(model: GermanModel, text: str) -> None:
    assert not model.predict([text])[0].offensive, text


def test_batch_equals_one_by_one(model: GermanModel) -> None:
    texts = ["Du Dummbatz", "hallo", "", "😂😂😂", "Was für ein Hohlkopf, echt jetzt!!!"]
    batched = model.scores(texts)
    single = np.array([model.scores([t])[0] for t in texts])
    np.testing.assert_allclose(batched, single, rtol=1e-9)
    assert ((batched >= 0) & (batched <= 1)).all()
    assert model.predict([]) == []


def test_disguises_share_features() -> None:
    assert normalize("@anna Du H0hlk0pf!!!!") == normalize("@bert du hohlkopf!!")
    f = Featurizer(2**10, 2**8)
    assert f.indices(normalize("Hohlkopf")) == f.indices(normalize("HOHLKOPF"))
    assert normalize("Stream 2024") == "stream 2024"  # numbers stay numbers


def test_flags_most_insults_without_block_words(model: GermanModel) -> None:
    lines = [
        ln.strip() for ln in INSULTS.read_text(encoding="utf-8").splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert len(lines) >= 30
    flagged = sum(v.offensive for v in model.predict(lines))
    assert flagged / len(lines) >= 0.75, f"{flagged}/{len(lines)}"


def test_bad_files_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        GermanModel.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    np.savez(bad, meta=np.asarray(json.dumps({"format": 99})))
    with pytest.raises(ConfigError, match="format 99"):
        GermanModel.load(bad)


def test_a_verdict_does_not_depend_on_the_rest_of_its_batch(model: GermanModel) -> None:
    """The lane batches whatever is queued; a message's score must be bit-for-bit the same
    alone and in any batch, or the same chat log could get different labels."""
    import random

    lines = [ln for ln in INSULTS.read_text(encoding="utf-8").splitlines()
             if ln.strip() and not ln.startswith("#")]
    texts = [*lines, *(ln.upper() for ln in lines), "hallo 👋", "Danke für den Stream!",
             "nice stream, how much is the hoodie?", "x" * 300, "du " * 80]
    alone = [model.predict([t])[0] for t in texts]
    rng = random.Random(4)
    for _ in range(3):
        order = list(range(len(texts)))
        rng.shuffle(order)
        start = 0
        while start < len(order):
            size = rng.randint(2, 40)
            chunk = order[start : start + size]
            start += size
            got = model.predict([texts[i] for i in chunk])
            assert got == [alone[i] for i in chunk]
