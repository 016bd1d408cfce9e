"""The README's settings table is the one generated from ``Settings``."""

from __future__ import annotations

from pathlib import Path

from livepilot.settings import Settings
from livepilot.settings_doc import (
    BEGIN,
    END,
    STORE_BEGIN,
    STORE_END,
    descriptions,
    render,
    render_store,
    replace_block,
)
from livepilot.store import settings as store_settings_module
from livepilot.store.settings import StoreSettings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_lists_every_setting_as_settings_declares_it() -> None:
    text = README.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, "README.md lost its settings markers"
    assert replace_block(text, render()) == text, (
        "README.md's settings table disagrees with Settings; regenerate it with "
        "`python -m livepilot.settings_doc README.md`"
    )


def test_every_setting_is_described() -> None:
    docs = descriptions()
    undocumented = [name for name in Settings.model_fields if not docs.get(name)]
    assert undocumented == [], "add a `#:` comment above these fields in settings.py"


def test_the_table_follows_a_changed_default() -> None:
    # The check can fail: a table rendered before a default changed no longer matches.
    table = render()
    assert "| `LIVEPILOT_PORT` | `8080` |" in table
    stale = table.replace("| `LIVEPILOT_PORT` | `8080` |", "| `LIVEPILOT_PORT` | `9090` |")
    text = README.read_text(encoding="utf-8")
    assert replace_block(text, stale) != text
    # The stage chain shows the code's default, in the code's order.
    assert '["' + '", "'.join(Settings().stages) + '"]' in table


def test_the_readme_lists_the_store_settings_in_their_own_table() -> None:
    text = README.read_text(encoding="utf-8")
    assert STORE_BEGIN in text and STORE_END in text, "README.md lost its store markers"
    assert replace_block(text, render_store(), STORE_BEGIN, STORE_END) == text, (
        "README.md's store settings table disagrees with StoreSettings; regenerate it with "
        "`python -m livepilot.settings_doc README.md`"
    )
    table = render_store()
    assert "| `LIVEPILOT_DATA_DIR` | `$XDG_DATA_HOME/livepilot`" in table
    assert "| `LIVEPILOT_RETENTION_CHAT_DAYS` | `30` |" in table
    assert "LIVEPILOT_CONSOLE_TOKEN" not in table  # each model in its own table


def test_every_store_setting_is_described() -> None:
    docs = descriptions(StoreSettings, store_settings_module)
    undocumented = [name for name in StoreSettings.model_fields if not docs.get(name)]
    assert undocumented == [], "add a `#:` comment above these fields in store/settings.py"
