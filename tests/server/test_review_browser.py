"""The review queue in real headless Chromium against the real server: two moderators at two
consoles and the chat overlay, as on a live stream.

Moderator A (lena) hides a message: it goes from B's (mia's) view and from the overlay. B
approves a held toxic message: it appears on the overlay only then, and the open count
goes down on both consoles. A console opened afterwards shows the same queue. Screenshots
go to ``$LIVEPILOT_SCREENSHOTS`` (default: the test's tmp dir) as ``review-*.png``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from livepilot.testing import (
    TEST_MODERATOR_TOKENS,
    TEST_MODERATORS,
    TEST_OVERLAY_KEY,
    ScriptedSource,
    running_server,
    settings_for_tests,
)

#: Page waits: generous for a loaded CI machine; a passing run takes a fraction of it.
WAIT = 15_000
VIEWPORT = {"width": 1440, "height": 900}
HIDDEN = re.compile(r"\bhidden\b")

CHAT = [
    ("anna", "Hallo zusammen, schöner Stream heute!"),       # demo-1: clean
    ("troll", "du hurensohn"),                               # demo-2: held by the rules
    ("ben", "Wie teuer ist das Set?"),                       # demo-3: a question
    ("carla", "Grüße aus Köln 👋"),                           # demo-4: clean
    ("troll2", "du bist so dumm"),                           # demo-5: flagged (model holds it)
]


#: Script errors on any page of the test (none expected).
ERRORS: list[str] = []


async def console(browser: Browser, base: str, token: str) -> Page:
    page = await browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
    page.on("pageerror", lambda exc: ERRORS.append(str(exc)))
    await page.goto(f"{base}/?token={token}")
    await expect(page.locator("#conn")).to_have_class("up", timeout=WAIT)
    return page


@pytest.mark.timeout(120)
async def test_two_moderators_work_the_review_queue_and_the_overlay_follows(
    browser: Browser, shots: Path
) -> None:
    out = shots
    source = ScriptedSource("demo")
    settings = settings_for_tests(moderators=TEST_MODERATORS)
    async with running_server([source], settings) as srv:
        a = await console(browser, srv.base, TEST_MODERATOR_TOKENS["lena"])
        b = await console(browser, srv.base, TEST_MODERATOR_TOKENS["mia"])
        overlay = await browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
        await overlay.goto(f"{srv.base}/overlay/chat?key={TEST_OVERLAY_KEY}")
        await overlay.wait_for_function("document.body.dataset.connected === '1'",
                                        timeout=WAIT)
        for user, text in CHAT:
            source.chat(user, text)

        # both consoles: the held and the flagged message are open items; the held one
        # never shows on the overlay
        for page in (a, b):
            await expect(page.locator("#flagged .review-item[data-id='demo-2']")).to_have_class(
                re.compile(r"\bheld\b"), timeout=WAIT)
            await expect(page.locator("#flagged .review-item[data-id='demo-5']")).to_be_visible(
                timeout=WAIT)
            await expect(page.locator("#review-open")).to_have_text("2", timeout=WAIT)
        await expect(overlay.locator("#m-demo-1")).to_be_visible(timeout=WAIT)
        await expect(overlay.locator("#m-demo-4")).to_be_visible(timeout=WAIT)
        await expect(overlay.locator("#m-demo-2")).to_have_count(0)
        await a.screenshot(path=str(out / "review-open.png"))

        # A hides a clean message from the chat list: gone from B's view and the overlay
        await a.locator("#chat .msg[data-id='demo-1'] button[data-act=hide]").click()
        await expect(b.locator("#chat .msg[data-id='demo-1']")).to_have_class(
            HIDDEN, timeout=WAIT)
        await expect(b.locator("#chat .msg[data-id='demo-1'] .state")).to_have_text(
            "hidden by lena", timeout=WAIT)
        await expect(b.locator("#handled .review-item[data-id='demo-1']")).to_contain_text(
            "hidden by lena", timeout=WAIT)
        await expect(overlay.locator("#m-demo-1")).to_have_count(0, timeout=WAIT)

        # B approves the held toxic message: it shows on the overlay only now, and the
        # open count goes down on both consoles
        assert await overlay.locator("#m-demo-2").count() == 0
        await b.locator("#flagged .review-item[data-id='demo-2'] button[data-act=approve]").click()
        await expect(overlay.locator("#m-demo-2")).to_be_visible(timeout=WAIT)
        for page in (a, b):
            await expect(page.locator("#review-open")).to_have_text("1", timeout=WAIT)
            await expect(page.locator("#flagged .review-item[data-id='demo-2']")).to_have_count(0)
            await expect(page.locator("#handled .review-item[data-id='demo-2']")).to_contain_text(
                "approved by mia", timeout=WAIT)
        await expect(a.locator("#chat .msg[data-id='demo-2'] .state")).to_have_text(
            "approved by mia")
        await b.screenshot(path=str(out / "review-handled.png"))

        # B hides the other flagged one from the queue: the queue is empty everywhere
        await b.locator("#flagged .review-item[data-id='demo-5'] button[data-act=hide]").click()
        await expect(a.locator("#review-open")).to_have_text("0", timeout=WAIT)
        await expect(a.locator("#review-empty")).to_be_visible()

        # a console opened now shows the same queue, read from the review view
        late = await console(browser, srv.base, TEST_MODERATOR_TOKENS["lena"])
        await expect(late.locator("#review-open")).to_have_text("0", timeout=WAIT)
        await expect(late.locator("#handled .review-item")).to_have_count(3, timeout=WAIT)
        await expect(late.locator("#handled .review-item").first).to_contain_text(
            "hidden by mia")
        await expect(late.locator("#chat .msg[data-id='demo-1']")).to_have_class(
            HIDDEN, timeout=WAIT)
        await late.screenshot(path=str(out / "review-late.png"))
        texts = await overlay.locator("#list .item").all_inner_texts()
        await overlay.screenshot(path=str(out / "review-overlay.png"))
        for page in (a, b, late, overlay):
            await page.close()
    shown = " ".join(texts)
    assert "du hurensohn" in shown and "Grüße aus Köln" in shown
    assert "schöner Stream" not in shown and "so dumm" not in shown
    assert ERRORS == []
