"""The console as moderators work it, in real headless Chromium against the real server:
the chat that holds still under the pointer, the review queue by keyboard, German and
English from one catalogue, who else is moderating, and a reconnect that shows nothing
twice. Screenshots (German, three window sizes) go to ``$LIVEPILOT_SCREENSHOTS`` (default:
the test's tmp dir) as ``console-de-*.png``.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, WebSocketRoute, expect
from tests.server.conftest import open_console as console_page

from livepilot.testing import (
    TEST_CONSOLE_TOKEN,
    TEST_MODERATOR_TOKENS,
    TEST_MODERATORS,
    ScriptedSource,
    running_server,
    settings_for_tests,
)

WAIT = 15_000
STREAM = "live"


ERRORS: list[str] = []


async def open_console(
    browser: Browser, base: str, token: str = TEST_CONSOLE_TOKEN, *, locale: str = "en-US",
    width: int = 1440, height: int = 900,
) -> Page:
    return await console_page(browser, base, token, errors=ERRORS, locale=locale,
                              width=width, height=height, wait=WAIT)


def chat_rows(page: Page) -> Any:
    return page.locator("#chat .msg[data-id]")


WORDS = ["Hallo", "Servus", "Moin", "Grüezi", "Hi", "Tach", "Guten Abend", "Na"]


def say(source: ScriptedSource, first: int, last: int) -> None:
    for i in range(first, last):
        source.chat(f"viewer{i}", f"{WORDS[i % len(WORDS)]} aus Stadt {i}, Nummer {i}")


@pytest.mark.timeout(120)
async def test_chat_holds_still_under_the_pointer_and_counts_what_waits(browser: Browser) -> None:
    ERRORS.clear()
    source = ScriptedSource(STREAM)
    async with running_server([source]) as srv:
        page = await open_console(browser, srv.base)
        say(source, 0, 3)
        await expect(chat_rows(page)).to_have_count(3, timeout=WAIT)

        # the pointer on the chat: new rows wait off the page, a bar counts them
        await page.hover("#chat .msg[data-id] >> nth=0")
        await expect(page.locator("#chat-panel")).to_have_class(re.compile(r"\bpaused\b"))
        say(source, 3, 8)
        await expect(page.locator("#chat-more")).to_have_text("5 new messages ↓", timeout=WAIT)
        assert await chat_rows(page).count() == 3
        # the pointer leaves: they come in, newest at the bottom
        await page.mouse.move(5, 5)
        await expect(chat_rows(page)).to_have_count(8, timeout=WAIT)
        await expect(page.locator("#chat-more")).to_be_hidden()
        await expect(chat_rows(page).last).to_contain_text("Nummer 7")

        # scrolled up: paused too; the bar brings the moderator back to the newest
        say(source, 8, 70)
        await expect(chat_rows(page)).to_have_count(70, timeout=WAIT)
        await page.hover("#chat .msg[data-id] >> nth=-1")
        await page.mouse.wheel(0, -3000)
        await page.wait_for_function("document.getElementById('chat').scrollTop < 50")
        await page.mouse.move(5, 5)  # off the chat, but scrolled up: still paused
        await expect(page.locator("#chat-panel")).to_have_class(re.compile(r"\bpaused\b"))
        say(source, 70, 72)
        await expect(page.locator("#chat-more")).to_have_text("2 new messages ↓", timeout=WAIT)
        first = await chat_rows(page).first.bounding_box()
        await page.click("#chat-more")
        await expect(page.locator("#chat-more")).to_be_hidden()
        await expect(chat_rows(page)).to_have_count(72, timeout=WAIT)
        await expect(chat_rows(page).last).to_contain_text("Nummer 71")
        assert first is not None
        at_bottom = await page.evaluate(
            "(() => { const c = document.getElementById('chat');"
            " return c.scrollTop + c.clientHeight >= c.scrollHeight - 30; })()")
        assert at_bottom

        # a gift streak is one row, updated in place to its final count (the pointer is
        # off the chat, which follows the newest again)
        await page.mouse.move(5, 5)
        make = source.make
        for n in (1, 2, 3):
            source.emit(make.gift("gifty", "Rose", 1, n, streak="s1", final=False))
        source.emit(make.gift("gifty", "Rose", 1, 4, streak="s1", final=True))
        source.chat("after", "nach dem Geschenk")
        await expect(chat_rows(page).last).to_contain_text("nach dem Geschenk", timeout=WAIT)
        gift = page.locator("#chat .msg.gift")
        await expect(gift).to_have_count(1)
        await expect(gift).to_have_text("@gifty sent Rose ×4 (4 💎)")
        # ordinary rows carry no model score and no internal ids
        text = await page.locator("#chat").inner_text()
        assert "tox " not in text and "queued" not in text and "toxicity" not in text
        await page.context.close()
    assert ERRORS == []


@pytest.mark.timeout(120)
async def test_the_review_queue_is_worked_by_keyboard_but_never_while_typing(
    browser: Browser,
) -> None:
    ERRORS.clear()
    source = ScriptedSource(STREAM)
    async with running_server([source]) as srv:
        page = await open_console(browser, srv.base)
        source.chat("troll", "du hurensohn")
        source.chat("anna", "Hallo zusammen")
        source.chat("troll2", "du wichser")
        items = page.locator("#flagged .review-item")
        await expect(items).to_have_count(2, timeout=WAIT)
        selected = page.locator("#flagged .review-item.selected")

        # typing in a field: the letters go into the field, nothing else happens
        await page.click(".tabs button[data-tab=show-tab]")
        await page.click("#poll-question")
        await page.keyboard.type("jjah?sc")
        await expect(page.locator("#poll-question")).to_have_value("jjah?sc")
        await expect(selected).to_have_count(0)
        await expect(page.locator("#help")).to_be_hidden()
        await page.evaluate("document.activeElement.blur()")

        # ? opens the help, Esc closes it
        await page.keyboard.press("?")
        await expect(page.locator("#help")).to_be_visible()
        await expect(page.locator("#help")).to_contain_text("next / previous")
        await page.keyboard.press("Escape")
        await expect(page.locator("#help")).to_be_hidden()

        # j/k move the selection, newest first
        await page.keyboard.press("j")
        await expect(selected).to_have_attribute("data-id", "live-3")
        await page.keyboard.press("j")
        await expect(selected).to_have_attribute("data-id", "live-1")
        await page.keyboard.press("k")
        await expect(selected).to_have_attribute("data-id", "live-3")

        # c claims it (every console sees who handles it), s strikes its author
        await page.keyboard.press("c")
        await expect(selected.locator(".claimed")).to_have_text("console handles this",
                                                                timeout=WAIT)
        await page.keyboard.press("s")
        async with httpx.AsyncClient(base_url=srv.base) as http:
            for _ in range(100):
                audit = (await http.get("/api/audit", params={"token": TEST_CONSOLE_TOKEN})).json()
                if any(a["action"] == "strike" for a in audit):
                    break
                await asyncio.sleep(0.05)
        strike = next(a for a in audit if a["action"] == "strike")
        assert strike["target"] == "id-troll2"

        # a approves, and the selection moves on to the next item; h hides that one
        await page.keyboard.press("a")
        await expect(page.locator("#handled .review-item[data-id='live-3']")).to_contain_text(
            "approved by console", timeout=WAIT)
        await expect(selected).to_have_attribute("data-id", "live-1", timeout=WAIT)
        await page.keyboard.press("h")
        await expect(page.locator("#review-open")).to_have_text("0", timeout=WAIT)
        await expect(page.locator("#handled .review-item[data-id='live-1']")).to_contain_text(
            "hidden by console", timeout=WAIT)
        await page.context.close()
    assert ERRORS == []


async def catalogues(base: str) -> dict[str, dict[str, str]]:
    async with httpx.AsyncClient(base_url=base) as http:
        out = {}
        for lang in ("de", "en"):
            reply = await http.get(f"/console-assets/i18n/{lang}.json")
            assert reply.status_code == 200
            assert reply.headers["content-type"] == "application/json; charset=utf-8"
            out[lang] = reply.json()
        assert (await http.get("/console-assets/i18n/fr.json")).status_code == 404
        assert (await http.get("/console-assets/i18n/..%2Fconsole.css")).status_code == 404
    return out


LABELS = """() => {
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  const out = [];
  for (const el of document.querySelectorAll('[data-i18n]'))
    out.push([el.dataset.i18n, el.textContent, visible(el)]);
  for (const el of document.querySelectorAll('[data-i18n-title]'))
    out.push([el.dataset.i18nTitle, el.title, true]);
  for (const el of document.querySelectorAll('[data-i18n-placeholder]'))
    out.push([el.dataset.i18nPlaceholder, el.placeholder, true]);
  return out;
}"""

EVERY_TEXT = """() => {
  const parts = [document.body.innerText];
  for (const el of document.querySelectorAll('[title]')) parts.push(el.title);
  for (const el of document.querySelectorAll('[placeholder]')) parts.push(el.placeholder);
  return parts.join('\\n');
}"""


async def assert_in(page: Page, words: dict[str, str]) -> None:
    """Every static label shows the catalogue's words, and no catalogue key shows raw."""
    labels = await page.evaluate(LABELS)
    assert labels
    for key, text, _ in labels:
        assert text == words[key], (key, text)
    shown = await page.evaluate(EVERY_TEXT)
    raw = [key for key in words if re.search(rf"(?<![\w.@]){re.escape(key)}(?![\w.])", shown)]
    assert raw == [], raw


