"""The console's audit view, in real headless Chromium against the real server: one
moderator hides a message, another sees it in the "Audit" tab at once — who, what, which
message, the applied change (previous → new state), newest first, filterable, in German.
A screenshot (German, 1280×720) goes to ``$LIVEPILOT_SCREENSHOTS`` (default: the test's
tmp dir) as ``console-de-audit-1280x720.png``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from tests.server.conftest import open_console

from livepilot.testing import (
    TEST_MODERATOR_TOKENS,
    TEST_MODERATORS,
    ScriptedSource,
    running_server,
    settings_for_tests,
)

WAIT = 20_000
STREAM = "live"
ERRORS: list[str] = []


async def console(browser: Browser, base: str, who: str) -> Page:
    """Moderator ``who``'s German console."""
    return await open_console(browser, base, TEST_MODERATOR_TOKENS[who], errors=ERRORS, wait=WAIT)


@pytest.mark.timeout(150)
async def test_a_hide_by_one_moderator_shows_in_the_others_audit_view(
    browser: Browser, shots: Path
) -> None:
    ERRORS.clear()
    source = ScriptedSource(STREAM)
    settings = settings_for_tests(moderators=TEST_MODERATORS)
    async with running_server([source], settings) as srv:
        lena = await console(browser, srv.base, "lena")
        mia = await console(browser, srv.base, "mia")
        await mia.click(".tabs button[data-tab=audit-tab]")
        tab = mia.locator(".tabs button[data-tab=audit-tab]")
        await expect(tab).to_have_text("Protokoll")
        await expect(mia.locator("#audit")).to_contain_text("noch keine Einträge", timeout=WAIT)

        source.chat("troll", "du hurensohn")
        source.chat("nerv", "du spast")
        first = lena.locator("#flagged .review-item").filter(has_text="du hurensohn")
        await first.locator("button[data-act=hide]").click()

        # mia's open audit tab shows it without a reload: who, what, which message, the change
        entry = mia.locator("#audit .audit-entry").first
        await expect(entry).to_contain_text("lena", timeout=WAIT)
        await expect(entry.locator(".audit-action")).to_have_text("ausblenden")
        await expect(entry).to_contain_text("@troll: „du hurensohn“")
        await expect(entry.locator(".audit-change")).to_have_text(
            "zurückgehalten → ausgeblendet", timeout=WAIT)
        await expect(entry).to_contain_text("Leitung ✓")

        # newest first, and the filters narrow it
        second = lena.locator("#flagged .review-item").filter(has_text="du spast")
        await second.locator("button[data-act=approve]").click()
        entries = mia.locator("#audit .audit-entry")
        await expect(entries).to_have_count(2, timeout=WAIT)
        await expect(entries.first.locator(".audit-action")).to_have_text("freigeben")
        await expect(entries.first.locator(".audit-change")).to_have_text(
            "zurückgehalten → sichtbar", timeout=WAIT)
        await mia.select_option("#audit-action", "hide")
        await expect(entries).to_have_count(1)
        await expect(entries.first).to_contain_text("du hurensohn")
        await mia.select_option("#audit-action", "")
        await expect(mia.locator("#audit-by option")).to_have_text(
            ["alle Moderatoren", "lena"])
        await mia.screenshot(path=str(shots / "console-de-audit-1280x720.png"))

        # the same entries in English
        await mia.select_option("#lang-pick", "en")
        await expect(entries.first.locator(".audit-change")).to_have_text("held → visible")
        await expect(tab).to_have_text("Audit")
        for page in (lena, mia):
            await page.context.close()
    assert ERRORS == []
