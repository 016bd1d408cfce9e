"""The console under a burst of chat, in real headless Chromium against the real server:
the page is written in batches (one write frame at most every 100 ms, whatever the
message rate, and a backlog worked off in bounded slices), the chat stays bounded and
follows the newest, questions reach their list, and the header's pulse counts the chat.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, expect

from livepilot.testing import TEST_CONSOLE_TOKEN, ScriptedSource, chromium, running_server

WAIT = 15_000
STREAM = "live"
BURST = 400
#: console-state.js: CHAT_ROWS + CHAT_SLACK, the most chat rows on the page at once.
MOST_ROWS = 200

#: Records, before the page's scripts run, in which frame the chat, the questions list and
#: the review queue were written: one entry per MutationObserver callback (each task that
#: wrote), the animation frame's time (``document.timeline``), which a write outside a
#: frame shares with the frame before it.
WATCH = """
window.__writes = [];
document.addEventListener("DOMContentLoaded", () => {
  const seen = new MutationObserver(
    () => window.__writes.push(document.timeline.currentTime));
  for (const id of ["chat", "questions", "flagged"]) {
    seen.observe(document.getElementById(id), {childList: true, subtree: true,
                                               characterData: true, attributes: true});
  }
});
"""


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@pytest.mark.timeout(180)
async def test_a_burst_of_chat_is_written_in_batches_and_stays_bounded(browser: Browser) -> None:
    errors: list[str] = []
    source = ScriptedSource(STREAM)
    async with running_server([source]) as srv:
        context = await browser.new_context(locale="en-US",
                                            viewport={"width": 1440, "height": 900})
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.add_init_script(WATCH)
        await page.goto(f"{srv.base}/?token={TEST_CONSOLE_TOKEN}")
        await expect(page.locator("#conn")).to_have_class("up", timeout=WAIT)
        await page.mouse.move(5, 5)  # off the chat: it follows the newest
        await page.evaluate("window.__writes = []")

        for i in range(BURST):
            if i % 50 == 7:
                source.chat(f"asker{i}", f"Wie teuer ist das Set Nummer {i}?")
            elif i % 100 == 13:
                source.chat(f"troll{i}", "du hurensohn")
            else:
                source.chat(f"viewer{i}", f"Hallo aus Stadt {i}, Nummer {i}")
        rows = page.locator("#chat .msg[data-id]")
        await expect(rows.last).to_contain_text(f"Nummer {BURST - 1}", timeout=WAIT)
        await expect(page.locator("#questions .msg")).to_have_count(BURST // 50, timeout=WAIT)
        await expect(page.locator("#flagged .review-item", has_text="hurensohn").first
                     ).to_be_visible(timeout=WAIT)

        # bounded, and the newest row is in view
        assert await rows.count() <= MOST_ROWS
        at_bottom = await page.evaluate(
            "(() => { const c = document.getElementById('chat');"
            " return c.scrollTop + c.clientHeight >= c.scrollHeight - 30; })()")
        assert at_bottom

        # every write of the chat, the questions and the review queue happened in the
        # page's write frame, one frame interval (100 ms) apart, however many socket
        # messages the burst took — or, while a backlog is worked off in slices, 50 ms apart
        # (a frame's time may precede the timer that asked for it by up to one display
        # frame, 17 ms: hence 30 and 70), one slice of at most CHUNK new rows and CHUNK
        # redrawn rows a frame (400 rows and their 400 verdicts: at most 2 × 400 / 12
        # catching-up frames), never one frame a message.
        writes: list[float] = await page.evaluate("window.__writes")
        assert len(writes) >= 2
        gaps = [b - a for a, b in itertools.pairwise(writes)]
        assert min(gaps) >= 30, sorted(gaps)[:5]
        catching_up = [g for g in gaps if g < 70]
        assert len(catching_up) <= 2 * BURST // 12, sorted(gaps)[:10]

        # the pulse counts the chat of the last minute
        await expect(page.locator("#pulse [data-series=chat] .now")).to_have_text(
            re.compile(r"^(4\d\d|[1-9]\.\dk)$"), timeout=WAIT)
        await context.close()
    assert errors == []
