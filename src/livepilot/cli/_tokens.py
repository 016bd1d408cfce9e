"""The demo's tokens, kept across restarts.

``livepilot demo`` makes up its console token, overlay key and host key when none are set.
Made up anew on every start, they would break every OBS browser source and bookmarked
console URL each time the demo restarts, so they are kept in the data directory
(``demo-tokens.json``, readable by the owner only) and reused. A token set in the
environment always wins and is never written to the file.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path

from pydantic import SecretStr

from livepilot.errors import ConfigError
from livepilot.settings import Settings

__all__ = ["TOKENS_FILE", "keep_demo_tokens"]

log = logging.getLogger(__name__)

TOKENS_FILE = "demo-tokens.json"
_FIELDS = {"console_token": 18, "overlay_key": 12, "host_key": 12}  # name -> random bytes


def keep_demo_tokens(settings: Settings, data_dir: Path) -> Settings:
    """``settings`` with every unset token taken from ``data_dir/demo-tokens.json``, or made
    up and stored there (mode 0600) for the next start."""
    path = data_dir / TOKENS_FILE
    stored = _read(path)
    update: dict[str, SecretStr] = {}
    for name, size in _FIELDS.items():
        if getattr(settings, name) is not None:
            continue  # set by the environment: that one counts, the file is not touched
        value = stored.get(name)
        if not isinstance(value, str) or len(value) < 8:
            value = secrets.token_urlsafe(size)
            stored[name] = value
        update[name] = SecretStr(value)
    if update:
        _write(path, stored)
    return settings.model_copy(update=update) if update else settings


def _read(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("demo tokens: cannot read %s (%s); making new ones", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, tokens: dict[str, object]) -> None:
    """Write owner-only from the first byte (no window in which others could read it)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(tokens, handle, indent=2)
        os.chmod(path, 0o600)  # a file that existed keeps its old mode through os.open
    except OSError as exc:
        raise ConfigError(
            f"cannot keep the demo tokens in {path} ({exc.strerror}); set "
            "LIVEPILOT_DATA_DIR to a writable directory or set the tokens yourself"
        ) from exc
