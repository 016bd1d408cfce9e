"""Reading a YAML rules file into a validated model, with one way of saying what is wrong.

Every rules file livepilot reads (word packs, moderation, intents, the FAQ, alarms, the
run-of-show) goes through :func:`read_mapping` and :func:`describe`, so a live manager
sees the same shape of message whichever file they broke::

    rules/faq.yaml: entries[0] 'versand': unknown field 'anwser'
    rules/de.yaml: block[3] term 'hure': field 'severity': 'loud' is not one of ...
    rules/intents.yaml: line 4, column 3: not valid YAML: found unexpected end of stream

Parsing is cached per process, keyed by the file's path, modification time and size: a
worker that starts twenty streams with the same rules parses each file once (YAML is the
slow part of building a stream's pipeline, and it runs on the event loop), and a hot
reload still sees every edit, because an edit changes the time or the size. Validated
models are shared only when they are frozen; a raw mapping is handed out as a copy.
"""

from __future__ import annotations

import copy
import threading
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from livepilot.errors import RulesError

__all__ = ["clear_cache", "describe", "load_model", "load_model_or_default", "read_mapping"]

M = TypeVar("M", bound=BaseModel)

_SHOWN = 5  # errors listed per file; the rest are counted

#: libyaml when PyYAML was built with it (several times faster); the pure-Python loader
#: otherwise, and always for the error message of a broken file (same wording everywhere).
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: A file's identity for the cache: resolved path, ``st_mtime_ns``, ``st_size``.
_Stamp = tuple[str, int, int]

# One entry per file (the newest version read); errors are never cached. Stages are built
# on the event loop, but ``livepilot check`` and tests may load from threads: one lock.
_lock = threading.Lock()
_mappings: dict[str, tuple[_Stamp, dict[str, Any]]] = {}
_models: dict[tuple[str, type[BaseModel]], tuple[_Stamp, BaseModel]] = {}


def clear_cache() -> None:
    """Forget every parsed file (the next load reads and parses again)."""
    with _lock:
        _mappings.clear()
        _models.clear()


def _stamp(path: Path) -> _Stamp | None:
    try:
        st = path.stat()
    except OSError:
        return None  # reading it says why
    return (str(path.resolve()), st.st_mtime_ns, st.st_size)


def read_mapping(path: Path, what: str) -> dict[str, Any]:
    """The top-level mapping of ``path`` (empty for an empty file); a copy the caller may
    change (see the module docstring for the cache).

    Raises :class:`RulesError` naming the file (and line and column for YAML mistakes).
    """
    return copy.deepcopy(_read_mapping_shared(path, what))


def _read_mapping_shared(path: Path, what: str) -> dict[str, Any]:
    """Like :func:`read_mapping`, but the cached mapping itself: never change it."""
    stamp = _stamp(path)
    if stamp is not None:
        with _lock:
            held = _mappings.get(stamp[0])
        if held is not None and held[0] == stamp:
            return held[1]
    data = _parse(path, what)
    if stamp is not None:
        with _lock:
            _mappings[stamp[0]] = (stamp, data)
    return data


