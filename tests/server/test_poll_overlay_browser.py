"""The ``poll`` overlay in a real headless Chromium against the real server: a poll and a
giveaway started through the API, chat votes and entries from a scripted stream, and the
bars, counts and winner the viewers see.

Every wait is for what the page shows, never for a fixed time.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect
from tests.server.conftest import open_overlay, send_command

from livepilot.testing import (
    TEST_CONSOLE_TOKEN,
    RunningServer,
    ScriptedSource,
    running_server,
)

STREAM = "show"
#: Page waits: generous for a loaded CI machine; a passing run takes a fraction of it.
WAIT = 8_000


async def command(srv: RunningServer, action: str, **args: Any) -> None:
    await send_command(srv.base, STREAM, action, **args)


async def poll_overlay(browser: Browser, srv: RunningServer) -> Page:
    """The poll overlay of every stream (no ``stream`` in its URL), at 1280×720."""
    return await open_overlay(browser, srv.base, "poll", width=1280, height=720, wait=WAIT)


#: True once the first option's bar is filled to half its width, as drawn on screen.
FILLED_HALF = """() => {
  const bar = document.querySelector('.tally.poll .bar[data-option="1"]');
  const ratio = bar.querySelector('.fill').getBoundingClientRect().width
                / bar.getBoundingClientRect().width;
  return Math.abs(ratio - 0.5) < 0.01;
}"""


def pct(page: Page, option: int) -> Any:
    return page.locator(f'.tally.poll .bar[data-option="{option}"] .pct')


@pytest.mark.timeout(30)
async def test_the_poll_overlay_shows_live_bars_and_the_result(browser: Browser) -> None:
    source = ScriptedSource(STREAM)
    async with running_server([source]) as srv:
        page = await poll_overlay(browser, srv)
        poll = page.locator(".tally.poll")
        await command(srv, "poll_start", question="Welche Farbe <b>?</b>",
                      options=["Blau", "Rot", "Grün"])
        await expect(poll.locator(".title")).to_have_text("📊 Welche Farbe <b>?</b>",
                                                          timeout=WAIT)
        await expect(poll.locator(".bar")).to_have_count(3)
        await expect(pct(page, 1)).to_have_text("0 %")

        for user, text in [("anna", "1"), ("ben", "!1"), ("cara", "Rot"), ("dora", "hallo"),
                           ("emil", "#2"), ("emil", "3")]:  # emil moves his vote to Grün
            source.chat(user, text)
        await expect(pct(page, 1)).to_have_text("50 %", timeout=WAIT)
        await expect(pct(page, 2)).to_have_text("25 %", timeout=WAIT)
        await expect(pct(page, 3)).to_have_text("25 %", timeout=WAIT)
        await expect(poll.locator(".meta")).to_contain_text("4 Stimmen")
        await page.wait_for_function(FILLED_HALF, timeout=WAIT)  # the bar grows (animated)
        await expect(poll).not_to_have_class("item tally poll closed")

        source.chat("fritz", "1")
        await expect(pct(page, 1)).to_have_text("60 %", timeout=WAIT)
        await command(srv, "poll_close")
        await expect(poll).to_have_class("item tally poll closed", timeout=WAIT)
        await expect(poll.locator(".bar.win")).to_have_count(1)
        await expect(poll.locator(".bar.win .label")).to_have_text("1 · Blau")
        await expect(poll.locator(".meta")).to_contain_text("Ergebnis")
        background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background in ("rgba(0, 0, 0, 0)", "transparent")


@pytest.mark.timeout(30)
async def test_the_poll_overlay_shows_the_giveaway_and_its_winner(browser: Browser) -> None:
    source = ScriptedSource(STREAM)
    async with running_server([source]) as srv:
        page = await poll_overlay(browser, srv)
        giveaway = page.locator(".tally.giveaway")
        await command(srv, "giveaway_start", keyword="#gewinn", title="Merch-Paket")
        await expect(giveaway.locator(".keyword")).to_have_text("Schreib #gewinn in den Chat",
                                                                timeout=WAIT)
        await expect(giveaway.locator(".title")).to_have_text("🎁 Merch-Paket")
        await expect(giveaway.locator(".entries")).to_have_text("0 Teilnehmende")

        source.chat("anna", "#gewinn bitte!")
        await expect(giveaway.locator(".entries")).to_have_text("1 Teilnehmer", timeout=WAIT)
        source.chat("troll", "#gewinn du hurensohn")  # flagged: never enters
        source.chat("ben", "ich will #gewinn")
        source.chat("cara", "hallo")
        await expect(giveaway.locator(".entries")).to_have_text("2 Teilnehmende", timeout=WAIT)
        await expect(giveaway.locator(".winner")).to_be_empty()

        await command(srv, "giveaway_draw")
        await expect(giveaway.locator(".winner")).to_have_text(
            re.compile(r"^🎉 @(anna|ben)$"), timeout=WAIT)
        await expect(giveaway).to_have_class("item tally giveaway closed")
        await expect(giveaway.locator(".keyword")).to_be_hidden()
        assert "troll" not in await page.content()



@pytest.mark.timeout(30)
async def test_the_console_show_tab_follows_tallies_without_reading_the_api(
    browser: Browser,
) -> None:
    """With ``GET …/polls`` failing, the Show tab's poll panel still follows the votes:
    the socket's tally messages alone update it."""
    source = ScriptedSource(STREAM)
    async with running_server([source]) as srv:
        page = await browser.new_page(viewport={"width": 1280, "height": 720})
        await page.route(f"**/api/streams/{STREAM}/polls?*", lambda route: route.abort())
        await page.goto(f"{srv.base}/?token={TEST_CONSOLE_TOKEN}")
        await page.wait_for_selector("#conn.up", timeout=WAIT)
        await page.click(".tabs button[data-tab=show-tab]")
        # the run-of-show panel is read once the console knows its stream
        await expect(page.locator("#ros")).not_to_be_empty(timeout=WAIT)
        await expect(page.locator("#poll")).to_be_empty()

        await command(srv, "poll_start", question="Rot oder Blau?", options=["Rot", "Blau"])
        await expect(page.locator("#poll-status")).to_contain_text("open", timeout=WAIT)
        for user, text in [("anna", "2"), ("ben", "blau"), ("cara", "1")]:
            source.chat(user, text)
        bar = page.locator('#poll .bar[data-option="2"] .n')
        await expect(bar).to_have_text("2 (67 %)", timeout=WAIT)
        await expect(page.locator("#poll-status")).to_contain_text("3 voters")
        await command(srv, "poll_close")
        await expect(page.locator("#poll-status")).to_contain_text("closed", timeout=WAIT)

        await command(srv, "giveaway_start", keyword="los")
        source.chat("anna", "los")
        await expect(page.locator("#giveaway-status")).to_contain_text(
            "1 entrant (1 eligible)", timeout=WAIT
        )
        await command(srv, "giveaway_draw")
        await expect(page.locator("#giveaway-winners")).to_have_text("🎉 @anna", timeout=WAIT)
