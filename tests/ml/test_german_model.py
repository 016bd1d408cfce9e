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
    # Spelled-out words separated by a wider gap stay separate words.
    assert normalize("d u  s p a s t") == "d u spast"
    assert normalize("f  i  c  k") == normalize("f i c k") == "fick"


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


# -- out-of-domain chat sets (tests/data/ood_de_*.txt) -------------------------------------
#
# Written for these checks and never used for training, tuning or picking thresholds;
# see docs/german-model.md ("Out-of-domain chat sets") for the numbers and how they were
# kept apart. The model is loaded as the toxicity stage loads it: with the allow-list of
# the shipped word packs.

DATA = Path(__file__).parents[1] / "data"
#: Measured on the shipped model (see the model card): 4.6 % of the innocent lines
#: flagged (goal ≤ 5 %, asserted), 93.8 % of the harmful lines caught (goal 90 %; guarded
#: at 93 %), obfuscated insults 96.1 % by the model alone (goal 95 %, asserted) and 97.8 %
#: by model or word filter (goal 95 %, asserted below).
INNOCENT_FLAGGED_MAX = 0.05
HARMFUL_CAUGHT_MIN = 0.93
OBFUSCATED_MODEL_ALONE_MIN = 0.95
RULES = Path(__file__).parents[2] / "rules"
ML = Path(__file__).parents[2] / "src" / "livepilot" / "ml"


def _lines(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()
            if ln.strip() and not ln.startswith("#")]


def _shipped_allow_terms() -> list[str]:
    from livepilot.stages.moderation.rules import load_word_packs

    # Every pack the project ships with an allow-list (the other rule files are not packs).
    paths = [p for p in sorted(RULES.glob("*.yaml")) if "\nallow:" in p.read_text("utf-8")]
    assert len(paths) >= 3, paths
    return sorted({term for _, pack in load_word_packs(paths) for term in pack.allow})


@pytest.fixture(scope="module")
def staged() -> GermanModel:
    return GermanModel.load(allow=_shipped_allow_terms())


def _flagged(model: GermanModel, lines: list[str]) -> list[str]:
    return [t for t, s in zip(lines, model.scores(lines), strict=True) if s >= 0.5]


def _dev_rows() -> list[tuple[bool, str, str]]:
    """The development set: (harmful, category, text) per line."""
    rows = [ln.split("\t") for ln in _lines(DATA / "dev_de_chat.tsv")]
    return [(label == "1", category, text) for label, category, text in rows]


def test_ood_sets_are_kept_apart_from_the_training_lines() -> None:
    training = [t for name in ("chat_friendly.txt", "chat_offensive.txt")
                for t in _lines(ML / name)]
    dev = [text for _, _, text in _dev_rows()]
    assert len(dev) >= 300
    # The development set (which chose weights and thresholds) shares no line with the
    # training lines, even after normalisation (so disguises do not hide a copy).
    known = {normalize(t) for t in training}
    assert not [t for t in dev if normalize(t) in known]
    for name in ("ood_de_innocent.txt", "ood_de_harmful.txt", "ood_de_obfuscated.txt"):
        lines = _lines(DATA / name)
        test_lines = {str.casefold(t) for t in lines}
        assert not [t for t in dev if str.casefold(t) in test_lines], name
        assert len(lines) >= 150, name
        # Disguised insults are meant to normalise to known ones: compare them as typed.
        key = str.casefold if name == "ood_de_obfuscated.txt" else normalize
        known = {key(t) for t in training}
        shared = [t for t in lines if key(t) in known]
        assert not shared, (name, shared)


def test_development_set_levels(staged: GermanModel) -> None:
    """Guards the levels measured on the development set (see the model card): it chose
    the chat weight and the threshold, so these are not estimates, only regression
    checks."""
    rows = _dev_rows()
    flagged = staged.scores([text for _, _, text in rows]) >= 0.5
    innocent = [f for (harmful, _, _), f in zip(rows, flagged, strict=True) if not harmful]
    harmful = [f for (h, c, _), f in zip(rows, flagged, strict=True) if h and c != "obfuscated"]
    obfuscated = [f for (_, c, _), f in zip(rows, flagged, strict=True) if c == "obfuscated"]
    assert np.mean(innocent) <= 0.03  # measured 1.9 % (4 of 215)
    assert np.mean(harmful) >= 0.95  # measured 96 %
    assert np.mean(obfuscated) >= 0.90  # measured 90 % (18 of 20)


def test_innocent_chat_is_left_alone(staged: GermanModel) -> None:
    lines = _lines(DATA / "ood_de_innocent.txt")
    flagged = _flagged(staged, lines)
    assert len(flagged) / len(lines) <= INNOCENT_FLAGGED_MAX, (len(flagged), flagged)


