"""Overlays that come back, in a real headless Chromium against the real server: the goal
bar of the running run-of-show segment survives an OBS reload, and the alerts that came
while the alert overlay was away are shown after it is back — once, in order, above the
threshold — while a reload repeats nothing and a new source shows nothing old.

Every wait is for what the page shows. Screenshots of both overlays over a bright and a
dark scene go to ``LIVEPILOT_ARTEFACTS`` (default: a folder in the system's temp
directory), never into the repository.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from tests.server.conftest import connected, open_overlay, send_command, shoot

from livepilot.testing import (
    TEST_HOST_KEY,
    TEST_OVERLAY_KEY,
    EventFactory,
    FakeClock,
    RunningServer,
    ScriptedSource,
    running_server,
    settings_for_tests,
)

STREAM = "show"
WAIT = 15_000  # ms; generous for a loaded machine, a passing run takes a fraction

PLAN = """
segments:
  - name: Intro
    minutes: 5
    goal: {metric: likes, target: 100, label: "100 Herzen für den Start"}
  - name: Plaudern
    minutes: 5
"""

#: Records every alert the page shows, in order; and lets a test take the page offline:
#: while ``window.__offline`` is true every new socket goes to a closed port and fails, so
#: the page keeps retrying as it would through a network outage.
INIT = r"""
window.__alerts = [];
new MutationObserver((changes) => {
  for (const c of changes) for (const n of c.addedNodes)
    if (n.dataset && n.dataset.alert) window.__alerts.push(n.innerText.replace(/\s+/g, " ").trim());
}).observe(document, {childList: true, subtree: true});
window.__sockets = [];
window.__offline = false;
const Native = window.WebSocket;
window.WebSocket = function (url, ...rest) {
  const s = new Native(window.__offline ? "ws://127.0.0.1:9/offline" : url, ...rest);
  window.__sockets.push(s); return s;
};
window.WebSocket.prototype = Native.prototype;
"""


async def overlay(browser: Browser, base: str, name: str, query: str = "",
                  key: str = TEST_OVERLAY_KEY) -> Page:
    return await open_overlay(browser, base, name, stream=STREAM, query=query, key=key,
                              init=INIT, height=300, wait=WAIT)


async def command(srv: RunningServer, action: str, **args: object) -> None:
    await send_command(srv.base, STREAM, action, **args)


@pytest.mark.timeout(90)
async def test_the_segment_goal_bar_survives_a_reload(browser: Browser, tmp_path: Path) -> None:
    plan = tmp_path / "show.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    source = ScriptedSource(STREAM)
    make = EventFactory(FakeClock(time.time()), stream=STREAM)
    async with running_server([source], settings_for_tests(run_of_show=plan)) as srv:
        goal = await overlay(browser, srv.base, "goal")
        fixed = await overlay(browser, srv.base, "goal", "&target=1000&metric=likes")
        host = await overlay(browser, srv.base, "prompts", key=TEST_HOST_KEY)
        bar = goal.locator("#goal")
        await expect(bar).to_be_hidden()  # no segment goal running: nothing on stream
        source.feed(make.like("anna", 50))  # before the segment: not the segment's
        await expect(fixed.locator(".value")).to_have_text("❤️ 50 / 1.000", timeout=WAIT)

        await command(srv, "segment_start", segment="Intro")
        await expect(bar).to_be_visible(timeout=WAIT)
        await expect(bar.locator(".title")).to_have_text("100 Herzen für den Start")
        await expect(bar.locator(".value")).to_have_text("❤️ 0 / 100", timeout=WAIT)
        source.feed(make.like("ben", 60))
        await expect(bar.locator(".value")).to_have_text("❤️ 60 / 100", timeout=WAIT)

        await goal.reload()  # OBS refreshes the source mid-segment: the same bar
        await connected(goal, WAIT)
        await expect(bar.locator(".value")).to_have_text("❤️ 60 / 100", timeout=WAIT)
        await expect(bar.locator(".title")).to_have_text("100 Herzen für den Start")
        await expect(bar).not_to_have_class("item goal reached")
        await shoot(goal, "goal-segment-60")

        source.feed(make.like("cara", 45))
        await expect(bar.locator(".value")).to_have_text("❤️ 105 / 100", timeout=WAIT)
        await expect(bar).to_have_class("item goal reached")
        # a URL target wins: that page counts the whole stream
        await expect(fixed.locator(".value")).to_have_text("❤️ 155 / 1.000", timeout=WAIT)
        cheer = host.locator(".prompt", has_text="Ziel erreicht")
        await expect(cheer).to_have_text(
            "Ziel erreicht: 105 Likes in „Intro“ – bedank dich beim Chat!", timeout=WAIT)
        await shoot(goal, "goal-segment-reached")
        source.feed(make.like("dora", 10))
        await expect(bar.locator(".value")).to_have_text("❤️ 115 / 100", timeout=WAIT)
        await expect(cheer).to_have_count(1)  # once

        await command(srv, "segment_next")  # a segment without a goal: the bar goes
        await expect(bar).to_be_hidden(timeout=WAIT)
        await goal.reload()
        await connected(goal, WAIT)
        await expect(bar).to_be_hidden()
        for theme in ("dark", "light"):  # the goal bar as OBS shows it, for a look
            await command(srv, "segment_start", segment="Intro")
            page = await overlay(browser, srv.base, "goal", f"&theme={theme}")
            source.feed(make.like("emil", 64))
            await expect(page.locator("#goal .value")).to_have_text("❤️ 64 / 100",
                                                                    timeout=WAIT)
            await page.wait_for_timeout(400)  # the bar's width transition
            await shoot(page, f"goal-{theme}")
            await page.close()


@pytest.mark.timeout(120)
async def test_alerts_missed_while_away_play_once_in_order_after_the_reconnect(
    browser: Browser,
) -> None:
    source = ScriptedSource(STREAM)
    make = EventFactory(FakeClock(time.time()), stream=STREAM)
    async with running_server([source]) as srv:
        page = await overlay(browser, srv.base, "alerts", "&min=5&duration=1")
        stats = await overlay(browser, srv.base, "stats")
        source.feed(make.gift("anna", "Lion", diamonds=10))
        await page.wait_for_function("window.__alerts.length === 1", timeout=WAIT)

        # The network goes: the socket drops and reconnecting fails for now.
        await page.evaluate("window.__offline = true; window.__sockets.at(-1).close()")
        await page.wait_for_function("document.body.dataset.connected === '0'", timeout=WAIT)
        source.feed(
            make.gift("rosa", "Rose", diamonds=1),  # below ?min=5: never shown
            make.gift("ben", "Lion", diamonds=29_999),
            make.follow("cara"),
            make.gift("dora", "Rose", diamonds=1, count=3, streak="d1", final=False),
            make.gift("dora", "Rose", diamonds=1, count=7, streak="d1", final=True),
        )
        # the server has them all (the stats overlay counted them) while the page is away
        await expect(stats.locator("[data-k=diamonds]")).to_have_text("30.017", timeout=WAIT)
        assert await page.evaluate("document.body.dataset.connected") == "0"
        await page.evaluate("window.__offline = false")  # back: the next retry connects
        await page.wait_for_function("window.__alerts.length >= 4", timeout=WAIT)
        source.feed(make.follow("emil"))  # live again, after the replayed ones
        await page.wait_for_function(
            "window.__alerts.length >= 5 && document.body.dataset.queued === '0'"
            " && !document.querySelector('.alert')", timeout=WAIT)
        assert await page.evaluate("window.__alerts") == [
            "Anna schickt Lion · 💎 10",
            "Ben schickt Lion · 💎 29.999",
            "Cara folgt jetzt ❤️",
            "Dora schickt Rose ×7 · 💎 7",
            "Emil folgt jetzt ❤️",
        ]

        # An OBS reload repeats nothing it already showed ...
        await page.reload()
        await connected(page, WAIT)
        source.feed(make.gift("fritz", "Lion", diamonds=29_999))
        await page.wait_for_function("window.__alerts.length >= 1", timeout=WAIT)
        await page.wait_for_function(
            "document.body.dataset.queued === '0' && !document.querySelector('.alert')",
            timeout=WAIT)
        assert await page.evaluate("window.__alerts") == ["Fritz schickt Lion · 💎 29.999"]

        # ... but what came while it was reloading does play: the page is not loaded
        # between goto and the new page's connection, so feed while it is away.
        await page.evaluate("window.__offline = true; window.__sockets.at(-1).close()")
        await page.wait_for_function("document.body.dataset.connected === '0'", timeout=WAIT)
        source.feed(make.follow("gina"))
        await expect(stats.locator("[data-k=diamonds]")).to_have_text("60.016", timeout=WAIT)
        await page.reload()
        await connected(page, WAIT)
        await page.wait_for_function("window.__alerts.length >= 1", timeout=WAIT)
        assert await page.evaluate("window.__alerts") == ["Gina folgt jetzt ❤️"]

        # A new source (a new OBS browser, nothing remembered) shows nothing from before.
        fresh = await overlay(browser, srv.base, "alerts", "&min=5&duration=30")
        source.feed(make.gift("hans", "Lion", diamonds=29_999))
        await fresh.wait_for_selector(".alert", timeout=WAIT)
        assert await fresh.evaluate("window.__alerts") == ["Hans schickt Lion · 💎 29.999"]
        await shoot(fresh, "alerts-default")
        for theme in ("dark", "light"):
            shot = await overlay(browser, srv.base, "alerts", f"&duration=30&theme={theme}")
            source.feed(make.gift("ömer_ßtraße", "Perfume", diamonds=20, count=3))
            await shot.wait_for_selector(".alert", timeout=WAIT)
            await shot.wait_for_timeout(400)  # the card's entry animation
            await shoot(shot, f"alerts-{theme}")
            await shot.close()
