"""Rule regexes: they run on RE2 in linear time, and patterns that are hostile or that RE2
cannot run are refused when the pack loads, naming file, rule and field."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from livepilot.errors import RulesError
from livepilot.stages.moderation.safe_regex import RuleRegex, check
from livepilot.stages.moderation.word_matcher import WordMatcher

RULES = Path(__file__).resolve().parents[3] / "rules"

# Each of these hangs a backtracking engine on a long run of "a"; the first three got
# past the old guard.
HOSTILE = [
    r"((a+))+$",
    r"(?:a|a)+$",
    r"(a+){1,40}$",
    r"(a+)+b",
    r"(\w+\s?)*$",
    r"(a*)*b",
    r"(a?)*b",
    r"(a|)+b",
    r"(?:ab|a)*c",
    r"(?:x(?:a|a))+$",
    r"(a+){6}$",
]
UNSUPPORTED = [
    (r"(a)\1", "invalid escape sequence"),
    (r"(?P<x>a)(?P=x)", "bad regex"),
    (r"(?<!\d)1488", "look-around"),
    (r"bring(?=\s)dich", "look-around"),
    (r"a++", "bad repetition operator"),
    (r"(?>ab)c", "bad regex"),
    (r"bring (dich", r"missing \), unterminated subpattern"),
]


def pack(tmp_path: Path, pattern: str, **extra: str) -> Path:
    path = tmp_path / "pack.yaml"
    rule = {"name": "evil", "pattern": pattern, "category": "insult", **extra}
    path.write_text(yaml.safe_dump({"regex": [rule]}), encoding="utf-8")
    return path


@pytest.mark.parametrize("pattern", HOSTILE)
def test_hostile_patterns_are_refused_naming_file_rule_and_field(
    tmp_path: Path, pattern: str
) -> None:
    with pytest.raises(RulesError, match=r"pack\.yaml: regex\[0\] 'evil': field 'pattern': "
                                         r"regex .* repeats"):
        WordMatcher.from_paths([pack(tmp_path, pattern)])


@pytest.mark.parametrize(("pattern", "reason"), UNSUPPORTED)
def test_patterns_re2_cannot_run_are_refused_with_the_reason(
    tmp_path: Path, pattern: str, reason: str
) -> None:
    with pytest.raises(RulesError, match=rf"regex\[0\] 'evil': field 'pattern': .*{reason}"):
        WordMatcher.from_paths([pack(tmp_path, pattern)])


def test_a_pattern_compiling_to_a_huge_program_is_refused() -> None:
    with pytest.raises(ValueError, match="instructions"):
        check(r"\pL{12}")  # 12 copies of every letter of every script


@pytest.mark.parametrize(
    "pattern",
    [
        r"\bbist\s+du\s+(?:\w+\s+){0,2}behindert\b",  # a small repeat may hold a repeat
        r"(?:ha|he)+",  # alternatives that differ in their second letter
        r"(?:\w|\s)+x",
        r"\bstra(?:ss|ß)e\b",
        r"(?i)\bHeil\s+Hitler\b",
        r"\p{Greek}+",
        r"[[:alpha:]]+\d",
        r"um\b(?!\s+acht)",
    ],
)
def test_ordinary_patterns_load(pattern: str) -> None:
    assert check(pattern) == pattern


def test_the_shipped_packs_load_and_their_regex_rules_are_prefiltered() -> None:
    matcher = WordMatcher.from_paths([RULES / "de.yaml", RULES / "en.yaml"])
    # every rule on normalised text runs only when a word it needs is there
    assert {matcher._regex[i][1] for i in matcher._ungated} == {"ns-zahlencodes"}  # raw
    assert [h.rule for h in matcher.scan("Ich bringe dich um acht zum Bahnhof")] == []
    assert [h.rule for h in matcher.scan("ich bring dich jetzt um")] == ["bring-dich-um"]
    assert [h.rule for h in matcher.scan("1488 für immer")] == ["ns-zahlencodes"]
    # ... and the raw one only on messages with its digits in them (gated, still found)
    assert [h.rule for h in matcher.scan("grüße 14 / 88 an alle")] == ["ns-zahlencodes"]
    assert matcher.scan("ruf an: 0171 14881234") == []


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"\w+x", "a" * 200_000),  # a backtracking search is quadratic here
        (r"(?:\w+\s+){0,3}um\b", "ab " * 60_000),
        (r"a[^x]*b[^x]*c[^x]*d", "a" * 200_000),  # cubic for a backtracking search
        (r"um\b(?!\s+acht)", "um acht " * 20_000),  # the look-ahead vetoes every match
    ],
)
def test_search_time_is_linear_in_the_text(pattern: str, text: str) -> None:
    rule = RuleRegex(pattern)
    started = time.perf_counter()
    rule.search(text)
    assert time.perf_counter() - started < 0.1


def test_a_trailing_lookahead_vetoes_a_match_and_the_search_goes_on() -> None:
    rule = RuleRegex(r"\bbring(?:e|t)?\s+dich\s+um\b(?!\s+(?:\d|acht|halb))")
    assert rule.search("ich bringe dich um acht zum bahnhof") is None
    assert rule.search("bring dich um 8 und dann bring dich um") == "bring dich um"
    assert rule.search("bringe dich um") == "bringe dich um"
    positive = RuleRegex(r"\bheil\b(?=\s+hitler)")
    assert positive.search("heil dir und heil hitler") == "heil"
    assert positive.search("heil dir") is None


def test_raw_rules_ignore_case_and_normalised_rules_see_lower_case() -> None:
    assert RuleRegex("hurensohn", ignore_case=True).search("Du HURENSOHN") == "HURENSOHN"
    assert RuleRegex("hurensohn").search("Du HURENSOHN") is None


@pytest.mark.parametrize(
    ("pattern", "needles"),
    [
        (r"\bbring(?:e|t)?\s+(?:dich|euch|sie|ihn)\s+um\b", {"bring"}),
        (r"\bgeh\s+(?:sterben|verrecken)\b", {"sterben", "verrecken"}),
        (r"(?i)\bBring\s+dich", {"bring"}),  # folded to the normalised text's lower case
        (r"(?:abc)?\s*def", {"def"}),  # an optional part is not required
        (r"x(?:abc|de)", None),  # "de" is too short to look for
        (r"um(?!\s+acht)", None),  # a look-ahead's text is not in the match
        (r"\bfoo\b\s+\w*", {"foo"}),
        (r"(?:bar)+baz", {"bar"}),
    ],
)
def test_needles_are_literals_every_match_contains(
    pattern: str, needles: set[str] | None
) -> None:
    assert RuleRegex(pattern).needles == (None if needles is None else frozenset(needles))


def test_a_rule_written_with_capitals_under_ignore_case_still_runs(tmp_path: Path) -> None:
    matcher = WordMatcher.from_paths([pack(tmp_path, r"(?i)\bBRING\s+dich\s+um\b")])
    assert [h.rule for h in matcher.scan("ich bring dich um")] == ["evil"]


@pytest.mark.parametrize(
    ("pattern", "gate"),
    [
        (r"(?:(?:^|\D)1488|14 ?/ ?88)(?!\d)", {"1488", "14"}),  # a number code
        (r"\b88\b", {"88"}),
        (r"hu?re", None),  # letters: case folding decides, so no gate
        (r"\d+", None),  # no literal at all
    ],
)
def test_rules_on_raw_text_are_gated_only_by_literals_without_letters(
    pattern: str, gate: set[str] | None
) -> None:
    rule = RuleRegex(pattern, ignore_case=True)
    assert rule.digit_needles == (None if gate is None else frozenset(gate))
