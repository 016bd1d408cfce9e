"""A process that dies without stopping its stream (``kill -9``, out of memory, power).

Its stream row has no end. The next process that runs the same stream within
``RESUME_WITHIN_S`` goes on with it and stores the pause as a ``crash`` gap; one that
comes later closes it as ``lost`` at its last event, so reports and the plan count it.
The last test kills a real ``livepilot demo`` with SIGKILL and starts it again.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select

from livepilot.events import GapEvent
from livepilot.leads import LeadPolicy
from livepilot.store import History, StoreSettings, schema
from livepilot.store.carryover import close_abandoned, find_resumption
from livepilot.store.database import connect, open_database
from livepilot.store.recording import Recording, Resumption
from livepilot.testing import EventFactory, FakeClock

pytestmark = pytest.mark.timeout(180)


def _stream_row(name: str, started: float, last: float, **extra: Any) -> dict[str, Any]:
    return {
        "key": f"{name}@{started}", "name": name, "creator": name, "platform": "tiktok",
        "started_at": started, "last_at": last, "ended_at": None, "end_reason": None,
        "recorded_at": started, "users_capped": False, **extra,
    }


def test_a_stream_a_dead_process_left_open_is_resumed_or_closed(
    store_settings: StoreSettings,
) -> None:
    engine = open_database(store_settings)
    now = time.time()
    try:
        with engine.begin() as conn:
            conn.execute(insert(schema.streams), [
                _stream_row("anna", now - 3600, now - 90),  # died 90 s ago
                _stream_row("ben", now - 9000, now - 7200),  # died two hours ago
                _stream_row("cleo", now - 600, now - 60, ended_at=now - 60,
                            end_reason="live_ended"),  # the platform ended it: over
            ])
        found = find_resumption(engine, "anna", "tiktok", now)
        assert found is not None and found.cause == "crash"
        assert find_resumption(engine, "ben", "tiktok", now) is None  # too long ago
        assert find_resumption(engine, "cleo", "tiktok", now) is None  # ended for real

        assert close_abandoned(engine, now) == 1
        with engine.connect() as conn:
            rows = {r.name: r for r in conn.execute(select(schema.streams))}
        assert (rows["ben"].ended_at, rows["ben"].end_reason) == (now - 7200, "lost")
        assert rows["anna"].ended_at is None  # may still be going on with: left alone
        assert rows["cleo"].end_reason == "live_ended"
        assert close_abandoned(engine, now) == 0
    finally:
        engine.dispose()


class _Rows:
    """A row sink that keeps what it is handed."""

    def __init__(self) -> None:
        self.appended: list[tuple[str, dict[str, Any]]] = []

    def stream(self, key: str, row: dict[str, Any], opening: bool = False) -> None:
        pass

    def put(self, table: Any, row: dict[str, Any]) -> None:
        pass

    def append(self, table: Any, row: dict[str, Any]) -> None:
        self.appended.append((table.name, row))


def test_a_failover_gap_over_a_crash_pause_is_stored_once() -> None:
    clock = FakeClock()
    start = clock.now()
    stored = _stream_row("anna", start, start + 50) | {"id": 7, "peak_viewers": None,
                                                       "peak_at": None, "viewers_total": None}
    rows = _Rows()
    clock.set(start + 61)
    recording = Recording("anna", clock.now(), rows, creator="anna", platform="tiktok",
                          plan=None, policy=LeadPolicy(), wall=lambda: start,
                          resume=Resumption(stream=stored, cause="crash"))
    # The worker that took the stream over reports the silence from the log's last write.
    recording.event(GapEvent(id="g1", stream="anna", at=start + 61, received=start + 61,
                             start=start + 48, end=start + 61, cause="failover"))
    # A later, separate gap overlapping only partly keeps its new part.
    recording.event(GapEvent(id="g2", stream="anna", at=start + 90, received=start + 90,
                             start=start + 58, end=start + 90, cause="watchdog"))
    gaps = [(r["start"] - start, r["end"] - start, r["cause"]) for t, r in rows.appended
            if t == "gaps"]
    assert gaps == [(50, 61, "crash"), (61, 90, "watchdog")]
    recording.event(EventFactory(clock, stream="anna").chat("kim", "wieder da"))
    recording.finish("stopped")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_TOKEN = "crash-test-console-token"


def _demo(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, LIVEPILOT_DATA_DIR=str(data_dir), LIVEPILOT_STORE_FLUSH_MS="100",
               LIVEPILOT_CONSOLE_TOKEN=_TOKEN)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "livepilot", "demo", "--no-browser", "--port", str(port),
             "--speed", "4"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )


def _wait(check: Any, what: str, process: subprocess.Popen[bytes], log: Path) -> Any:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if process.poll() is not None:
            break
        time.sleep(0.25)
    process.kill()
    pytest.fail(f"{what} never happened; demo log:\n{log.read_text()[-3000:]}")


def _show(port: int) -> Any:
    """The demo's run-of-show as the console's Show tab reads it (``None``: not up)."""
    try:
        reply = httpx.get(f"http://127.0.0.1:{port}/api/streams/demo/show",
                          headers={"Authorization": f"Bearer {_TOKEN}"}, timeout=5)
    except httpx.HTTPError:
        return None
    return reply.json() if reply.status_code == 200 else None


def test_a_killed_demo_goes_on_with_its_stream_after_a_restart(tmp_path: Path) -> None:
    store = StoreSettings(data_dir=tmp_path / "data")
    log = tmp_path / "demo.log"
    history = History(connect(store))

    def streams() -> list[Any]:
        try:
            return history.streams()
        except Exception:  # the first process has not created the database yet
            return []

    try:
        port = _free_port()
        first = _demo(store.data_dir, port, log)
        try:
            _wait(lambda: [s for s in streams() if (s["chat"] or 0) >= 5], "chat stored",
                  first, log)
            # The first segment of the example run-of-show runs, with its likes goal.
            reply = httpx.post(f"http://127.0.0.1:{port}/api/commands", timeout=5,
                               headers={"Authorization": f"Bearer {_TOKEN}"},
                               json={"stream": "demo", "action": "segment_start", "args": {}})
            assert reply.status_code == 202, reply.text
            _wait(lambda: history.load(streams()[0]).segments, "the segment stored", first, log)
            shown = _wait(lambda: (s := _show(port)) and s["current"]
                          and s["current"]["goal"]["value"] >= 200 and s, "likes counted",
                          first, log)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        (killed,) = streams()
        assert killed["ended_at"] is None  # what kill -9 leaves behind
        killed_at = killed["last_at"]

        port = _free_port()
        second = _demo(store.data_dir, port, log)
        try:
            def resumed() -> Any:
                rows = streams()
                if len(rows) == 1 and rows[0]["last_at"] > killed_at + 1:
                    return rows[0]
                return None

            _wait(resumed, "the stream going on", second, log)
            # The show goes on with the segment and its timer, and the goal its count.
            show = _wait(lambda: _show(port), "the show view", second, log)
            current, was = show["current"], shown["current"]
            assert current is not None and current["name"] == was["name"] == "Begrüßung"
            assert abs(current["started_at"] - was["started_at"]) < 1.0
            assert current["goal"]["value"] >= was["goal"]["value"] // 2
        finally:
            second.send_signal(signal.SIGINT)
            assert second.wait(60) in (0, 130), log.read_text()[-3000:]  # 130: Ctrl-C
        (stream,) = streams()
        assert stream["key"] == killed["key"] and stream["end_reason"] == "stopped"
        data = history.load(stream)
        crash = [g for g in data.gaps if g["cause"] == "crash"]
        assert len(crash) == 1 and crash[0]["start"] == pytest.approx(killed_at)
    finally:
        history.close()
