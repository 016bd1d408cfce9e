"""The console and an overlay in a real headless Chromium, against the real server."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser

from livepilot.events import LiveEvent
from livepilot.sources.simulator import Simulator
from livepilot.testing import (
    TEST_CONSOLE_TOKEN,
    TEST_HOST_KEY,
    TEST_OVERLAY_KEY,
    running_server,
)


class SlowSimulator:
    """A busy simulated stream paced so a browser sees it arrive live."""

    def __init__(self) -> None:
        self.stream = "demo"
        self._sim = Simulator("demo", seed=21, speed=60)

    async def events(self) -> AsyncIterator[LiveEvent]:
        async for event in self._sim.events():
            yield event


@pytest.mark.timeout(90)
async def test_console_page_fills_with_judged_chat(browser: Browser, tmp_path: Path) -> None:
    async with running_server([SlowSimulator()]) as srv:
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        await page.goto(f"{srv.base}/?token={TEST_CONSOLE_TOKEN}")
        await page.wait_for_selector("#conn.up", timeout=10_000)
        await page.wait_for_function(
            "document.querySelectorAll('#chat .msg').length > 40", timeout=30_000
        )
        await page.wait_for_selector("#chat .label.question", timeout=30_000)
        await page.wait_for_selector("#flagged .msg", timeout=30_000)
        await page.screenshot(
            path=os.environ.get("LIVEPILOT_SCREENSHOT", str(tmp_path / "console.png"))
        )
        rows = await page.locator("#chat .msg:not(.other)").count()
        flagged_text = await page.locator("#flagged").inner_text()
        assert rows > 20
        assert flagged_text.strip()
        # two stages saying the same ("toxic:insult" from the filter and the model) is one badge
        badges = await page.eval_on_selector_all(
            "#chat .msg", "rows => rows.map(r => [...r.querySelectorAll('.label')]"
            ".map(b => b.textContent).filter(t => !t.startsWith('tox ')))",
        )
        assert all(len(b) == len(set(b)) for b in badges), badges
        # a moderator hides a message: the command travels the bus and the row is audited.
        # The newest row (at the bottom): the oldest ones leave the page as chat arrives,
        # and pointing at the chat pauses it, so the newest row holds still.
        await page.locator("#chat .msg:not(.other) button[data-act=hide]").last.click()
        await page.close()
        async with httpx.AsyncClient(base_url=srv.base) as http:
            for _ in range(100):
                audit = (await http.get("/api/audit", params={"token": TEST_CONSOLE_TOKEN})).json()
                if audit:
                    break
                await asyncio.sleep(0.05)
        assert audit and audit[0]["action"] == "hide" and audit[0]["by"] == "console"


@pytest.mark.timeout(90)
async def test_chat_overlay_shows_clean_chat_only(browser: Browser) -> None:
    async with running_server([SlowSimulator()]) as srv:
        page = await browser.new_page()
        await page.goto(f"{srv.base}/overlay/chat?key={TEST_OVERLAY_KEY}")
        await page.wait_for_function(
            "document.querySelectorAll('#list .item').length >= 5", timeout=30_000
        )
        texts = await page.locator("#list .item").all_inner_texts()
        background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
        await page.close()
    assert len(texts) <= 8
    assert not any("hurensohn" in t.lower() or "wichser" in t.lower() for t in texts)
    assert background in ("rgba(0, 0, 0, 0)", "transparent")


@pytest.mark.timeout(90)
async def test_host_prompts_reach_the_host_screen_and_never_the_public_overlay(
    browser: Browser,
) -> None:
    async with running_server([SlowSimulator()]) as srv:
        host = await browser.new_page()
        await host.goto(f"{srv.base}/overlay/host?key={TEST_HOST_KEY}")
        public = await browser.new_page()
        await public.goto(f"{srv.base}/overlay/all?key={TEST_OVERLAY_KEY}")
        await host.wait_for_selector("#list .prompt", timeout=45_000)
        await public.wait_for_selector("#list .item", timeout=10_000)
        prompt = await host.locator("#list .prompt").first.inner_text()
        shown = await public.content()
        await host.close()
        await public.close()
    assert len(prompt) > 5 and prompt not in shown
    assert "prompt" not in shown.split("<script", 1)[0]  # no prompt element on stream
