"""The console's show controls (run-of-show, poll, giveaway), its error line and who is
signed in — in a real headless Chromium against the real server.

Chat comes from a scripted stream the test writes to, so every count is known; the page
is waited on for what it shows, never for a fixed time.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, Route, WebSocket, expect

from livepilot.cli.streams import demo_settings
from livepilot.clock import SystemClock
from livepilot.testing import (
    TEST_CONSOLE_TOKEN,
    EventFactory,
    RunningServer,
    ScriptedSource,
    running_server,
    settings_for_tests,
)

STREAM = "show"
#: Page waits: generous for a loaded CI machine; a passing run takes a fraction of it.
WAIT = 8_000




#: Each open console page's WebSocket, to read the frames it sends.
SOCKETS: dict[Page, WebSocket] = {}


async def open_console(browser: Browser, srv: RunningServer, *, me: Any = None) -> Page:
    """The console at 1280×720 with the Show tab open; ``me`` fakes ``/api/me``
    (a dict: its answer, an int: its status) so each role is tested on its own."""
    page = await browser.new_page(viewport={"width": 1280, "height": 720})
    if me is not None:

        async def answer(route: Route) -> None:
            if isinstance(me, int):
                await route.fulfill(status=me, json={"detail": "Not Found"})
            else:
                await route.fulfill(json=me)

        await page.route("**/api/me?*", answer)
    async with page.expect_websocket() as opened:
        await page.goto(f"{srv.base}/?token={TEST_CONSOLE_TOKEN}")
    SOCKETS[page] = await opened.value

    def forget(closed: Page) -> None:
        SOCKETS.pop(closed, None)

    page.on("close", forget)
    await page.wait_for_selector("#conn.up", timeout=WAIT)
    await page.click(".tabs button[data-tab=show-tab]")
    await expect(page.locator("#show-tab")).to_be_visible()
    return page


async def audit(srv: RunningServer) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=srv.base) as http:
        reply = await http.get("/api/audit", params={"token": TEST_CONSOLE_TOKEN})
    entries: list[dict[str, Any]] = reply.json()
    return entries


def bar(page: Page, option: int) -> Any:
    return page.locator(f'#poll .bar[data-option="{option}"] .n')


@pytest.mark.timeout(30)
async def test_poll_from_the_form_counts_chat_votes_live_and_closes(browser: Browser) -> None:
    source = ScriptedSource(STREAM)
    async with running_server([source]) as srv:
        page = await open_console(browser, srv)
        await expect(page.locator("#poll")).to_contain_text("no poll yet", timeout=WAIT)
        await page.fill("#poll-question", "Welche Farbe?")
        await page.fill("#poll-options", "Blau, Rot , Grün")
        await page.click("#poll-form button[type=submit]")
        await expect(page.locator("#poll-status")).to_contain_text("open", timeout=WAIT)
        await expect(page.locator("#poll .bar")).to_have_count(3)
        await expect(page.locator("#poll-form")).to_be_hidden()

        for user, text in [("anna", "1"), ("ben", "!1"), ("cara", "Rot"), ("dora", "hallo"),
                           ("emil", "#2"), ("emil", "3")]:  # emil moves his vote to Grün
            source.chat(user, text)
        await expect(bar(page, 1)).to_have_text("2 (50 %)", timeout=WAIT)
        await expect(bar(page, 2)).to_have_text("1 (25 %)", timeout=WAIT)
        await expect(bar(page, 3)).to_have_text("1 (25 %)", timeout=WAIT)
        await expect(page.locator("#poll-status")).to_contain_text("4 voters")
        assert await page.locator("#show-badge").text_content() == "poll"

        await page.click("#poll button[data-show=poll_close]")
        await expect(page.locator("#poll-status")).to_contain_text("closed", timeout=WAIT)
        await expect(page.locator("#poll-form")).to_be_visible()
        # the results go to the host as a prompt, and a late vote no longer counts
        await expect(page.locator("#prompts")).to_contain_text("Welche Farbe?", timeout=WAIT)
        source.chat("fritz", "2")
        await expect(page.locator("#chat")).to_contain_text("@fritz", timeout=WAIT)
        await page.close()
        entries = await audit(srv)
        async with httpx.AsyncClient(base_url=srv.base) as http:
            polls = (await http.get(f"/api/streams/{STREAM}/polls",
                                    params={"token": TEST_CONSOLE_TOKEN})).json()
    assert [r["votes"] for r in polls["poll"]["results"]] == [2, 1, 1]
    started = [e for e in entries if e["action"] == "poll_start"]
    assert started and started[0]["by"] == "console"
    assert started[0]["args"] == {"question": "Welche Farbe?", "options": ["Blau", "Rot", "Grün"]}


@pytest.mark.timeout(30)
async def test_giveaway_counts_entrants_and_draws_an_eligible_winner(browser: Browser) -> None:
    source = ScriptedSource(STREAM)
    async with running_server([source]) as srv:
        page = await open_console(browser, srv)
        await expect(page.locator("#giveaway")).to_contain_text("no giveaway yet", timeout=WAIT)
        await page.fill("#giveaway-keyword", "gewinn")
        await page.click("#giveaway-form button[type=submit]")
        await expect(page.locator("#giveaway-status")).to_contain_text("open", timeout=WAIT)

        for user, text in [("anna", "gewinn!"), ("ben", "ich will GEWINN"), ("troll", "gewinn"),
                           ("cara", "gewinnen?"), ("troll", "du hurensohn")]:
            source.chat(user, text)  # cara's word is another one; troll is flagged after entering
        await expect(page.locator("#giveaway-status")).to_contain_text(
            "3 entrants (2 eligible)", timeout=WAIT
        )
        await page.click("#giveaway button[data-show=giveaway_draw]")
        winner = page.locator("#giveaway-winners .winner")
        await expect(winner).to_have_count(1, timeout=WAIT)
        assert await winner.inner_text() in ("🎉 @anna", "🎉 @ben")
        await expect(page.locator("#giveaway-status")).to_contain_text("closed")
        await page.close()


@pytest.mark.timeout(30)
async def test_demo_run_of_show_starts_ticks_and_moves_to_the_next_segment(
    browser: Browser,
) -> None:
    settings = demo_settings(settings_for_tests())
    assert settings.run_of_show is not None and settings.run_of_show.name == "run-of-show.yaml"
    source = ScriptedSource(STREAM)
    async with running_server([source], settings=settings) as srv:
        page = await open_console(browser, srv)
        current = page.locator("#ros-current")
        await expect(current).to_contain_text("not started", timeout=WAIT)
        await expect(page.locator("#ros .segments button")).to_have_count(5)

        await page.click("#ros button[data-show=segment_start]:text('start show')")
        await expect(current).to_have_text("Begrüßung", timeout=WAIT)
        # the host gets the segment's talking points as a prompt (written in the host's
        # German, shown in this console's English)
        await expect(page.locator("#prompts")).to_contain_text("Segment “Begrüßung” (5 min)",
                                                               timeout=WAIT)
        await expect(page.locator("#ros-points")).to_contain_text("Alle begrüßen")
        # the segment's goal and how far the chat has got, counted from the segment start
        goal = page.locator("#ros-goal")
        await expect(goal).to_contain_text("5.000 Herzen zum Start: 0 / 5,000 likes")
        source.emit(EventFactory(SystemClock(), stream=STREAM).like("kim", count=120))
        await expect(goal).to_contain_text(": 120 / 5,000 likes", timeout=WAIT)
        await expect(page.locator("#ros-questions")).to_contain_text("Woher schaut ihr heute zu?")
        left = page.locator("#ros-left")
        await expect(left).to_have_text(re.compile(r"^[45]:\d\d left$"), timeout=WAIT)
        shown = await left.inner_text()
        await expect(left).not_to_have_text(shown, timeout=3_000)  # ticks in the page

        await page.click("#ros button[data-show=segment_next]")
        await expect(current).to_have_text("Thema", timeout=WAIT)
        await expect(page.locator("#ros .segments button.current")).to_contain_text("2 Thema")
        await expect(page.locator("#ros")).to_contain_text("Welche Farbe zuerst?")
        await expect(page.locator("#ros")).to_contain_text("next: Interaktion")

        # the segment's prepared poll runs with one click
        await page.click("#ros button[data-show=poll_start]")
        await expect(page.locator("#poll")).to_contain_text("Welche Farbe zuerst?", timeout=WAIT)
        await expect(page.locator("#poll .bar")).to_have_count(3)

        # any segment starts from its chip
        await page.click("#ros .segments button:text('4 Produkt')")
        await expect(current).to_have_text("Produkt", timeout=WAIT)
        await expect(page.locator("#ros")).to_contain_text("Link in der Bio")  # its CTA
        await page.close()


@pytest.mark.timeout(30)
async def test_refused_commands_show_their_reason_on_the_page(browser: Browser) -> None:
    async with running_server([ScriptedSource(STREAM)]) as srv:
        page = await open_console(browser, srv)
        toast = page.locator("#toast")
        # refused by the server: the error frame's message, named by its action
        await page.evaluate("command('nope', 'hide', 'some-id')")
        await expect(toast).to_have_text("hide refused: no stream 'nope'", timeout=WAIT)
        await expect(toast).to_have_class("bad")
        # refused before sending: a poll needs 2–9 options
        await page.fill("#poll-question", "Ja oder nein?")
        await page.fill("#poll-options", "Ja")
        await page.click("#poll-form button[type=submit]")
        await expect(toast).to_contain_text("give 2–9 options")
        await page.close()


async def sent_frame(page: Page, selector: str) -> dict[str, Any]:
    """The command frame the page sends on its console socket when ``selector`` is clicked."""
    socket = SOCKETS[page]
    async with socket.expect_event("framesent") as sent:
        await page.click(selector)
    frame: dict[str, Any] = json.loads(await sent.value)
    return frame


@pytest.mark.timeout(30)
async def test_api_me_names_who_is_signed_in_and_decides_the_controls(browser: Browser) -> None:
    source = ScriptedSource(STREAM)
    async with running_server([source]) as srv:
        source.chat("anna", "hallo zusammen")
        # The message's first action: "hide" while it is visible, "unhide" once a page
        # below has hidden it (every console follows the moderation stage's decisions).
        hide = "#chat .msg:not(.other) .acts button:first-child"

        # an observer watches: no command buttons at all
        page = await open_console(
            browser, srv, me={"name": "olga", "role": "observer", "verified": True, "can": []}
        )
        await expect(page.locator("#me")).to_have_text("olga (observer)")
        await expect(page.locator("#chat")).to_contain_text("hallo zusammen", timeout=WAIT)
        await expect(page.locator(hide)).to_be_hidden()
        await expect(page.locator("#poll-form")).to_be_hidden()
        await expect(page.locator("#giveaway-form")).to_be_hidden()
        await page.close()

        # a verified moderator moderates but does not run the show; the server names them
        page = await open_console(
            browser, srv,
            me={"name": "mo", "role": "moderator", "verified": True,
                "can": ["chat", "users", "questions", "prompts"]},
        )
        await expect(page.locator("#me")).to_have_text("mo (moderator)")
        await expect(page.locator(hide)).to_be_visible(timeout=WAIT)
        await expect(page.locator("#poll-form")).to_be_hidden()
        await expect(page.locator("#giveaway-form")).to_be_hidden()
        frame = await sent_frame(page, hide)
        assert frame["action"] == "hide" and "by" not in frame
        await page.close()

        # the shared token: the moderator types a display name once; it is sent as `by`
        page = await open_console(
            browser, srv, me={"name": None, "role": "lead", "verified": False,
                          "can": ["chat", "users", "questions", "prompts", "show"]}
        )
        await expect(page.locator("#me")).to_contain_text("(lead)")
        await page.fill("#by", "Maria")
        await page.press("#by", "Enter")
        await expect(page.locator("#poll-form")).to_be_visible()
        assert (await sent_frame(page, hide))["by"] == "Maria"
        await page.reload()  # remembered in this browser
        await page.wait_for_selector("#conn.up", timeout=WAIT)
        await expect(page.locator("#by")).to_have_value("Maria")
        await page.close()

        # a server without /api/me: today's console, every button, `by: "console"`
        page = await open_console(browser, srv, me=404)
        await expect(page.locator("#me")).to_have_text("")
        await expect(page.locator("#poll-form")).to_be_visible()
        assert (await sent_frame(page, hide))["by"] == "console"
        await page.close()
