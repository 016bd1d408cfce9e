"""Moderation rule files: the shipped ones load, and every kind of mistake is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from livepilot.errors import RulesError
from livepilot.insights import Action
from livepilot.stages.moderation.rules import (
    RULES_FILE,
    SpamRules,
    StrikeRules,
    WordPack,
    load_word_packs,
    word_pack_paths,
)
from livepilot.yamlfile import load_model, load_model_or_default

RULES = Path(__file__).resolve().parents[3] / "rules"


@pytest.mark.parametrize("name", ["de", "en", "custom"])
def test_shipped_word_packs_load(name: str) -> None:
    pack = load_model(RULES / f"{name}.yaml", WordPack, RULES_FILE)
    assert pack.block


def test_shipped_packs_are_serious() -> None:
    de = load_model(RULES / "de.yaml", WordPack, RULES_FILE)
    en = load_model(RULES / "en.yaml", WordPack, RULES_FILE)
    for pack, minimum in ((de, 150), (en, 90)):
        terms = [t for rule in pack.block for t in rule.all_terms]
        assert len(terms) >= minimum
        assert {rule.category for rule in pack.block} >= {"insult", "slur", "threat", "sexual"}
        assert pack.allow and pack.regex


def test_shipped_spam_and_strike_rules_load() -> None:
    spam = load_model(RULES / "spam.yaml", SpamRules, RULES_FILE)
    strikes = load_model(RULES / "moderation.yaml", StrikeRules, RULES_FILE)
    assert spam.raid.min_users >= 2
    assert [s.action for s in strikes.ladder] == [
        Action.NOTE, Action.HIDE, Action.TIMEOUT, Action.BLOCK
    ]


def load_text(tmp_path: Path, text: str, model: type[WordPack] = WordPack) -> None:
    path = tmp_path / "pack.yaml"
    path.write_text(text, encoding="utf-8")
    load_model(path, model, RULES_FILE)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "regex:\n  - {name: drohung, pattern: 'bring (dich', category: threat}\n",
            r"pack\.yaml: regex\[0\] 'drohung': field 'pattern': bad regex 'bring \(dich'"
            r": missing \), unterminated subpattern",
        ),
        (
            "regex:\n  - {name: slow, pattern: '(\\w+\\s?)+$', category: insult}\n",
            r"regex\[0\] 'slow': field 'pattern': regex .* repeats a repetition",
        ),
        (
            "block:\n  - {term: ok, category: insult}\n  - {term: '  ', category: insult}\n",
            r"pack\.yaml: block\[1\] term '  ': field 'term': empty term",
        ),
        (
            "block:\n  - {terms: [idiot, ''], category: insult}\n",
            r"block\[0\] \(terms 'idiot' …\): field 'terms': item 1: empty term",
        ),
        (
            "block:\n  - {term: hure, category: insult, severty: high}\n",
            r"pack\.yaml: block\[0\] term 'hure': unknown field 'severty'",
        ),
        (
            "blocks:\n  - {term: hure, category: insult}\n",
            r"pack\.yaml: unknown field 'blocks'",
        ),
        (
            "block:\n  - {term: hure, category: insult, severity: hihg}\n",
            r"block\[0\] term 'hure': field 'severity': 'hihg' is not one of 'low', 'medium' or "
            r"'high'",
        ),
        (
            "block:\n  - {term: hure, category: beleidigung}\n",
            r"block\[0\] term 'hure': field 'category': 'beleidigung' is not one of",
        ),
        (
            "block:\n  - {term: hure, category: insult}\n  - {terms: [idiot, Hure], "
            "category: insult}\n",
            r"block\[1\] term 'Hure': duplicate term, already in block\[0\]",
        ),
        (
            "block:\n  - {term: hure, terms: [x], category: insult}\n",
            r"block\[0\] term 'hure': give exactly one of 'term' or 'terms'",
        ),
        (
            "block:\n  - {term: '***', category: insult}\n",
            r"block\[0\] term '\*\*\*': field 'term': term '\*\*\*' has no letters",
        ),
        (
            "block:\n  - term: hure\n   category: insult\n",
            r"pack\.yaml: line 3, column 4: not valid YAML",
        ),
        ("- hure\n- fotze\n", r"pack\.yaml: expected a mapping of fields at the top, got list"),
        ("fuzzy_cutoff: 40\n", r"field 'fuzzy_cutoff'|fuzzy_cutoff: Input should be greater"),
    ],
)
def test_mistakes_name_file_rule_and_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(RulesError, match=message):
        load_text(tmp_path, text)


def test_strike_ladder_must_increase(tmp_path: Path) -> None:
    path = tmp_path / "moderation.yaml"
    path.write_text("ladder:\n  - {score: 3, action: hide}\n  - {score: 2, action: block}\n")
    with pytest.raises(RulesError, match="ladder scores must increase step by step"):
        load_model(path, StrikeRules, RULES_FILE)


def test_missing_file(tmp_path: Path) -> None:
    assert load_model_or_default(tmp_path / "nope.yaml", SpamRules, RULES_FILE) == SpamRules()
    with pytest.raises(RulesError, match=r"nope\.yaml: cannot read rules file: file not found"):
        load_model(tmp_path / "nope.yaml", WordPack, RULES_FILE)


def test_missing_packs_are_skipped_until_they_appear(tmp_path: Path) -> None:
    paths = word_pack_paths(tmp_path, ["de"], "shop")
    assert load_word_packs(paths) == []
    (tmp_path / "streams").mkdir()
    (tmp_path / "streams" / "shop.yaml").write_text("block:\n  - {term: hure, category: insult}\n")
    ((path, pack),) = load_word_packs(paths)
    assert path == paths[-1] and pack.block[0].term == "hure"


def test_empty_file_is_an_empty_pack(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    assert load_model(tmp_path / "empty.yaml", WordPack, RULES_FILE) == WordPack()


def test_word_pack_paths_end_with_the_stream_pack(tmp_path: Path) -> None:
    assert word_pack_paths(tmp_path, ["de", "en"], "shop") == [
        tmp_path / "de.yaml", tmp_path / "en.yaml", tmp_path / "streams" / "shop.yaml"
    ]
