"""Reports from the real server: a replayed 25-minute show with a run-of-show, recorded
as it is served, then read at ``/reports/…`` behind the console token and rendered by a
real Chromium (screenshot and PDF in ``test-artefacts/``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from livepilot.bus import create_bus
from livepilot.events import CommandEvent
from livepilot.metrics import Metrics
from livepilot.server.app import create_app
from livepilot.service import StreamService
from livepilot.settings import checkout_path
from livepilot.sources.replay import ReplaySource
from livepilot.store import History, StoreSettings
from livepilot.store.database import connect
from livepilot.store.wiring import start_recorder
from livepilot.testing import TEST_CONSOLE_TOKEN, chromium, settings_for_tests
from livepilot.wire import encode

pytestmark = pytest.mark.timeout(240)

ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artefacts"
START = 1_767_222_000.0
#: Moderators move through the example run-of-show (rules/run-of-show.yaml).
SHOW = ((2.0, "segment_start", "1"), (300.0, "segment_next", ""), (1000.0, "segment_next", ""),
        (1200.0, "segment_next", ""))


def _recording(path: Path) -> Path:
    made = subprocess.run(
        [sys.executable, "-m", "livepilot", "simulate", "--duration", "1500", "--seed", "11",
         "-o", str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert made.returncode == 0, made.stderr
    lines = path.read_text(encoding="utf-8").splitlines()
    commands = [
        (START + at, encode(CommandEvent(
            id=f"show-{n}", stream="demo", at=START + at, received=START + at, action=action,
            target="", by="lena", args={"segment": which} if which else {})))
        for n, (at, action, which) in enumerate(SHOW)
    ]
    out: list[str] = []
    for line in lines:
        at = json.loads(line)["at"]
        while commands and commands[0][0] <= at:
            out.append(commands.pop(0)[1])
        out.append(line)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


async def _record_through_the_server(recording: Path, store: StoreSettings) -> None:
    settings = settings_for_tests(run_of_show=checkout_path("rules") / "run-of-show.yaml")
    metrics = Metrics()
    bus = create_bus(settings)
    recorder = start_recorder(settings, metrics.registry, store)
    service = StreamService(settings, bus, metrics, recorder=recorder)
    service.add(ReplaySource(recording, speed=0), event_time=True)
    app = create_app(settings, bus=bus, metrics=metrics, service=service)
    async with _serving(app):
        await asyncio.wait_for(service.finished.wait(), 180)
    assert await recorder.aclose(deadline=30)


@contextlib.asynccontextmanager
async def _serving(app: FastAPI) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(250):
        if server.started:
            break
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> StoreSettings:
    """The show, replayed through the real server with the event clock and recorded."""
    tmp = tmp_path_factory.mktemp("served")
    store = StoreSettings(data_dir=tmp / "data")
    asyncio.run(_record_through_the_server(_recording(tmp / "show.jsonl"), store))
    return store


@contextlib.asynccontextmanager
async def reports_server(store: StoreSettings) -> AsyncIterator[str]:
    """A server with no streams that serves the stored history, as ``livepilot serve``."""
    settings = settings_for_tests()
    metrics = Metrics()
    app = create_app(settings, bus=create_bus(settings), metrics=metrics)
    app.state.recorder = start_recorder(settings, metrics.registry, store)
    app.state.history = History(connect(store))
    try:
        async with _serving(app) as base:
            yield base
    finally:
        await app.state.recorder.aclose(deadline=10)
        app.state.history.close()


async def test_reports_need_the_console_token_and_come_in_every_format(
    store: StoreSettings,
) -> None:
    auth = {"Authorization": f"Bearer {TEST_CONSOLE_TOKEN}"}
    async with reports_server(store) as base, httpx.AsyncClient(
        base_url=base, timeout=30
    ) as client:
        assert (await client.get("/reports")).status_code == 401
        assert (await client.get("/reports/last")).status_code == 401
        assert (await client.get("/reports/last/chat.csv")).status_code == 401

        listed = (await client.get("/reports", headers=auth)).json()
        assert [row["stream"] for row in listed] == ["demo@2025-12-31T23:00:00Z"]

        report = (await client.get("/reports/demo?format=json&lang=en", headers=auth)).json()
        assert report["run_of_show"] == "Sommerkollektion – Live-Launch"
        assert [s["name"] for s in report["segments"]] == [
            "Begrüßung", "Thema", "Interaktion", "Produkt"]
        assert [s["start_s"] for s in report["segments"]] == [2, 300, 1000, 1200]
        assert 1490 <= report["duration_s"] <= 1510
        assert report["moderation"]["by_moderator"] == {"lena": 4}
        assert any(a["kind"] == "segment_overrun" for a in report["alarms"])

        page = await client.get(f"/reports/{listed[0]['id']}?token={TEST_CONSOLE_TOKEN}")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.text.count("<svg") >= 5 and "Drei Dinge fürs nächste Mal" in page.text

        minutes = await client.get("/reports/last?format=csv", headers=auth)
        assert minutes.text.splitlines()[0].startswith("minute,start_s,viewers")
        assert len(minutes.text.splitlines()) == 1 + 26

        chat = await client.get("/reports/last/chat.csv", headers=auth)
        assert chat.status_code == 200 and chat.text.startswith("time,at_s,type,user,text")
        assert chat.text.count("\n") == 1 + sum(m["chat"] for m in report["minutes"])

        missing = await client.get("/reports/nobody", headers=auth)
        assert missing.status_code == 404 and "no stored stream 'nobody'" in missing.text

        status = (await client.get("/api/store", headers=auth)).json()
        assert status["state"] == "up" and status["dropped"] == 0


@pytest.mark.browser
async def test_the_report_renders_its_charts_in_a_browser_and_prints(
    store: StoreSettings,
) -> None:
    ARTEFACTS.mkdir(exist_ok=True)
    async with reports_server(store) as base, chromium() as browser:
        page = await browser.new_page(viewport={"width": 900, "height": 1200})
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        response = await page.goto(
            f"{base}/reports/last?lang=de&token={TEST_CONSOLE_TOKEN}"
        )
        assert response is not None and response.ok
        # Self-contained: the page asks for nothing but itself.
        assert len(requested) == 1
        charts = await page.eval_on_selector_all(
            "svg.chart", "els => els.map(e => [e.getBoundingClientRect().width, "
            "e.getBoundingClientRect().height, e.querySelectorAll('polyline, rect').length])",
        )
        assert len(charts) >= 5
        assert all(width > 600 and height > 150 and shapes > 0 for width, height, shapes in charts)
        segment_labels = await page.eval_on_selector_all(
            "svg .band-label", "els => els.map(e => e.textContent)")
        assert "Begrüßung" in segment_labels
        advice = await page.eval_on_selector_all(".advice li", "els => els.length")
        assert 1 <= advice <= 3
        await page.screenshot(path=str(ARTEFACTS / "report.png"), full_page=True)
        pdf = await page.pdf(format="A4", print_background=True)
        (ARTEFACTS / "report.pdf").write_bytes(pdf)
        assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
