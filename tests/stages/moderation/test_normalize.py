"""Normalisation: what chat users do to hide a word, undone — and nothing more."""

from __future__ import annotations

import pytest

from livepilot.stages.moderation.normalize import (
    candidates,
    collapse_runs,
    fold,
    squeeze,
    unleet,
    words,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hurensohn", "hurensohn"),
        ("Mißgeburt", "missgeburt"),
        ("MISSGEBURT", "missgeburt"),
        ("Hürensöhne", "huerensoehne"),
        ("Ärger ÖL Übel", "aerger oel uebel"),
        ("ＨＵＲＥ", "hure"),                   # full-width (NFKC)
        ("НURЕNSОHN", "hurensohn"),            # Cyrillic capitals
        ("hurеnsоhn", "hurensohn"),            # Cyrillic е and о inside Latin
        ("Ηurensohn", "hurensohn"),            # Greek capital Eta is an H
        ("h\u200burensohn", "hurensohn"),      # zero-width space
        ("hu\u00adre", "hure"),                # soft hyphen
        ("z̴a̷l̶g̵o̸", "zalgo"),                   # combining marks
        ("café", "cafe"),
    ],
)
def test_fold_undoes_lookalikes_case_and_umlauts(text: str, expected: str) -> None:
    assert fold(text) == expected


def test_fold_keeps_ascii_as_lower_case_only() -> None:
    assert fold("H*R3NS0HN, ok?") == "h*r3ns0hn, ok?"


@pytest.mark.parametrize(
    ("chunk", "expected"),
    [
        ("h.u.r.e", ["hure"]),
        ("h-u-r-e-n-s-o-h-n!!!", ["hurensohn"]),
        ("h_u_r_e", ["hure"]),
        ("h|u|r|e", ["hure"]),
        ("h*r3ns0hn", ["h*rensohn"]),           # leet undone, mask kept for the matcher
        ("w1chs3r", ["wichser"]),
        ("a$$", ["ass"]),
        ("@rschloch", ["rschloch"]),              # leading @ is a mention …
        ("sh!t", ["shit"]),                      # … but ! between letters is an i
        ("wow!", ["wow"]),
        ("*lol*", ["lol"]),
        ("#love", ["love"]),
        ("ok.danke", ["okdanke", "ok", "danke"]),
        ("drecks-fotze", ["drecksfotze", "drecks", "fotze"]),
        ("du,idiot", ["du", "idiot"]),
        ("2024", ["2024"]),                      # numbers are not leetspeak
        ("u", ["u"]),                            # a lone letter is kept ("fuck u")
        ("...", []),
    ],
)
def test_candidates(chunk: str, expected: list[str]) -> None:
    assert candidates(chunk) == expected


def test_unleet_only_touches_tokens_with_letters() -> None:
    assert unleet("h0r3") == "hore"
    assert unleet("l33t") == "leet"
    assert unleet("1000") == "1000"
    assert unleet("$$$") == "$$$"


def test_long_digit_runs_are_numbers_not_leetspeak() -> None:
    assert unleet("anna1987") == "anna1987"
    assert unleet("hure187") == "hure187"
    assert unleet("h0rens0hn2000") == "horensohn2000"
    assert unleet("a$$hole123") == "asshole123"


def test_runs() -> None:
    assert collapse_runs("huuuuure") == "huure"
    assert collapse_runs("nutte") == "nutte"
    assert squeeze("huure") == "hure"
    assert squeeze("missgeburt") == "misgeburt"


def test_words_gives_one_form_per_chunk() -> None:
    assert words("Bring dich doch UM!!!") == ["bring", "dich", "doch", "um"]
    assert words("Ich weiß, wo du wohnst") == ["ich", "weiss", "wo", "du", "wohnst"]
