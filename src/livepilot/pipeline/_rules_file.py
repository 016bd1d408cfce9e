"""Reading one YAML rules file into a validated model, with errors that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from livepilot.errors import RulesError

__all__ = ["load_yaml_model"]

M = TypeVar("M", bound=BaseModel)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "file"
        quiet = err["type"] in ("missing", "extra_forbidden")
        got = "" if quiet else f" (got {err['input']!r})"
        parts.append(f"{where}: {err['msg']}{got}")
    more = f" (+{exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return "; ".join(parts) + more


def load_yaml_model(path: Path, model: type[M], what: str) -> M:
    """Parse ``path`` as YAML into ``model``; raise :class:`RulesError` naming file and field."""
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RulesError(f"{path}: cannot read {what}: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RulesError(f"{path}: {what} must be a mapping, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RulesError(f"{path}: invalid {what}: {_describe(exc)}") from exc
