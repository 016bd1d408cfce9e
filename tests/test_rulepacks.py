"""Rule packs: the shipped files load, and every kind of mistake is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from livepilot.errors import RulesError
from livepilot.insights import Action, AlarmState
from livepilot.pipeline.stage import Outbox
from livepilot.rulepacks import (
    HotReload,
    SpamRules,
    StrikeRules,
    WordPack,
    check_rules_dir,
    load_model,
    word_pack_paths,
)

RULES = Path(__file__).resolve().parents[1] / "rules"


@pytest.mark.parametrize("name", ["de", "en", "custom"])
def test_shipped_word_packs_load(name: str) -> None:
    pack = load_model(RULES / f"{name}.yaml", WordPack)
    assert pack is not None and pack.block


def test_shipped_packs_are_serious() -> None:
    de = load_model(RULES / "de.yaml", WordPack)
    en = load_model(RULES / "en.yaml", WordPack)
    assert de is not None and en is not None
    for pack, minimum in ((de, 150), (en, 90)):
        terms = [t for rule in pack.block for t in rule.all_terms]
        assert len(terms) >= minimum
        assert {rule.category for rule in pack.block} >= {"insult", "slur", "threat", "sexual"}
        assert pack.allow and pack.regex


def test_shipped_spam_and_strike_rules_load() -> None:
    spam = load_model(RULES / "spam.yaml", SpamRules)
    strikes = load_model(RULES / "moderation.yaml", StrikeRules)
    assert spam is not None and spam.raid.min_users >= 2
    assert strikes is not None and [s.action for s in strikes.ladder] == [
        Action.NOTE, Action.HIDE, Action.TIMEOUT, Action.BLOCK
    ]


def load_text(tmp_path: Path, text: str, model: type[WordPack] = WordPack) -> None:
    path = tmp_path / "pack.yaml"
    path.write_text(text, encoding="utf-8")
    load_model(path, model)


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
        load_model(path, StrikeRules)


def test_missing_file(tmp_path: Path) -> None:
    assert load_model(tmp_path / "nope.yaml", WordPack, missing_ok=True) is None
    with pytest.raises(RulesError, match=r"nope\.yaml: cannot read rules file: file not found"):
        load_model(tmp_path / "nope.yaml", WordPack)


def test_empty_file_is_an_empty_pack(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    assert load_model(tmp_path / "empty.yaml", WordPack) == WordPack()


def test_word_pack_paths_end_with_the_stream_pack(tmp_path: Path) -> None:
    assert word_pack_paths(tmp_path, ["de", "en"], "shop") == [
        tmp_path / "de.yaml", tmp_path / "en.yaml", tmp_path / "streams" / "shop.yaml"
    ]


def test_hot_reload_swaps_whole_objects_and_alarms_on_errors(tmp_path: Path) -> None:
    path = tmp_path / "spam.yaml"
    path.write_text("caps: {ratio: 0.9}\n")
    reload = HotReload([path], lambda: load_model(path, SpamRules), stream="s", source="spam",
                       interval=1.0)
    first = reload.current
    assert first is not None and first.caps.ratio == 0.9
    out = Outbox()
    assert not reload.poll(100.0, out)          # nothing changed
    path.write_text("caps: {ratio: 0.5}\n")
    assert not reload.poll(100.5, out)          # checked at most once per interval
    assert reload.poll(101.0, out)
    assert reload.current is not first and reload.current is not None
    assert reload.current.caps.ratio == 0.5 and first.caps.ratio == 0.9
    path.write_text("caps: {ratio: 2}\n")
    assert not reload.poll(102.0, out)
    (raised,) = out.alarms
    assert raised.state is AlarmState.RAISED and raised.kind == "rules_rejected"
    assert "spam.yaml: caps: field 'ratio'" in raised.message
    assert reload.current.caps.ratio == 0.5
    path.write_text("caps: {ratio: 0.7}\n")
    assert reload.poll(103.0, out)
    assert out.alarms[-1].state is AlarmState.CLEARED and out.alarms[-1].id == raised.id


def test_check_rules_dir_reports_every_broken_file(tmp_path: Path) -> None:
    assert check_rules_dir(RULES) == []
    (tmp_path / "de.yaml").write_text("block:\n  - {term: hure, category: insult}\n")
    (tmp_path / "streams").mkdir()
    (tmp_path / "streams" / "shop.yaml").write_text("allow: ['']\n")
    (tmp_path / "spam.yaml").write_text("caps: {ratio: 3}\n")
    problems = check_rules_dir(tmp_path)
    assert len(problems) == 2
    assert "shop.yaml: allow" in problems[0] and "empty term" in problems[0]
    assert "spam.yaml: caps: field 'ratio'" in problems[1]
