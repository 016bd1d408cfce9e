"""A 25-minute recording stored two ways — headless at maximum speed, and through the real
server with the event clock — gives the same report, byte for byte."""

from __future__ import annotations

import asyncio
import io
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import uvicorn
from prometheus_client import CollectorRegistry

from livepilot.bus import create_bus
from livepilot.headless import replay_headless
from livepilot.metrics import Metrics
from livepilot.report import build_report, report_json
from livepilot.server.app import create_app
from livepilot.service import StreamService
from livepilot.settings import Settings
from livepilot.sources.replay import ReplaySource
from livepilot.store import History, StoreSettings
from livepilot.store.wiring import start_recorder
from livepilot.testing import TEST_CONSOLE_TOKEN, settings_for_tests

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "stream.jsonl"
    made = subprocess.run(
        [sys.executable, "-m", "livepilot", "simulate", "--duration", "1500", "--seed", "7",
         "-o", str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert made.returncode == 0, made.stderr
    return path


def _report(store: StoreSettings) -> str:
    history = History.open(store)
    try:
        streams = history.streams()
        assert len(streams) == 1, streams
        return report_json(build_report(history.load(streams[0]), "en"))
    finally:
        history.close()


async def _headless(recording: Path, settings: Settings, store: StoreSettings) -> str:
    recorder = start_recorder(settings, CollectorRegistry(), store)
    await replay_headless(recording, io.StringIO(), settings, recorder=recorder)
    assert await recorder.aclose(deadline=30)
    return _report(store)


async def _served(recording: Path, settings: Settings, store: StoreSettings) -> str:
    metrics = Metrics()
    bus = create_bus(settings)
    recorder = start_recorder(settings, metrics.registry, store)
    service = StreamService(settings, bus, metrics, recorder=recorder)
    service.add(ReplaySource(recording, speed=0), event_time=True)
    app = create_app(settings, bus=bus, metrics=metrics, service=service)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await asyncio.wait_for(service.finished.wait(), 150)
        # The server saw the stream: its console API lists it.
        port = sock.getsockname()[1]
        async with httpx.AsyncClient() as client:
            listed = await client.get(
                f"http://127.0.0.1:{port}/api/streams",
                headers={"Authorization": f"Bearer {TEST_CONSOLE_TOKEN}"},
            )
        assert listed.status_code == 200 and listed.json()[0]["stream"] == "demo"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()
    assert await recorder.aclose(deadline=30)
    return _report(store)


async def test_max_speed_and_served_replays_store_the_same_report(
    recording: Path, store_settings: StoreSettings, tmp_path: Path
) -> None:
    # Both ways run the German model inline: in the model lane its verdicts arrive late,
    # and the stages that read them (spam waves, shitstorm) would see a different stream.
    settings = settings_for_tests(toxicity_german_inline=True)
    headless = await _headless(recording, settings, StoreSettings(data_dir=tmp_path / "a"))
    served = await _served(recording, settings, store_settings)
    assert served == headless
    report = build_report_from_json(headless)
    # A 25-minute recording lasts 25 minutes, however fast it was replayed.
    assert 1490 <= report["duration_s"] <= 1510
    assert len(report["viewers_per_minute"]) == 26
    assert report["peak_viewers"] >= 500 and report["diamonds"] > 1000
    assert 0 < report["engagement"]["interacted_share"] <= 1
    assert 0 < report["avg_watch_time_s"] <= report["duration_s"]
    assert report["alarms"] and report["questions"]["asked"] > 0


def build_report_from_json(text: str) -> dict[str, object]:
    import json

    data = json.loads(text)
    assert isinstance(data, dict)
    return data
