"""One user's moderation state: GET /api/streams/{stream}/users/{user_id} on the real
server, and the console's user panel (history, strike score, strike/block) in a real
headless Chromium.

Chat comes from a scripted stream the test writes to. A command is applied by the stage
after the server acknowledges it, so reads wait for the state to change (bounded), and the
page is waited on for what it shows, never for a fixed time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from livepilot.testing import (
    TEST_CONSOLE_TOKEN,
    TEST_MODERATOR_TOKENS,
    TEST_MODERATORS,
    TEST_OVERLAY_KEY,
    RunningServer,
    ScriptedSource,
    running_server,
    settings_for_tests,
)

STREAM = "users"
#: Page waits: generous for a loaded CI machine; a passing run takes a fraction of it.
WAIT = 8_000


async def user(
    http: httpx.AsyncClient, user_id: str, token: str = TEST_CONSOLE_TOKEN
) -> httpx.Response:
    return await http.get(f"/api/streams/{STREAM}/users/{user_id}", params={"token": token})


async def user_until(
    http: httpx.AsyncClient, user_id: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The user's state once ``done`` holds (the stage applies commands and chat
    asynchronously); fails after 5 s with the last state read."""
    deadline = time.monotonic() + 5.0
    while True:
        state: dict[str, Any] = (await user(http, user_id)).json()
        if done(state):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"user state never matched: {state}")
        await asyncio.sleep(0.02)


# -- the endpoint -------------------------------------------------------------------------


@pytest.mark.timeout(20)
async def test_unknown_user_reads_as_a_clean_zero_state() -> None:
    async with running_server([ScriptedSource(STREAM)]) as srv:
        async with httpx.AsyncClient(base_url=srv.base) as http:
            reply = await user(http, "id-nobody")
    assert reply.status_code == 200
    body = reply.json()
    assert body["user_id"] == "id-nobody"
    assert (body["score"], body["hits"], body["step"], body["blocked"]) == (0.0, 0, None, False)
    assert body["reason"] == "no strikes"


@pytest.mark.timeout(20)
async def test_user_endpoint_needs_a_console_credential() -> None:
    settings = settings_for_tests(moderators=TEST_MODERATORS)
    async with running_server([ScriptedSource(STREAM)], settings=settings) as srv:
        async with httpx.AsyncClient(base_url=srv.base) as http:
            anonymous = await http.get(f"/api/streams/{STREAM}/users/id-anna")
            overlay = await user(http, "id-anna", token=TEST_OVERLAY_KEY)
            observer = await user(http, "id-anna", token=TEST_MODERATOR_TOKENS["otto"])
            unknown_stream = await http.get(
                "/api/streams/nope/users/id-anna", params={"token": TEST_CONSOLE_TOKEN}
            )
            unknown_view = await http.get(
                f"/api/streams/{STREAM}/polls/id-anna", params={"token": TEST_CONSOLE_TOKEN}
            )
    assert anonymous.status_code == 401
    assert overlay.status_code == 401  # the overlay key opens no console data
    assert observer.status_code == 200  # every role may read
    assert unknown_stream.status_code == 404
    assert unknown_stream.json()["detail"] == "no stream 'nope'"
    assert unknown_view.status_code == 404
    assert "known: users" in unknown_view.json()["detail"]


@pytest.mark.timeout(20)
async def test_strikes_chat_and_blocks_show_in_the_user_state_and_watch_list() -> None:
    source = ScriptedSource(STREAM)
    async with running_server([source]) as srv:
        async with httpx.AsyncClient(base_url=srv.base) as http:
            posted = await http.post(
                "/api/commands",
                params={"token": TEST_CONSOLE_TOKEN},
                json={"stream": STREAM, "action": "strike", "target": "id-eve",
                      "args": {"points": 2, "handle": "eve"}},
            )
            assert posted.status_code == 202
            eve = await user_until(http, "id-eve", lambda s: s["score"] > 0)
            assert (eve["score"], eve["hits"], eve["handle"]) == (2.0, 1, "eve")
            assert (eve["step"], eve["recommended"]) == ("hide", "hide from overlays")
            assert eve["hidden"] and not eve["blocked"]

            source.chat("troll", "du hurensohn")  # the real word filter flags it
            troll = await user_until(http, "id-troll", lambda s: s["score"] > 0)
            assert troll["handle"] == "troll" and troll["hits"] == 1
            assert troll["reason"].startswith("@troll: strike score")

            await http.post(
                "/api/commands",
                params={"token": TEST_CONSOLE_TOKEN},
                json={"stream": STREAM, "action": "block", "target": "id-quiet", "by": "lisa"},
            )
            quiet = await user_until(http, "id-quiet", lambda s: s["blocked"])
            assert quiet["blocked_by"] == "@lisa" and quiet["hidden"]

            watch = (await http.get(f"/api/streams/{STREAM}/users",
                                    params={"token": TEST_CONSOLE_TOKEN})).json()
    # blocks first, then by score: eve's 2 points, troll's one insult
    assert [u["user_id"] for u in watch] == ["id-quiet", "id-eve", "id-troll"]


# -- the console's user panel -------------------------------------------------------------


async def open_console(browser: Browser, srv: RunningServer, token: str) -> Page:
    page = await browser.new_page(viewport={"width": 1280, "height": 720})
    await page.goto(f"{srv.base}/?token={token}")
    await page.wait_for_selector("#conn.up", timeout=WAIT)
    return page


