"""``livepilot check``'s rules-directory pass: every broken file is reported, once each."""

from __future__ import annotations

from pathlib import Path

from livepilot.stages.check import check_rules_dir

RULES = Path(__file__).resolve().parents[2] / "rules"


def test_check_rules_dir_reports_every_broken_file(tmp_path: Path) -> None:
    assert check_rules_dir(RULES) == []
    assert check_rules_dir(tmp_path) == []  # nothing there yet is fine
    (tmp_path / "de.yaml").write_text("block:\n  - {term: hure, category: insult}\n")
    (tmp_path / "streams").mkdir()
    (tmp_path / "streams" / "shop.yaml").write_text("allow: ['']\n")
    (tmp_path / "spam.yaml").write_text("caps: {ratio: 3}\n")
    (tmp_path / "moderation.yaml").write_text("ladder:\n  - {score: 2, action: hide}\n"
                                              "  - {score: 1, action: block}\n")
    problems = check_rules_dir(tmp_path)
    assert len(problems) == 3
    assert "shop.yaml: allow" in problems[0] and "empty term" in problems[0]
    assert "spam.yaml: caps: field 'ratio'" in problems[1]
    assert "moderation.yaml" in problems[2] and "ladder scores must increase" in problems[2]


def test_check_rules_dir_checks_the_named_packs(tmp_path: Path) -> None:
    (tmp_path / "shop.yaml").write_text("blocks: []\n")
    assert check_rules_dir(tmp_path) == []
    (problem,) = check_rules_dir(tmp_path, packs=("shop",))
    assert "shop.yaml: unknown field 'blocks'" in problem