def test_insults_harassment_threats_and_hate_are_caught(staged: GermanModel) -> None:
    lines = _lines(DATA / "ood_de_harmful.txt")
    caught = _flagged(staged, lines)
    missed = sorted(set(lines) - set(caught))
    assert len(caught) / len(lines) >= HARMFUL_CAUGHT_MIN, (len(caught), missed)


def test_obfuscated_insults_are_caught_with_the_word_filter(staged: GermanModel) -> None:
    """The model sees every chat message the word filter has not already decided; together
    they must catch nearly all disguised insults."""
    from livepilot.stages.moderation.word_matcher import WordMatcher

    matcher = WordMatcher.from_paths([RULES / "de.yaml", RULES / "en.yaml"])
    lines = _lines(DATA / "ood_de_obfuscated.txt")
    scores = staged.scores(lines)
    missed = [t for t, s in zip(lines, scores, strict=True) if s < 0.5 and not matcher.scan(t)]
    assert len(missed) / len(lines) <= 0.05, missed
    alone = float(np.mean(scores >= 0.5))
    assert alone >= OBFUSCATED_MODEL_ALONE_MIN, alone


def test_allow_listed_words_never_make_the_model_flag(staged: GermanModel) -> None:
    terms = _shipped_allow_terms()
    assert {"Schwanzflosse", "Fickmühlen", "Analyse", "Analogkäse", "Scunthorpe"} <= set(terms)
    texts = [*terms, *(t.upper() for t in terms), *(f"die {t} heute" for t in terms),
             "Schwanzflosse", "Analyse der Fickmühlen", "die schwanzflosse vom wal",
             "Fickmuehlen analysieren", "Schwanzfedern und Schwanzflossen"]
    scores = staged.scores(texts)
    flagged = [(t, round(float(s), 2)) for t, s in zip(texts, scores, strict=True) if s >= 0.5]
    assert not flagged
    # The words are cut out, not the message: an insult beside one is still an insult.
    assert staged.scores(["Schwanzflosse du dummer Vollpfosten"])[0] >= 0.5