@pytest.mark.timeout(120)
async def test_the_console_speaks_german_and_english_from_one_catalogue(browser: Browser) -> None:
    ERRORS.clear()
    source = ScriptedSource(STREAM)
    async with running_server([source]) as srv:
        words = await catalogues(srv.base)
        # both languages know every key, with the same placeholders
        assert set(words["de"]) == set(words["en"])
        for key in words["en"]:
            assert set(re.findall(r"\{\w+\}", words["de"][key])) == set(
                re.findall(r"\{\w+\}", words["en"][key])), key

        page = await open_console(browser, srv.base, locale="de-DE")
        await expect(page.locator("html")).to_have_attribute("lang", "de")
        source.chat("troll", "du hurensohn")
        source.chat("ben", "Was kostet das Set?")
        await expect(page.locator("#flagged .review-item")).to_have_count(1, timeout=WAIT)
        await expect(page.locator("#flagged .label.toxic")).to_have_text("toxisch: Beleidigung")
        await expect(page.locator("#flagged .reason")).to_contain_text("Treffer „hurensohn“")
        await expect(page.locator("#review h2").first).to_contain_text("Prüfen")
        await expect(page.locator("#flagged button[data-act=approve]")).to_have_text("freigeben")
        await assert_in(page, words["de"])
        german = {k: t for k, t, seen in await page.evaluate(LABELS) if seen}

        # switched in the header: every label changes, and the choice is remembered
        await page.select_option("#lang-pick", "en")
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await expect(page.locator("#flagged .label.toxic")).to_have_text("toxic: insult")
        await expect(page.locator("#flagged button[data-act=approve]")).to_have_text("approve")
        await assert_in(page, words["en"])
        english = {k: t for k, t, seen in await page.evaluate(LABELS) if seen}
        same = [k for k in german
                if german[k] == english.get(k) and words["de"][k] != words["en"][k]]
        assert same == []
        await page.reload()
        await expect(page.locator("#conn")).to_have_class("up", timeout=WAIT)
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await expect(page.locator("#review h2").first).to_contain_text("Review")
        await page.select_option("#lang-pick", "de")
        await expect(page.locator("#review h2").first).to_contain_text("Prüfen")
        await page.context.close()
    assert ERRORS == []


