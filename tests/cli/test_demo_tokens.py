"""``livepilot demo`` keeps its tokens across restarts, so OBS sources keep working."""

from __future__ import annotations

import stat
from pathlib import Path

from pydantic import SecretStr

from livepilot.cli._tokens import TOKENS_FILE, keep_demo_tokens
from livepilot.settings import Settings


def secrets_of(settings: Settings) -> tuple[str, str, str]:
    assert settings.console_token and settings.overlay_key and settings.host_key
    return (settings.console_token.get_secret_value(), settings.overlay_key.get_secret_value(),
            settings.host_key.get_secret_value())


def test_the_same_tokens_after_a_restart_in_an_owner_only_file(tmp_path: Path) -> None:
    first = secrets_of(keep_demo_tokens(Settings(), tmp_path))
    second = secrets_of(keep_demo_tokens(Settings(), tmp_path))
    assert first == second and len(set(first)) == 3
    mode = stat.S_IMODE((tmp_path / TOKENS_FILE).stat().st_mode)
    assert mode == 0o600


def test_a_token_from_the_environment_wins_and_is_not_stored(tmp_path: Path) -> None:
    settings = keep_demo_tokens(Settings(overlay_key=SecretStr("obs-key-from-env")), tmp_path)
    assert secrets_of(settings)[1] == "obs-key-from-env"
    assert "obs-key-from-env" not in (tmp_path / TOKENS_FILE).read_text()


def test_a_broken_file_is_replaced_with_new_tokens(tmp_path: Path) -> None:
    (tmp_path / TOKENS_FILE).write_text("{not json")
    (tmp_path / TOKENS_FILE).chmod(0o644)
    tokens = secrets_of(keep_demo_tokens(Settings(), tmp_path))
    assert secrets_of(keep_demo_tokens(Settings(), tmp_path)) == tokens
    assert stat.S_IMODE((tmp_path / TOKENS_FILE).stat().st_mode) == 0o600
