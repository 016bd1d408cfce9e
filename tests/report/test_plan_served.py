"""The plan from a real store (SQLite and PostgreSQL): at ``/plan`` behind the console
token, rendered by a real Chromium (screenshot in ``test-artefacts/``), and from
``livepilot plan``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from livepilot.bus import create_bus
from livepilot.metrics import Metrics
from livepilot.server.app import create_app
from livepilot.store import History, StoreSettings
from livepilot.store.database import connect
from livepilot.testing import TEST_CONSOLE_TOKEN, chromium, settings_for_tests

pytestmark = pytest.mark.timeout(120)

ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artefacts"
AUTH = {"Authorization": f"Bearer {TEST_CONSOLE_TOKEN}"}


@contextlib.asynccontextmanager
async def plan_server(store: StoreSettings) -> AsyncIterator[str]:
    """A server with no streams that serves the stored history, as ``livepilot serve``."""
    settings = settings_for_tests()
    app = create_app(settings, bus=create_bus(settings), metrics=Metrics())
    app.state.history = History(connect(store))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(250):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "uvicorn did not start within 5 s"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()
        app.state.history.close()


async def test_the_plan_is_served_behind_the_token(
    plan_store: StoreSettings, five_streams: list[Any], store_streams: Any
) -> None:
    store_streams(plan_store, five_streams)
    async with plan_server(plan_store) as base, httpx.AsyncClient(
        base_url=base, timeout=30
    ) as client:
        assert (await client.get("/plan")).status_code == 401
        plan = (await client.get("/plan?format=json&lang=en", headers=AUTH)).json()
        assert [s["format"] for s in plan["streams"]] == [
            "Produkt", "Q&A", "Produkt", "Produkt", "Q&A"]
        assert plan["enough"] and {s["key"] for s in plan["suggestions"]} == {
            "drop_15", "weekday", "hour", "format", "cadence", "peak"}
        page = await client.get("/plan", headers=AUTH)
        assert page.status_code == 200 and "Vorschläge" in page.text
        bad = await client.get("/plan?tz=Mars/Olympus", headers=AUTH)
        assert bad.status_code == 422 and "unknown time zone" in bad.text
        few = (await client.get("/plan?format=json&limit=2", headers=AUTH)).json()
        assert not few["enough"] and few["suggestions"] == []


@pytest.mark.browser
async def test_the_plan_page_renders_in_a_browser(
    tmp_path: Path, five_streams: list[Any], store_streams: Any
) -> None:
    store = StoreSettings(data_dir=tmp_path / "data")
    store_streams(store, five_streams)
    ARTEFACTS.mkdir(exist_ok=True)
    async with plan_server(store) as base, chromium() as browser:
        page = await browser.new_page(viewport={"width": 1100, "height": 900})
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        response = await page.goto(f"{base}/plan?lang=de&token={TEST_CONSOLE_TOKEN}")
        assert response is not None and response.ok
        assert len(requested) == 1  # self-contained: no script, no CDN, no font
        tips = await page.eval_on_selector_all("#suggestions li", "els => els.length")
        assert tips == 6
        rows = await page.eval_on_selector_all("#streams tbody tr", "els => els.length")
        assert rows == 5
        table = await page.eval_on_selector("#streams table",
                                            "e => e.getBoundingClientRect().width")
        assert table > 900  # the side-by-side table uses the page's width
        await page.screenshot(path=str(ARTEFACTS / "plan.png"), full_page=True)


def test_livepilot_plan_reads_the_store(
    tmp_path: Path, five_streams: list[Any], store_streams: Any
) -> None:
    data = tmp_path / "data"
    store_streams(StoreSettings(data_dir=data), five_streams)
    env = {**os.environ, "LIVEPILOT_DATA_DIR": str(data)}
    env.pop("LIVEPILOT_DATABASE_URL", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "livepilot", "plan", *args],
                              capture_output=True, text=True, timeout=120, check=False,
                              env=env)

    text = run("--lang", "en")
    assert text.returncode == 0, text.stderr
    assert "In 4 of 5 streams the audience fell in minute 15–20" in text.stdout
    assert "Wednesday worked best" in text.stdout
    plan = json.loads(run("--format", "json").stdout)
    assert len(plan["streams"]) == 5 and plan["cadence"]["median_days"] == 4.83
    page = tmp_path / "plan.html"
    assert run("-o", str(page)).returncode == 0
    assert "Planung aus der Stream-Historie" in page.read_text(encoding="utf-8")
    one = run("--limit", "1", "--lang", "en")
    assert "Not enough streams yet: 1 stored" in one.stdout
    bad = run("--tz", "Mars/Olympus")
    assert bad.returncode != 0 and "unknown time zone" in bad.stderr
