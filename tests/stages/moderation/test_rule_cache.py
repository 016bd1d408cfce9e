"""Rule files are parsed once per process and word matchers shared between streams, yet
every edit is still seen: the cache is keyed by path, modification time and size."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

from livepilot.errors import RulesError
from livepilot.stages.moderation.rules import RULES_FILE, WordPack
from livepilot.stages.moderation.word_matcher import WordMatcher
from livepilot.yamlfile import clear_cache, load_model, read_mapping

PACK = "block:\n  - term: hurensohn\n    category: insult\nallow: [schwanzflosse]\n"


def write(path: Path, text: str, stamp: int) -> None:
    """Write with modification time ``stamp`` s (two writes in one time tick differ)."""
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(stamp * 10**9, stamp * 10**9))


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    clear_cache()


def test_a_frozen_model_is_read_once_and_shared_until_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "de.yaml"
    write(path, PACK, 1)
    first = load_model(path, WordPack, RULES_FILE)
    assert load_model(path, WordPack, RULES_FILE) is first
    write(path, PACK.replace("hurensohn", "wichser"), 2)
    edited = load_model(path, WordPack, RULES_FILE)
    assert edited is not first
    assert edited.block[0].term == "wichser"
    # Same size, other time: still an edit.
    write(path, PACK.replace("hurensohn", "hurenkind"), 3)
    assert load_model(path, WordPack, RULES_FILE).block[0].term == "hurenkind"


def test_a_broken_edit_is_reported_every_time_and_never_cached(tmp_path: Path) -> None:
    path = tmp_path / "de.yaml"
    write(path, PACK, 1)
    load_model(path, WordPack, RULES_FILE)
    write(path, "block: [\n", 2)
    for _ in range(2):
        with pytest.raises(RulesError, match="not valid YAML"):
            load_model(path, WordPack, RULES_FILE)
    write(path, "block:\n  - term: x1\n    category: loud\n", 3)
    with pytest.raises(RulesError, match="'loud' is not one of"):
        load_model(path, WordPack, RULES_FILE)


def test_a_raw_mapping_is_a_copy_the_caller_may_change(tmp_path: Path) -> None:
    path = tmp_path / "intents.yaml"
    write(path, "greeting:\n  - hallo\n", 1)
    first = read_mapping(path, "intent rules")
    first["greeting"].append("changed")
    assert read_mapping(path, "intent rules") == {"greeting": ["hallo"]}


def test_streams_with_the_same_packs_share_one_matcher_and_memo(tmp_path: Path) -> None:
    pack = tmp_path / "de.yaml"
    write(pack, PACK, 1)
    own = tmp_path / "streams"
    own.mkdir()
    paths_a = [pack, own / "a.yaml"]  # neither stream has a pack of its own
    paths_b = [pack, own / "b.yaml"]
    a = WordMatcher.shared(paths_a)
    assert WordMatcher.shared(paths_b) is a
    assert a.scan("du h*rensohn")
    assert a.name_hits("hurensohn_99", "")
    assert a.cached == 2 and a.cached_names == 1  # "du", "h*rensohn"; the name's words not
    # A pack of its own gives stream b its own matcher; an edit gives both new ones.
    write(own / "b.yaml", "block:\n  - term: wichser\n    category: insult\n", 2)
    b = WordMatcher.shared(paths_b)
    assert b is not a and b.scan("wichser") and not a.scan("wichser")
    write(pack, PACK.replace("hurensohn", "hurenkind"), 3)
    fresh = WordMatcher.shared(paths_a)
    assert fresh is not a and fresh.cached == 0 and fresh.cached_names == 0
    assert fresh.scan("hurenkind") and not fresh.scan("hurensohn")


def test_a_matcher_no_stream_holds_is_forgotten(tmp_path: Path) -> None:
    pack = tmp_path / "de.yaml"
    write(pack, PACK, 1)
    matcher = WordMatcher.shared([pack])
    matcher.scan("hallo")
    assert matcher.cached == 1
    del matcher
    gc.collect()
    assert WordMatcher.shared([pack]).cached == 0  # built anew, not the old one's memo


def test_name_verdicts_are_bounded(tmp_path: Path) -> None:
    pack = tmp_path / "de.yaml"
    write(pack, PACK, 1)
    matcher = WordMatcher([(str(pack), load_model(pack, WordPack, RULES_FILE))], names_size=3)
    for index in range(10):
        matcher.name_hits(f"user{index}", f"Nick {index}")
    assert matcher.cached_names == 3
    assert matcher.cached == 0  # names never fill the chunk memo (it is for chat words)
    assert matcher.name_hits("x", "Hurensohn")[0].rule == "hurensohn"
