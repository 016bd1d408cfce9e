"""Reasons, alarms and host prompts reach a German console in German, in real headless
Chromium against the real server: the stages write English prose (the host's language is
English here) and, next to it, a code with params that the page says from its catalogue.
Screenshots (German, 1280×720) go to ``$LIVEPILOT_SCREENSHOTS`` (default: the test's
tmp dir) as ``console-de-reasons-1280x720.png`` and ``console-de-raid-1280x720.png``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from tests.server.conftest import open_console

from livepilot.testing import (
    ScriptedSource,
    running_server,
    settings_for_tests,
)

WAIT = 20_000
STREAM = "live"
ERRORS: list[str] = []
#: English prose the server wrote that a German console must never show as it is.
ENGLISH = ["matched '", "German model", "strike score", "people asked", "Raid / bot wave",
           "new accounts posting", "accounts new to the chat"]


async def german_console(browser: Browser, base: str) -> Page:
    return await open_console(browser, base, errors=ERRORS, wait=WAIT)


@pytest.mark.timeout(150)
async def test_a_german_console_says_every_reason_alarm_and_prompt_in_german(
    browser: Browser, shots: Path
) -> None:
    ERRORS.clear()
    source = ScriptedSource(STREAM)
    settings = settings_for_tests(host_language="en")
    async with running_server([source], settings) as srv:
        page = await german_console(browser, srv.base)

        # a word-filter hit and the strike it earns
        source.chat("troll", "du hurensohn")
        hit = page.locator("#flagged .review-item").filter(has_text="du hurensohn")
        await expect(hit.locator(".reason")).to_contain_text(
            "Treffer „hurensohn“ — Beleidigung, hohe Schwere", timeout=WAIT)
        await expect(hit.locator(".reason")).to_contain_text(
            "@troll: Verwarnungsstand 1.0 (1 Treffer) → Hinweis für die Moderatoren")

        # the German model's verdict (no word of the filter in it)
        source.chat("grumpy", "du bist so ein dummer versager")
        model = page.locator("#flagged .review-item").filter(has_text="dummer versager")
        await expect(model.locator(".reason")).to_contain_text(
            re.compile(r"Deutsches Modell 0\.\d\d \((Beleidigung|toxisch)\)"), timeout=WAIT)

        # a host prompt the server wrote in English
        for user in ("anna", "ben", "cem"):
            source.chat(user, "was kostet das?")
        prompts = page.locator("#prompts .prompt .ptext")
        await expect(prompts.filter(has_text="3 Leute fragen nach dem Preis")).to_have_count(
            1, timeout=WAIT)

        await page.screenshot(path=str(shots / "console-de-reasons-1280x720.png"))

        # a raid: twelve new accounts promote the same thing within seconds
        for i in range(12):
            source.chat(f"bot{i}", f"folgt alle @botking{i} für gratis coins")
        alarm = page.locator("#alarms .alarm").filter(has_text="Raid/Bot-Welle")
        await expect(alarm).to_contain_text("neue Konten haben", timeout=WAIT)
        await expect(alarm).to_contain_text("ausgelöst")
        await expect(prompts.filter(has_text="nicht vorlesen")).to_have_count(1, timeout=WAIT)
        await expect(page.locator("#flagged .reason").filter(has_text="Raid:").first).to_be_visible(
            timeout=WAIT)

        shown = await page.evaluate("() => document.body.innerText")
        leaked = [prose for prose in ENGLISH if prose in shown]
        assert leaked == [], leaked
        await page.screenshot(path=str(shots / "console-de-raid-1280x720.png"))

        # the same page in English: the same codes, the catalogue's English words
        await page.select_option("#lang-pick", "en")
        await expect(hit.locator(".reason")).to_contain_text(
            "matched 'hurensohn' — insult, high severity")
        await expect(prompts.filter(has_text="3 people asked about the price")).to_have_count(1)
        await page.context.close()
    assert ERRORS == []
