"""A message no model judged says so on the console, with the reason."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser

from livepilot.testing import TEST_CONSOLE_TOKEN, ScriptedSource, running_server


@pytest.mark.timeout(60)
async def test_an_unscored_message_shows_why_and_routine_ones_stay_quiet(
    browser: Browser,
) -> None:
    source = ScriptedSource("nsc")
    async with running_server([source]) as srv:
        page = await browser.new_page(viewport={"width": 1440, "height": 900})
        await page.goto(f"{srv.base}/?token={TEST_CONSOLE_TOKEN}")
        await page.wait_for_selector("#conn.up", timeout=10_000)
        source.chat("lena", "hallo zusammen, wie geht es euch heute")
        source.chat("bot", "wort " * 400)  # over the model's length limit
        source.chat("emo", "❤️❤️❤️")  # nothing to judge: routine, no badge
        await page.wait_for_selector(".label.not-scored", timeout=15_000)
        badges = await page.eval_on_selector_all(
            "#chat .msg", "rows => rows.map(r => [r.querySelector('.text').textContent,"
            " [...r.querySelectorAll('.label.not-scored')].map(b => b.textContent)])",
        )
        by_text = {text.split()[0] if text.split() else text: b for text, b in badges}
        assert by_text["wort"] == ["not scored: too long"], badges
        assert by_text["hallo"] == [], badges
        assert all(b == [] for text, b in badges if "❤" in text), badges
