from __future__ import annotations

from pathlib import Path

import pytest

from livepilot.errors import SourceError
from livepilot.sources.replay import ReplaySource
from livepilot.testing import EventFactory, FakeClock
from livepilot.wire import LineError, encode


def write_recording(path: Path) -> list[str]:
    clock = FakeClock(start=500.0)
    f = EventFactory(clock, stream="rec")
    lines = []
    for i in range(6):
        lines.append(encode(f.chat("anna", f"m{i}")))
        clock.advance(1.0)
    lines.insert(2, "{broken json")
    lines.insert(4, '{"type": "gift", "id": "g"}')
    lines.append('{"type":"insight","event_id":"rec-1","stream":"rec"}')  # output line: skipped
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


async def test_bad_lines_are_reported_with_numbers_and_replay_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    write_recording(path)
    errors: list[LineError] = []
    source = ReplaySource(path, speed=0, on_error=errors.append)
    events = [e async for e in source.events()]
    assert [e.text for e in events] == [f"m{i}" for i in range(6)]  # type: ignore[union-attr]
    assert [e.line for e in errors] == [3, 5]
    assert source.skipped == 2 and source.stream == "rec"
    assert all(e.at == 500.0 + i for i, e in enumerate(events))  # max speed keeps event time


async def test_paced_replay_restamps_with_now(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    write_recording(path)
    clock = FakeClock(start=9_000.0)
    import livepilot.sources.replay as module

    async def fake_sleep(delay: float) -> None:
        clock.advance(delay)

    original = module.asyncio.sleep
    module.asyncio.sleep = fake_sleep  # type: ignore[assignment]
    try:
        events = [e async for e in ReplaySource(path, speed=2, clock=clock).events()]
    finally:
        module.asyncio.sleep = original  # type: ignore[assignment]
    # 5 s of recording at 2x: 2.5 s
    assert events[-1].at == pytest.approx(9_002.5)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        ReplaySource(tmp_path / "nope.jsonl")
