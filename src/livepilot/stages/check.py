"""Checking a rules directory before going live (``livepilot check``).

Building the stage chain (:func:`~livepilot.stages.registry.build_pipeline`) loads the
files the configured stream uses and stops at the first error; this module also reads the
files no stage has loaded yet — every ``streams/<stream>.yaml`` — and reports every broken
file, one message each, so a live manager fixes them all in one go.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from livepilot.errors import RulesError
from livepilot.stages.moderation.rules import (
    DEFAULT_WORD_PACKS,
    RULES_FILE,
    SpamRules,
    StrikeRules,
    WordPack,
)
from livepilot.yamlfile import load_model_or_default

__all__ = ["check_rules_dir"]


def check_rules_dir(rules_dir: Path, packs: Sequence[str] = DEFAULT_WORD_PACKS) -> list[str]:
    """Validate every moderation rules file in ``rules_dir``; one message per problem.

    Checks the named word packs, every ``streams/*.yaml``, ``spam.yaml`` and
    ``moderation.yaml`` (missing files are fine).
    """
    files: list[tuple[Path, type[BaseModel]]] = [
        (rules_dir / f"{name}.yaml", WordPack) for name in packs
    ]
    files += [(path, WordPack) for path in sorted((rules_dir / "streams").glob("*.yaml"))]
    files += [(rules_dir / "spam.yaml", SpamRules), (rules_dir / "moderation.yaml", StrikeRules)]
    problems = []
    for path, model in files:
        try:
            load_model_or_default(path, model, RULES_FILE)
        except RulesError as exc:
            problems.append(str(exc))
    return problems
