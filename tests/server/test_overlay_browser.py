"""The OBS overlays in a real headless Chromium against the real server: the state an
overlay rebuilds from after a reload or a reconnect (also across a server restart), public
overlays that never show a host prompt, and the alert queue.

Every wait is for what the page shows, never for a fixed time. Screenshots of every overlay
over a bright and a dark scene go to ``LIVEPILOT_ARTEFACTS`` (default: a folder in the
system's temp directory), never into the repository.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect
from tests.server.conftest import artefacts, connected, open_overlay, send_command, shoot
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from livepilot.insights import Prompt
from livepilot.settings import Settings
from livepilot.testing import (
    TEST_CONSOLE_TOKEN,
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
PLAN = Path(__file__).resolve().parents[2] / "rules" / "run-of-show.yaml"
WAIT = 10_000  # ms; generous for a loaded machine, a passing run takes a fraction

#: Keeps every WebSocket the page opens, so a test can drop one as a network would.
KEEP_SOCKETS = """
window.__sockets = [];
const Native = window.WebSocket;
window.WebSocket = function (...args) {
  const s = new Native(...args); window.__sockets.push(s); return s;
};
window.WebSocket.prototype = Native.prototype;
"""

#: Records every alert the page shows, in order.
RECORD_ALERTS = r"""
window.__alerts = [];
new MutationObserver((changes) => {
  for (const c of changes) for (const n of c.addedNodes)
    if (n.dataset && n.dataset.alert) window.__alerts.push(n.innerText.replace(/\s+/g, " ").trim());
}).observe(document, {childList: true, subtree: true});
"""


def maker() -> EventFactory:
    return EventFactory(FakeClock(time.time()), stream=STREAM)


async def overlay(browser: Browser, base: str, name: str, query: str = "",
                  key: str = TEST_OVERLAY_KEY, init: str = "") -> Page:
    return await open_overlay(browser, base, name, stream=STREAM, query=query, key=key,
                              init=init, wait=WAIT)


async def command(srv: RunningServer, action: str, **args: Any) -> None:
    await send_command(srv.base, STREAM, action, **args)


def prompt(text: str, n: int = 1, priority: int = 1) -> Prompt:
    now = time.time()
    return Prompt(id=f"{STREAM}:prompt:{n}", stream=STREAM, source="engagement", at=now,
                  text=text, priority=priority, expires_at=now + 120)


@pytest.mark.timeout(60)
async def test_a_reloaded_overlay_shows_the_stream_as_it_stands(browser: Browser) -> None:
    source, make = ScriptedSource(STREAM), maker()
    async with running_server([source]) as srv:
        stats = await overlay(browser, srv.base, "stats")
        poll = await overlay(browser, srv.base, "poll")
        source.feed(make.gift("anna", "Rose", diamonds=1, count=5),
                    make.gift("ben", "Lion", diamonds=29_999))
        diamonds = stats.locator("[data-k=diamonds]")
        await expect(diamonds).to_have_text("30.004", timeout=WAIT)
        await command(srv, "poll_start", question="Welche Farbe?", options=["Blau", "Rot"])
        await expect(poll.locator(".tally.poll .bar")).to_have_count(2, timeout=WAIT)
        source.feed(make.chat("cara", "1"), make.chat("dora", "1"), make.chat("emil", "2"))
        await expect(poll.locator(".tally.poll .meta")).to_contain_text("3 Stimmen", timeout=WAIT)
        await command(srv, "poll_close")
        await expect(poll.locator(".tally.poll.closed")).to_have_count(1, timeout=WAIT)

        # OBS refreshes its sources: nothing is "since the page opened"
        await stats.reload()
        await poll.reload()
        await expect(diamonds).to_have_text("30.004", timeout=WAIT)
        closed = poll.locator(".tally.poll")
        await expect(closed).to_have_class("item tally poll closed", timeout=WAIT)
        await expect(closed.locator(".bar.win .label")).to_have_text("1 · Blau")
        await expect(closed.locator(".meta")).to_contain_text("Ergebnis")
        source.feed(make.gift("anna", "Rose", diamonds=1, count=10))
        await expect(diamonds).to_have_text("30.014", timeout=WAIT)  # counting on


@pytest.mark.timeout(60)
async def test_public_overlays_never_show_a_host_prompt(browser: Browser) -> None:
    source, make = ScriptedSource(STREAM), maker()
    async with running_server([source]) as srv:
        public = await overlay(browser, srv.base, "all")
        host = await overlay(browser, srv.base, "host", key=TEST_HOST_KEY)
        secret = "Raid/Bot-Welle erkannt – nicht vorlesen"
        await srv.bus.publish([prompt(secret, priority=3), prompt("Begrüße die neuen", 2)])
        source.feed(make.chat("anna", "hallo zusammen"))
        await expect(host.locator(".prompt").first).to_have_text(secret, timeout=WAIT)
        await expect(host.locator(".prompt")).to_have_count(2)  # most important first
        await expect(public.locator("#list")).to_contain_text("hallo zusammen", timeout=WAIT)
        await public.reload()  # the snapshot holds no prompt either
        await expect(public.locator("#list")).to_contain_text("hallo zusammen", timeout=WAIT)
        assert "nicht vorlesen" not in await public.content()
        assert "Begrüße" not in await public.content()

        # the public key opens no backstage overlay, on either door
        async with httpx.AsyncClient(base_url=srv.base) as http:
            page = await http.get("/overlay/host", params={"key": TEST_OVERLAY_KEY})
            assert page.status_code == 403 and "host key" in page.json()["detail"]
            assert (await http.get("/overlay/prompts", params={"key": TEST_HOST_KEY})).is_success
            # the preview page lists every overlay, for console users only
            refused = await http.get("/overlays", params={"key": TEST_OVERLAY_KEY})
            assert refused.status_code == 401
            preview = await http.get("/overlays", params={"token": TEST_CONSOLE_TOKEN})
            assert preview.is_success and '"spotlight", "public"' in preview.text
        url = f"{srv.ws}/ws/overlay/prompts?key={TEST_OVERLAY_KEY}"
        async with connect(url, compression=None) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


@pytest.mark.timeout(60)
async def test_alerts_play_one_at_a_time_above_the_threshold(browser: Browser) -> None:
    source, make = ScriptedSource(STREAM), maker()
    async with running_server([source]) as srv:
        page = await overlay(browser, srv.base, "alerts", "&min=5&duration=1",
                             init=RECORD_ALERTS)
        source.feed(
            make.gift("rosa", "Rose", diamonds=1),  # below the threshold
            make.gift("anna", "Rose", diamonds=1, count=2, streak="s1", final=False),
            make.gift("anna", "Rose", diamonds=1, count=5, streak="s1", final=True),
            make.gift("ben", "Lion", diamonds=29_999),
            make.follow("cara"),
        )
        await page.wait_for_function("window.__alerts.length >= 3", timeout=WAIT)
        assert await page.locator(".alert").count() == 1  # one at a time
        await page.wait_for_function(
            "document.body.dataset.queued === '0' && !document.querySelector('.alert')",
            timeout=WAIT)
        shown = await page.evaluate("window.__alerts")
    assert len(shown) == 3, shown
    assert shown[0] == "Anna schickt Rose ×5 · 💎 5"  # the streak, once, with its total
    assert shown[1] == "Ben schickt Lion · 💎 29.999"
    assert shown[2] == "Cara folgt jetzt ❤️"
    assert not any("Rosa" in s for s in shown)  # one diamond: below ?min=5


@pytest.mark.timeout(60)
async def test_the_spotlight_shows_what_a_moderator_pinned(browser: Browser) -> None:
    source, make = ScriptedSource(STREAM), maker()
    question, rude = make.chat("anna", "Was kostet das Set?"), make.chat("troll", "du hurensohn")
    async with running_server([source]) as srv:
        page = await overlay(browser, srv.base, "spotlight")
        source.feed(question, rude)
        auth = {"Authorization": f"Bearer {TEST_CONSOLE_TOKEN}"}
        async with httpx.AsyncClient(base_url=srv.base, headers=auth) as http:

            async def pin(action: str, target: str) -> None:
                reply = await http.post("/api/commands", json={
                    "stream": STREAM, "action": action, "target": target, "by": "mia"})
                assert reply.status_code == 202, reply.text

            await asyncio.sleep(0.5)  # both messages judged (the page has nothing to wait on)
            await pin("pin", rude.id)  # held by the word filter: never goes on screen
            await pin("pin", question.id)
            spot = page.locator(".spotlight")
            await expect(spot).to_contain_text("Was kostet das Set?", timeout=WAIT)
            await expect(spot.locator(".who")).to_have_text("Anna")
            await page.reload()  # an OBS reload keeps it
            await expect(spot).to_contain_text("Was kostet das Set?", timeout=WAIT)
            assert "hurensohn" not in await page.content()
            await pin("unpin", question.id)
            await expect(spot).to_have_count(0, timeout=WAIT)


@pytest.mark.timeout(60)
async def test_the_host_screen_shows_the_segment_with_its_timer(browser: Browser) -> None:
    source = ScriptedSource(STREAM)
    async with running_server([source], settings_for_tests(run_of_show=PLAN)) as srv:
        page = await overlay(browser, srv.base, "host", key=TEST_HOST_KEY)
        await command(srv, "segment_start")
        show = page.locator("#show")
        await expect(show.locator(".name")).to_have_text("Segment 1: Begrüßung", timeout=WAIT)
        await expect(show.locator(".timer")).to_have_text(re.compile(r"^[45]:\d\d noch$"),
                                                          timeout=WAIT)
        await expect(show.locator(".next")).to_have_text("Danach: Thema")
        # the segment's prompt is there too, larger than the public overlays' text
        await expect(page.locator("#list .prompt").first).to_contain_text("Begrüßung",
                                                                          timeout=WAIT)
        size = await page.evaluate(
            "parseFloat(getComputedStyle(document.querySelector('#show .timer')).fontSize)")
        assert size >= 60  # readable across a room
        async with httpx.AsyncClient(base_url=srv.base) as http:
            public = await http.get(f"/overlay-show/{STREAM}", params={"key": TEST_OVERLAY_KEY})
            assert public.status_code == 403  # talking points are backstage


# -- reconnects, also across a server restart ---------------------------------------------


@contextlib.asynccontextmanager
async def server_at(port: int, sources: list[Any], settings: Settings) -> AsyncIterator[str]:
    """The real app on a fixed port, so a page can reconnect to a restarted server."""
    import uvicorn

    from livepilot.bus import create_bus
    from livepilot.metrics import Metrics
    from livepilot.server.app import create_app
    from livepilot.service import StreamService

    metrics = Metrics()
    bus = create_bus(settings, metrics)
    service = StreamService(settings, bus, metrics)
    for source in sources:
        service.add(source)
    app = create_app(settings, bus=bus, metrics=metrics, service=service)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning",
                                           ws_per_message_deflate=False, lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(250):
        if server.started:
            break
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        sock.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def chat_lines(page: Page) -> list[str]:
    return await page.locator("#list .item").evaluate_all(
        "items => items.map(i => i.textContent)")


@pytest.mark.timeout(90)
async def test_chat_and_stats_survive_a_dropped_socket_and_a_server_restart(
    browser: Browser, redis_settings: Settings,
) -> None:
    port, make = free_port(), maker()
    source = ScriptedSource(STREAM)
    expected: list[str] = []

    def say(*texts: str) -> None:
        for text in texts:
            source.feed(make.chat("anna", text))
            expected.append("Anna" + text)

    async with server_at(port, [source], redis_settings) as base:
        chat = await overlay(browser, base, "chat", "&max=50", init=KEEP_SOCKETS)
        stats = await overlay(browser, base, "stats")
        say("eins", "zwei", "drei")
        source.feed(make.gift("ben", "Lion", diamonds=29_999))
        await expect(chat.locator("#list .item")).to_have_count(3, timeout=WAIT)
        await expect(stats.locator("[data-k=diamonds]")).to_have_text("29.999", timeout=WAIT)

        # the network drops the chat socket; the stream goes on meanwhile
        await chat.evaluate("window.__sockets.at(-1).close()")
        say("vier")
        await chat.wait_for_function(
            "window.__sockets.length === 2 && document.body.dataset.connected === '1'",
            timeout=WAIT)
        say("fünf")
        await expect(chat.locator("#list .item")).to_have_count(5, timeout=WAIT)
        assert await chat_lines(chat) == expected

    # the server restarts (same port, same Redis log): both pages reconnect on their own
    source = ScriptedSource(STREAM)
    async with server_at(port, [source], redis_settings):
        await connected(chat, WAIT)
        say("sechs")
        source.feed(make.gift("cara", "Rose", diamonds=1, count=3))
        await expect(chat.locator("#list .item")).to_have_count(6, timeout=WAIT)
        assert await chat_lines(chat) == expected  # no gap, no duplicate
        await expect(stats.locator("[data-k=diamonds]")).to_have_text("30.002", timeout=WAIT)


# -- how they look -----------------------------------------------------------------------

@pytest.mark.timeout(120)
async def test_screenshots_of_every_overlay_on_a_bright_and_a_dark_scene(
    browser: Browser,
) -> None:
    source, make = ScriptedSource(STREAM), maker()
    folder = artefacts()
    async with running_server([source], settings_for_tests(run_of_show=PLAN)) as srv:
        await command(srv, "segment_start")
        source.feed(make.viewers(1431), make.like("anna", 250),
                    make.gift("anna", "Rose", diamonds=1, count=12),
                    make.gift("ben", "Lion", diamonds=29_999),
                    make.gift("ömer_ßtraße", "Perfume", diamonds=20, count=3),
                    make.follow("cara"))
        for i, text in enumerate(["Hallo aus München! 👋", "Was kostet das Set?",
                                  "Ich finde die Farbe richtig schön", "Grüße an alle 🎉"]):
            source.feed(make.chat(f"zuschauer{i}", text))
        await command(srv, "poll_start", question="Welche Farbe als Nächstes?",
                      options=["Blau", "Rot", "Grün"])
        source.feed(make.chat("x1", "1"), make.chat("x2", "1"), make.chat("x3", "3"))
        await srv.bus.publish([prompt("Danke @ben für den Lion!", 1, 2),
                               prompt("3 Leute fragen nach dem Preis", 2, 1)])
        async with httpx.AsyncClient(base_url=srv.base) as http:
            await asyncio.sleep(0.5)
            auth = {"Authorization": f"Bearer {TEST_CONSOLE_TOKEN}"}
            await http.post("/api/commands", headers=auth, json={
                "stream": STREAM, "action": "pin", "target": f"{STREAM}-8", "by": "mia"})
        pages = {
            "chat": "", "alerts": "&duration=30", "stats": "", "poll": "",
            "leaderboard": "", "goal": "&metric=diamonds&target=50000", "all": "",
            "spotlight": "",
            "prompts": "", "host": "",
        }
        for name, query in pages.items():
            key = TEST_HOST_KEY if name in ("prompts", "host") else TEST_OVERLAY_KEY
            for theme in ("dark", "light"):
                page = await overlay(browser, srv.base, name, f"{query}&theme={theme}", key=key)
                if name == "alerts":
                    source.feed(make.gift("ben", "Lion", diamonds=29_999))
                    await page.wait_for_selector(".alert", timeout=WAIT)
                else:
                    await page.wait_for_timeout(600)  # let the entry animations finish
                await shoot(page, f"{name}-{theme}")
                await page.close()
    shots = sorted(folder.glob("*.png"))
    assert len(shots) >= len(pages) * 4
