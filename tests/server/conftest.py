"""Fixtures and helpers the server's tests share: the browser, where screenshots go, the
Redis-bus settings, and opening a console or an overlay page the way a person does (and
waiting until it is connected)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect
from tests.conftest import REDIS_URL

from livepilot.settings import Settings
from livepilot.testing import (
    TEST_CONSOLE_TOKEN,
    TEST_OVERLAY_KEY,
    chromium,
    settings_for_tests,
)

#: Page waits (ms): generous for a loaded machine; a passing run takes a fraction of it.
PAGE_WAIT = 15_000
#: The backdrops an overlay is photographed over: OBS scenes are bright or dark.
SCENES = {"bright": "#f4f1e8", "dark": "#11151c"}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, for one test (``LIVEPILOT_TEST_CHROMIUM``)."""
    async with chromium() as launched:
        yield launched


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where a test writes the screenshots a reviewer looks at: ``$LIVEPILOT_SCREENSHOTS``
    (kept), else the test's tmp dir. Artefacts, never committed."""
    where = Path(os.environ.get("LIVEPILOT_SCREENSHOTS", str(tmp_path)))
    where.mkdir(parents=True, exist_ok=True)
    return where


@pytest.fixture
def redis_settings(redis_prefix: str) -> Settings:
    """Test settings on the Redis bus, under a key prefix of this test's own."""
    return settings_for_tests(bus="redis", redis_url=REDIS_URL, redis_prefix=redis_prefix)


def artefacts() -> Path:
    """Where overlay screenshots go: ``$LIVEPILOT_ARTEFACTS/overlays`` (default: a folder in
    the system's temp directory), never the repository."""
    folder = Path(os.environ.get("LIVEPILOT_ARTEFACTS")
                  or Path(tempfile.gettempdir()) / "livepilot-artefacts") / "overlays"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def shoot(page: Page, name: str) -> list[Path]:
    """Screenshots of ``page`` over each of the :data:`SCENES` (``{name}-on-{scene}.png`` in
    :func:`artefacts`), to look at how an overlay reads over a bright and a dark scene."""
    shots = []
    for scene, colour in SCENES.items():
        await page.evaluate(f"document.documentElement.style.background = '{colour}'")
        path = artefacts() / f"{name}-on-{scene}.png"
        await page.screenshot(path=path)
        shots.append(path)
    return shots


async def open_console(
    browser: Browser, base: str, token: str = TEST_CONSOLE_TOKEN, *, errors: list[str],
    locale: str = "de-DE", width: int = 1280, height: int = 720, wait: float = PAGE_WAIT,
) -> Page:
    """The console in a browser context of its own whose language is ``locale`` (German by
    default), once it is connected and speaks that language. The page's script errors and
    console errors go to ``errors``."""
    context = await browser.new_context(locale=locale, viewport={"width": width, "height": height})
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.goto(f"{base}/?token={token}")
    await expect(page.locator("#conn")).to_have_class("up", timeout=wait)
    await expect(page.locator("html")).to_have_attribute("lang", locale[:2])
    return page


async def connected(page: Page, wait: float = PAGE_WAIT) -> Page:
    """``page`` (an overlay) once its socket is up again, as after a reload."""
    await page.wait_for_function("document.body.dataset.connected === '1'", timeout=wait)
    return page


async def load_overlay(
    page: Page, base: str, name: str, *, stream: str | None = None, query: str = "",
    key: str = TEST_OVERLAY_KEY, wait: float = PAGE_WAIT,
) -> Page:
    """Show overlay ``name`` (of ``stream``; none: every stream) in ``page``, as an OBS
    browser source loads it, and wait until it is connected."""
    scope = f"&stream={stream}" if stream is not None else ""
    await page.goto(f"{base}/overlay/{name}?key={key}{scope}{query}")
    return await connected(page, wait)


async def open_overlay(
    browser: Browser, base: str, name: str, *, stream: str | None = None, query: str = "",
    key: str = TEST_OVERLAY_KEY, init: str = "", width: int = 900, height: int = 500,
    wait: float = PAGE_WAIT,
) -> Page:
    """A new page showing overlay ``name``, connected; ``init`` runs before the page's own
    scripts (to watch its sockets or what it shows)."""
    page = await browser.new_page(viewport={"width": width, "height": height})
    if init:
        await page.add_init_script(init)
    return await load_overlay(page, base, name, stream=stream, query=query, key=key, wait=wait)


async def send_command(base: str, stream: str, action: str, **args: Any) -> None:
    """A moderator command through the API, as the console sends it; accepted (202)."""
    async with httpx.AsyncClient(base_url=base) as http:
        reply = await http.post(
            "/api/commands",
            headers={"Authorization": f"Bearer {TEST_CONSOLE_TOKEN}"},
            json={"stream": stream, "action": action, "args": args},
        )
    assert reply.status_code == 202, reply.text