def _parse(path: Path, what: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RulesError(f"{path}: cannot read {what}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise RulesError(f"{path}: cannot read {what}: {reason}") from None
    try:
        data = _load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RulesError(f"{path}:{where} not valid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RulesError(
            f"{path}: expected a mapping of fields at the top, got {type(data).__name__}"
        )
    return data


def _load_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_FAST_LOADER)  # CSafeLoader or SafeLoader
    except yaml.YAMLError:
        # The pure-Python loader words the problem (the same message with or without
        # libyaml), or reads what libyaml alone refuses.
        return yaml.safe_load(text)


def load_model(path: Path, model: type[M], what: str) -> M:
    """Read ``path`` and validate it as ``model``; :class:`RulesError` names file and field.

    A frozen model is cached with the file's stamp and the same object is returned to
    every caller until the file changes (nothing can change it in place).
    """
    stamp = _stamp(path)
    frozen = bool(model.model_config.get("frozen"))
    if stamp is not None and frozen:
        with _lock:
            held = _models.get((stamp[0], model))
        if held is not None and held[0] == stamp:
            return held[1]  # type: ignore[return-value]  # keyed by model
    data = _read_mapping_shared(path, what)
    try:
        validated = model.model_validate(data)
    except ValidationError as exc:
        raise RulesError(f"{path}: {describe(exc, data)}") from None
    if stamp is not None and frozen:
        with _lock:
            _models[stamp[0], model] = (stamp, validated)
    return validated


def load_model_or_default(path: Path, model: type[M], what: str) -> M:
    """Like :func:`load_model`, but a file that does not exist means all defaults
    (``model()``): optional files like ``spam.yaml`` may appear later."""
    if not path.exists():
        return model()
    return load_model(path, model, what)


def describe(exc: ValidationError, data: Any) -> str:
    """What is wrong, where: list items are named by their ``term``, ``id`` or ``name``."""
    errors = exc.errors()
    nested = {e["loc"][:1] for e in errors if len(e["loc"]) > 2}
    # A broken item also makes pydantic call its list too short: say it once.
    errors = [e for e in errors if not (e["type"] == "too_short" and e["loc"] in nested)]
    parts = []
    for error in errors[:_SHOWN]:
        loc = tuple(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        kind = error["type"]
        if kind == "extra_forbidden":
            message = f"unknown field {loc[-1]!r}"
            loc = loc[:-1]
        elif kind == "enum":
            expected = error.get("ctx", {}).get("expected", "")
            message = f"{error['input']!r} is not one of {expected}"
        where = _where(loc, data)
        shown = error.get("input")
        if (
            kind not in ("missing", "value_error", "extra_forbidden", "enum")
            and isinstance(shown, str | int | float)
            and repr(shown) not in where
        ):
            message += f" (got {shown!r})"
        parts.append(f"{where}: {message}" if where else message)
    more = f" (+{len(errors) - _SHOWN} more)" if len(errors) > _SHOWN else ""
    return "; ".join(parts) + more


def _where(loc: tuple[int | str, ...], data: Any) -> str:
    """``('block', 3, 'severity')`` → ``block[3] term 'hure': field 'severity'``;
    ``('caps', 'ratio')`` → ``caps: field 'ratio'``; ``('lead', 'Price', '[key]')`` →
    ``lead: key 'Price'``."""
    if len(loc) >= 2 and loc[-1] == "[key]":
        section = _where(loc[:-2], data)
        return f"{section}: key {loc[-2]!r}" if section else f"key {loc[-2]!r}"
    steps: list[str] = []
    node = data
    anchor, anchored = "", 0  # the path up to the last named list item, and its length
    for step in loc:
        if isinstance(step, int):
            steps.append(f"[{step}]")
            node = node[step] if isinstance(node, list) and 0 <= step < len(node) else None
            name = _item_name(node)
            if name:
                anchor, anchored = f"{_join(steps)} {name}", len(steps)
        else:
            steps.append(str(step))
            node = node.get(step) if isinstance(node, dict) else None
    if not anchor and steps:  # no named item: the top-level section is the anchor
        anchor, anchored = steps[0], 1
    rest = _join(steps[anchored:])
    return f"{anchor}: field {rest!r}" if rest else anchor


def _item_name(node: Any) -> str:
    if isinstance(node, str):
        return repr(node)
    if not isinstance(node, dict):
        return ""
    if isinstance(node.get("term"), str):
        return f"term {node['term']!r}"
    for key in ("id", "name"):
        if isinstance(node.get(key), str):
            return repr(node[key])
    terms = node.get("terms")
    if isinstance(terms, list) and terms:
        return f"(terms {terms[0]!r} …)"
    return ""


def _join(steps: list[str]) -> str:
    out = ""
    for step in steps:
        out += step if step.startswith("[") or not out else f".{step}"
    return out