@pytest.mark.timeout(40)
async def test_user_panel_shows_history_and_score_and_blocks(browser: Browser) -> None:
    source = ScriptedSource(STREAM)
    settings = settings_for_tests(moderators=TEST_MODERATORS)
    async with running_server([source], settings=settings) as srv:
        page = await open_console(browser, srv, TEST_MODERATOR_TOKENS["mia"])
        await expect(page.locator("#me")).to_have_text("mia (moderator)", timeout=WAIT)
        source.chat("troll", "du hurensohn")
        source.chat("troll", "wann kommt das <b>neue</b> Video?")
        source.chat("anna", "hallo zusammen")
        chat = page.locator("#chat")
        await expect(chat).to_contain_text("hallo zusammen", timeout=WAIT)
        await expect(page.locator("#flagged .who")).to_have_text("@troll", timeout=WAIT)

        # the @handle in the flagged column opens the panel
        await page.click("#flagged .who")
        panel = page.locator("#user-panel")
        await expect(panel).to_be_visible()
        await expect(page.locator("#user-handle")).to_have_text("@troll")
        messages = page.locator("#user-messages .msg")
        await expect(messages).to_have_count(2, timeout=WAIT)
        # newest first, as in the chat; text escaped, labels as in the rows
        await expect(messages.nth(0)).to_contain_text("wann kommt das <b>neue</b> Video?")
        await expect(messages.nth(1)).to_contain_text("du hurensohn")
        await expect(messages.nth(1).locator(".label.toxic")).to_be_visible(timeout=WAIT)
        await expect(page.locator("#user-score")).to_have_text("strike score 1.0", timeout=WAIT)
        await expect(page.locator("#user-hits")).to_have_text("1 recent hit")
        await expect(page.locator("#user-step")).to_contain_text("→ note for the moderators")
        await expect(page.locator("#user-blocked")).to_have_text("not blocked")

        # strike +1: the score read again after the ack reaches the next step
        await page.click("#user-actions [data-user-act=strike]")
        await expect(page.locator("#user-score")).to_have_text("strike score 2.0", timeout=WAIT)
        await expect(page.locator("#user-step")).to_contain_text("→ hide from overlays")

        # block: the panel says so, and the next message arrives hidden
        await page.click("#user-actions [data-user-act=block]")
        await expect(page.locator("#user-blocked")).to_have_text(
            "blocked here by @mia: every message is hidden", timeout=WAIT
        )
        source.chat("troll", "bin wieder da")
        await expect(messages).to_have_count(3, timeout=WAIT)
        await expect(messages.nth(0)).to_contain_text("bin wieder da")
        await expect(messages.nth(0)).to_have_class("msg hidden", timeout=WAIT)
        await expect(messages.nth(0).locator(".label")).to_have_text("hidden")

        # unblock, then Escape closes the panel; another user's panel is their own
        await page.click("#user-actions [data-user-act=unblock]")
        await expect(page.locator("#user-blocked")).to_contain_text("not blocked", timeout=WAIT)
        await page.keyboard.press("Escape")
        await expect(panel).to_be_hidden()
        # the Watch tab lists the users with strikes; a name there opens the same panel
        await page.click(".tabs button[data-tab=watch-tab]")
        watched = page.locator("#watch .item")
        await expect(watched).to_have_count(1, timeout=WAIT)
        await expect(watched.locator(".who")).to_have_text("@troll")
        await expect(watched.locator(".count")).to_have_text("2.0")
        await watched.locator(".who").click()
        await expect(page.locator("#user-handle")).to_have_text("@troll")
        await page.keyboard.press("Escape")
        await page.click("#chat .who[data-handle=anna]")
        await expect(page.locator("#user-handle")).to_have_text("@anna")
        await expect(messages).to_have_count(1)
        await expect(page.locator("#user-score")).to_have_text("no strikes", timeout=WAIT)
        await page.close()
        actions = [(e["action"], e["target"], e["by"]) for e in await audit_of(srv)]
    assert actions == [("strike", "id-troll", "mia"), ("block", "id-troll", "mia"),
                       ("unblock", "id-troll", "mia")]


async def audit_of(srv: RunningServer) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=srv.base) as http:
        reply = await http.get("/api/audit", params={"token": TEST_CONSOLE_TOKEN})
    entries: list[dict[str, Any]] = reply.json()
    return entries


@pytest.mark.timeout(30)
async def test_observers_see_the_panel_without_command_buttons(browser: Browser) -> None:
    source = ScriptedSource(STREAM)
    settings = settings_for_tests(moderators=TEST_MODERATORS)
    async with running_server([source], settings=settings) as srv:
        page = await open_console(browser, srv, TEST_MODERATOR_TOKENS["otto"])
        await expect(page.locator("#me")).to_have_text("otto (observer)", timeout=WAIT)
        source.chat("anna", "hallo")
        await page.click("#chat .who[data-handle=anna]", timeout=WAIT)
        await expect(page.locator("#user-score")).to_have_text("no strikes", timeout=WAIT)
        await expect(page.locator("#user-messages .msg")).to_have_count(1)
        await expect(page.locator("#user-actions")).to_be_hidden()
        await page.click("#user-close")
        await expect(page.locator("#user-panel")).to_be_hidden()
        await page.close()