@pytest.mark.timeout(120)
async def test_each_console_shows_who_moderates_and_what_they_handle(browser: Browser) -> None:
    ERRORS.clear()
    source = ScriptedSource(STREAM)
    settings = settings_for_tests(moderators=TEST_MODERATORS)
    async with running_server([source], settings) as srv:
        lena = await open_console(browser, srv.base, TEST_MODERATOR_TOKENS["lena"])
        mia = await open_console(browser, srv.base, TEST_MODERATOR_TOKENS["mia"])
        for page in (lena, mia):
            await expect(page.locator("#presence .mod")).to_have_count(2, timeout=WAIT)
            await expect(page.locator("#presence .mod[data-name=lena]")).to_be_visible()
            await expect(page.locator("#presence .mod[data-name=mia]")).to_be_visible()
        await expect(lena.locator("#presence .mod.me")).to_have_attribute("data-name", "lena")

        source.chat("troll", "du hurensohn")
        item = "#flagged .review-item[data-id='live-1']"
        await expect(mia.locator(item)).to_be_visible(timeout=WAIT)
        await expect(lena.locator(item)).to_be_visible(timeout=WAIT)
        await lena.keyboard.press("j")
        await lena.keyboard.press("c")
        await expect(mia.locator(f"{item} .claimed")).to_have_text("lena handles this",
                                                                   timeout=WAIT)
        await expect(mia.locator("#presence .mod[data-name=lena]")).to_contain_text("handles 1")
        await expect(lena.locator(f"{item} .claimed.mine")).to_be_visible()

        # lena leaves: her claim goes with her
        await lena.context.close()
        await expect(mia.locator("#presence .mod")).to_have_count(1, timeout=WAIT)
        await expect(mia.locator(f"{item} .claimed")).to_have_count(0)
        await mia.context.close()
    assert ERRORS == []


