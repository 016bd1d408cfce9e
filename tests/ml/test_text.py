"""Model text features: normalisation undoes chat disguises, in time linear in the text,
on a bounded prefix, with exactly the features the shipped model was trained on."""

from __future__ import annotations

import random
import re
import time

import pytest

from livepilot.ml.text import ANALYSED_CHARS, Featurizer, analysed, normalize

# What leetspeak un-mapping was defined as (a backtracking regex, cubic on a long word):
# the linear implementation must give exactly its results, or the shipped model would
# see different features.
REFERENCE_LEETY = re.compile(r"\w*[a-zäöüß][\w@$!€*]*[0-9@$!€][\w@$!€*]*", re.IGNORECASE)
LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a",
                      "$": "s", "!": "i", "€": "e"})


def reference_normalize(text: str) -> str:
    import unicodedata

    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"https?://\S+|www\.\S+", " url ", text)
    text = re.sub(r"(?<!\w)@\w+", " @user ", text)
    text = text.casefold()
    text = REFERENCE_LEETY.sub(
        lambda m: m.group(0) if m.group(0).isdigit() else m.group(0).translate(LEET), text
    )
    text = re.sub(r"(.)\1{2,}", r"\1\1", text)
    text = " ".join(text.split())
    return re.sub(r"(?<![^\W_])(?:[^\W\d_][ .-]){2,}[^\W\d_](?![^\W_])",
                  lambda m: re.sub(r"[ .-]", "", m.group(0)), text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Du H0ren5ohn !!!", "du horensohn !!"),
        ("w1chs3r", "wichser"),
        ("@anna_93 hallo", "@user hallo"),
        ("2024 war gut", "2024 war gut"),
        ("a$$", "ass"),
        ("$$x1", "$$xi"),  # the leet word starts at the word part of its first letter
        ("f*ck3r", "f*cker"),
        ("schau auf www.x.de", "schau auf url"),
        ("sooooo geil", "soo geil"),
        ("du sp@st", "du spast"),  # a mention starts a word
        ("f i c k dich", "fick dich"),
        ("du h.u.r.e", "du hure"),
        ("z.b. a b", "z.b. a b"),  # two letters are not a spelled-out word
    ],
)
def test_normalize_undoes_leetspeak_mentions_urls_and_runs(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_normalize_matches_the_reference_definition_on_random_text() -> None:
    rng = random.Random(20240501)
    alphabet = "aZbßK1305@$!€*_ .-äöxıſé٣²İ\u212a😂"
    for _ in range(30_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16)))
        assert normalize(text) == reference_normalize(text), text


@pytest.mark.parametrize("unit", ["a", "ab", "h0r3", "a1", "h.u.r.e.", "😂", "а"])
def test_a_long_word_is_normalised_in_linear_time(unit: str) -> None:
    # 'a' * 1,200 took seconds with the backtracking regex; 100 kB held a server for minutes.
    for length in (1_200, 20_000, 100_000):
        text = unit * (length // len(unit))
        started = time.perf_counter()
        normalize(text)
        assert time.perf_counter() - started < 0.05, (unit, length)


def test_analysis_reads_a_bounded_prefix_without_a_cut_word() -> None:
    short = "hallo " * 10
    assert analysed(short) == short
    long = "wort " * 1_000  # 5,000 characters
    head = analysed(long)
    assert len(head) <= ANALYSED_CHARS and long.startswith(head)
    assert head.split() == ["wort"] * len(head.split())  # no half word at the end
    assert analysed("a" * 50_000) == "a" * ANALYSED_CHARS  # one word: cut where it must be
    assert normalize("xy " * 5_000) == " ".join(["xy"] * ((ANALYSED_CHARS + 1) // 3))


def test_features_of_a_long_word_are_not_memoised() -> None:
    featurizer = Featurizer(char_buckets=1 << 10, word_buckets=1 << 8, memo_size=4)
    featurizer.indices("kurz " + "x" * 1_000)
    assert set(featurizer._memo) == {"kurz"}
    # the memo changes nothing: the same text gives the same features with or without it
    fresh = Featurizer(char_buckets=1 << 10, word_buckets=1 << 8)
    text = normalize("du bist ein h0rensohn " + "y" * 500)
    assert featurizer.indices(text) == fresh.indices(text) == fresh.indices(text)