def test_the_allow_list_is_cut_out_in_linear_time(staged: GermanModel) -> None:
    import time

    for unit in ("schwanzflosse ", "schwanzfloss", "a"):
        text = unit * (5_000 // len(unit))
        started = time.perf_counter()
        staged.prepare(text)
        assert time.perf_counter() - started < 0.2, unit  # ~2 ms; slack for a busy machine


def test_the_toxicity_stage_hands_the_model_its_allow_list(model: GermanModel) -> None:
    """Without the allow-list the model flags "Hurenkind" (a typesetting term the word
    pack allows); the stage as built from settings must not."""
    from livepilot.metrics import Metrics
    from livepilot.pipeline.context import StageContext
    from livepilot.settings import Settings
    from livepilot.stages.moderation.toxicity import build

    assert model.scores(["Hurenkind"])[0] >= 0.5  # the check below can fail
    stage = build(StageContext(Settings(rules_dir=RULES, toxicity_german_inline=True),
                               Metrics(), stream="test"))
    assert not stage.judge("Hurenkind").toxic
    assert not stage.judge("ein Hurenkind im Layout").toxic
    assert stage.judge("du bist so ein dummer Vollpfosten").toxic


def test_disguised_training_copies_are_reproducible_and_touch_one_word() -> None:
    from livepilot.ml.disguise import disguise_all

    texts = ["du bist ein vollpfosten", "ok", "was für ein tag heute", "ja 😂"]
    first, again = disguise_all(texts, seed=0), disguise_all(texts, seed=0)
    assert first == again
    assert first[1] == "ok" and first[3] == "ja 😂"  # no word of four letters: unchanged
    for original, copy in zip(texts, first, strict=True):
        changed = [(a, b) for a, b in zip(original.split(), copy.split(), strict=True) if a != b]
        assert len(changed) <= 1, (original, copy)
    assert first[0] != texts[0] and first[0].split()[:3] == ["du", "bist", "ein"]


@pytest.mark.timeout(300)  # ~10 s of training on an idle core; the box is shared
def test_training_and_inference_agree_on_short_and_long_texts() -> None:
    """The numpy inference must compute what training fitted, including the second copy
    of the features that texts of ``long_at`` prepared characters or more get."""
    pytest.importorskip("sklearn")
    from livepilot.ml import train_german as tg

    filler = " und das sage ich hier ganz offen vor allen leuten im chat, damit es jeder liest"
    bad = ["du idiot", "halt die fresse", "du bist so dumm", "verpiss dich du opfer",
           "du hohlkopf", "was für ein trottel", "du nervst, spast", "geh sterben"]
    good = ["hallo zusammen", "schöner stream heute", "wie teuer ist das?", "danke dir",
            "bis morgen", "das essen war lecker", "wo kommst du her?", "gute nacht"]
    texts = [*bad, *(t + filler for t in bad), *good, *(t + filler for t in good)]
    y = np.asarray([1] * 16 + [0] * 16)
    kinds = [KINDS[i % 3] for i in range(16)] + ["other"] * 16
    # An uneven mix, different for short and long texts, so that both weights are used.
    arrays = tg.fit(tg.Corpus(texts, y, kinds), inner_folds=2, mix=(0.3, 0.7))
    model = tg._model(arrays)
    assert model.meta["long_at"] == tg.LONG_AT == 80
    assert model.meta["mix"] == [0.3, 0.7] and not model.meta["mix_chosen"]

    counts, lengths = tg._counts(texts)
    long = lengths >= tg.LONG_AT
    assert long.sum() == 16  # the filler makes a text long, the others stay short
    x = tg._tfidf(counts, arrays["idf"].astype(np.float64), long)
    assert x.shape[1] == 2 * (tg.CHAR_BUCKETS + tg.WORD_BUCKETS)
    assert x[:, x.shape[1] // 2 :][~long].nnz == 0 and x[:, x.shape[1] // 2 :][long].nnz > 0
    logits = np.asarray(x @ arrays["coef"].astype(np.float64).T) + arrays["intercept"]
    nb = np.where(long, arrays["mix"][1], arrays["mix"][0]).astype(np.float64)
    both = 1 / (1 + np.exp(-logits))
    probs = (1 - nb) * both[:, 0] + nb * both[:, 1]
    a, b = arrays["platt"].astype(np.float64)
    np.testing.assert_allclose(model.raw(texts), 1 / (1 + np.exp(-(a * probs + b))), rtol=1e-9)
    # The long texts' own weights are used: without them their scores change.
    model._long_at = 0
    assert not np.allclose(model.raw(texts)[long], 1 / (1 + np.exp(-(a * probs + b)))[long])


def test_a_file_with_the_long_text_copy_needs_its_weights(tmp_path: Path) -> None:
    with np.load(default_model_path(), allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["meta"]))
    assert meta["long_at"] > 0
    size = meta["char_buckets"] + meta["word_buckets"]
    assert arrays["coef"].shape == (2, 2 * size)
    arrays["coef"] = arrays["coef"][:, :size]  # the second copy's weights missing
    bad = tmp_path / "short.npz"
    np.savez(bad, **arrays)
    with pytest.raises(ConfigError, match="wrong shapes"):
        GermanModel.load(bad)


def test_the_mix_is_chosen_from_out_of_fold_scores() -> None:
    """The NB-LR weight per length goes towards the regression that separates the
    classes in the (inner) out-of-fold predictions, separately for short and long texts;
    an uninformative difference keeps the even average."""
    pytest.importorskip("sklearn")
    from livepilot.ml import train_german as tg

    rng = np.random.default_rng(0)
    n = 800
    y = (np.arange(n) % 3 == 0).astype(np.int64)
    long = np.arange(n) % 2 == 0
    chat = ~long  # as in the data: chat lines short, tweets mostly long
    weight = np.ones(n)
    good = np.clip(0.5 + 0.35 * (2 * y - 1) + rng.normal(0, 0.2, n), 0, 1)
    noise = rng.uniform(0, 1, n)
    # Short texts: the plain regression is the informative one; long texts: NB-LR.
    probs = np.stack([np.where(long, noise, good), np.where(long, good, noise)], axis=1)
    short_w, long_w = tg._choose_mix(probs, long, y, chat, weight)
    assert short_w == min(tg.MIX_GRID) and long_w == max(tg.MIX_GRID)
    same = np.stack([good, good], axis=1)  # the mix cannot matter: keep the even one
    assert tg._choose_mix(same, long, y, chat, weight) == (0.5, 0.5)


def test_a_file_without_a_mix_averages_evenly(tmp_path: Path) -> None:
    """Files written before the mix was chosen average the two regressions evenly; the
    shipped file's mix is one of the candidates."""
    with np.load(default_model_path(), allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    texts = ["du bist so ein idiot", "hallo zusammen, schöner stream",
             "ein langer text über politik, der länger als achtzig zeichen ist und "
             "deshalb die zweite kopie der merkmale bekommt"]
    assert all(float(w) in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8) for w in
               np.round(arrays.get("mix", np.full(2, 0.5)), 2))
    arrays["mix"] = np.asarray([0.5, 0.5], dtype=np.float32)
    even = tmp_path / "even.npz"
    np.savez(even, **arrays)
    del arrays["mix"]
    old = tmp_path / "old.npz"
    np.savez(old, **arrays)
    np.testing.assert_array_equal(GermanModel.load(old).raw(texts),
                                  GermanModel.load(even).raw(texts))