@pytest.mark.timeout(120)
async def test_a_repeated_or_resumed_message_is_shown_once(browser: Browser) -> None:
    """Every frame reaches the page twice (the copy without ``seq``, so only the message id
    can tell), and the connection drops once: the page resumes where it left off."""
    ERRORS.clear()
    source = ScriptedSource(STREAM)
    urls: list[str] = []
    routes: list[WebSocketRoute] = []

    def twice(frame: str | bytes) -> list[str]:
        text = frame if isinstance(frame, str) else frame.decode()
        copy = [{k: v for k, v in m.items() if k != "seq"} for m in json.loads(text)]
        return [text, json.dumps(copy)]

    def relay(ws: WebSocketRoute) -> None:
        urls.append(ws.url)
        routes.append(ws)
        server = ws.connect_to_server()
        ws.on_message(lambda m: server.send(m))

        def down(m: str | bytes) -> None:
            for f in twice(m):
                ws.send(f)

        server.on_message(down)

    async with running_server([source]) as srv:
        context = await browser.new_context(locale="en-US", viewport={"width": 1440, "height": 900})
        page = await context.new_page()
        page.on("pageerror", lambda exc: ERRORS.append(str(exc)))
        await page.route_web_socket(re.compile(r".*/ws/console.*"), relay)
        await page.goto(f"{srv.base}/?token={TEST_CONSOLE_TOKEN}")
        await expect(page.locator("#conn")).to_have_class("up", timeout=WAIT)
        source.chat("ben", "Was kostet das Set?")
        say(source, 0, 5)
        await expect(chat_rows(page)).to_have_count(6, timeout=WAIT)
        await expect(page.locator("#questions .msg")).to_have_count(1, timeout=WAIT)

        # the connection drops; the page comes back naming the run and its last seq
        await routes[0].close(code=1011, reason="test: dropped")
        await expect(page.locator("#conn")).to_have_class("up", timeout=WAIT)
        assert len(urls) == 2
        assert re.search(r"[?&]epoch=\w+", urls[1])
        assert re.search(rf"since={STREAM}(%3A|:)\d+", urls[1])
        say(source, 5, 8)
        await expect(chat_rows(page)).to_have_count(9, timeout=WAIT)
        await asyncio.sleep(0.5)
        ids = await page.eval_on_selector_all("#chat .msg[data-id]",
                                              "rows => rows.map(r => r.dataset.id)")
        assert len(ids) == len(set(ids)) == 9
        await expect(page.locator("#questions .msg")).to_have_count(1)
        await context.close()
    assert ERRORS == []


#: A few minutes of a German stream, as a moderator sees it.
SCRIPT = [
    ("anna_k", "Hallo zusammen, schöner Stream heute!"), ("ben_92", "Wie teuer ist das Set?"),
    ("troll", "du hurensohn"), ("carla", "Grüße aus Köln"),
    ("dennis", "Gibt es das auch in Schwarz?"), ("emma", "haha"),
    ("troll2", "du bist so ein wichser"), ("fritz", "Wann kommt der nächste Stream?"),
    ("gina", "Liebe Grüße aus Wien"), ("hans", "FREE COINS auf tiktok-coins.xyz"),
    ("ida", "mega Outfit heute"), ("jonas", "Versand nach Österreich?"), ("kim", "bin neu hier"),
    ("lars", "Kann man auf Rechnung zahlen?"), ("mona", "Servus aus München"),
]


def play(source: ScriptedSource, rounds: int) -> None:
    make = source.make
    for r in range(rounds):
        for i, (user, text) in enumerate(SCRIPT):
            source.chat(f"{user}{r or ''}", text if r == 0 else f"{text} ({r})")
            if i == 4:
                for n in (1, 5, 9):
                    source.emit(make.gift(f"fan{r}", "Rose", 1, n, streak=f"s{r}", final=n == 9))
                source.emit(make.follow(f"neu{r}"))
            if i % 3 == 0:
                source.emit(make.viewers(120 + 7 * r + i))
                source.emit(make.like(f"liker{i}", 15))


SIZES = [(1280, 720), (1440, 900), (2560, 1440)]

#: Buttons smaller than 32 px or with action text under 14 px, and a page wider than the window.
LAYOUT = """() => {
  const small = [];
  for (const b of document.querySelectorAll('button')) {
    const r = b.getBoundingClientRect();
    if (!r.width || !r.height || getComputedStyle(b).opacity === '0') continue;
    const px = parseFloat(getComputedStyle(b).fontSize);
    if (r.height < 31.5 || px < 14) small.push(`${b.textContent.trim()} ${r.height}px/${px}px`);
  }
  const review = document.getElementById('review').getBoundingClientRect();
  const chat = document.getElementById('chat-panel').getBoundingClientRect();
  const wide = document.documentElement.scrollWidth > window.innerWidth;
  return {small, reviewFirst: review.left < chat.left, reviewHeight: review.height, wide,
          tall: document.documentElement.scrollHeight > window.innerHeight + 1};
}"""


@pytest.mark.timeout(120)
async def test_the_german_console_fits_every_screen(browser: Browser, shots: Path) -> None:
    ERRORS.clear()
    out = shots
    source = ScriptedSource("demo")
    async with running_server([source]) as srv:
        play(source, 3)
        for width, height in SIZES:
            page = await open_console(browser, srv.base, locale="de-DE", width=width, height=height)
            await page.wait_for_function(
                "document.querySelectorAll('#chat .msg').length > 40", timeout=WAIT)
            await page.wait_for_selector("#flagged .review-item", timeout=WAIT)
            await page.click(".tabs button[data-tab=questions-tab]")
            await page.mouse.move(width // 2, height // 2)  # over the chat: its buttons show
            layout = await page.evaluate(LAYOUT)
            await page.screenshot(path=str(out / f"console-de-{width}x{height}.png"))
            assert layout["small"] == [], layout["small"]
            assert layout["reviewFirst"] and not layout["wide"] and not layout["tall"], layout
            assert layout["reviewHeight"] > height * 0.6
            await page.context.close()
    assert ERRORS == []
