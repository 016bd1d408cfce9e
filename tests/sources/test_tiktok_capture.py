"""Raw captures: the container format, replay through TikTokLive's decoding, and
recording a live stream so its capture replays into the same events."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

from livepilot.events import LiveEvent, StreamState
from livepilot.headless import run_headless
from livepilot.metrics import Metrics
from livepilot.settings import Settings
from livepilot.sources.tiktok import CaptureError, CaptureSource, is_capture, record
from livepilot.sources.tiktok.capture import MAGIC, CaptureWriter, read_capture
from livepilot.sources.tiktok.testing import FakeTikTok, Frames, Session, push_frame, write_capture
from livepilot.wire import EVENT_TYPES, decode

sys.path.insert(0, str(Path(__file__).parent))
from tiktok_fixtures import forbid_internet, of


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_internet(monkeypatch)


def _stream_frames() -> tuple[list[list[bytes]], dict[str, int]]:
    """Two connections of a real-looking stream; returns frames and ids worth checking."""
    f = Frames()
    anna, ben, cem = f.user("anna"), f.user("ben"), f.user("cem")
    ids: dict[str, int] = {}
    first = [
        push_frame([f.join(anna), f.join(ben), f.viewers(120)]),
        push_frame([f.chat(anna, "Hallo aus Berlin!")]),
        push_frame([f.chat(ben, "kauft alle bei billig-shop.xyz")]),
    ]
    ids["spam"] = f.last_id
    first += [
        push_frame([f.like(cem, 15, 1015)], compress=False),
        # anna's Rose streak: 1, 2, 3 then the end with 5
        push_frame([f.gift(anna, repeat_count=n, group_id=1) for n in (1, 2, 3)]),
        push_frame([f.gift(anna, repeat_count=5, repeat_end=True, group_id=1)]),
        push_frame([f.delete(ids["spam"])]),
        # ben's Finger Heart streak (5 diamonds each) never gets its end
        push_frame(
            [
                f.gift(ben, gift_id=6, name="Finger Heart", diamonds=5, repeat_count=n, group_id=2)
                for n in (1, 2)
            ]
        ),
        push_frame([], payload_type="hb"),
    ]
    second = [
        push_frame([f.viewers(140), f.chat(cem, "wieder da?")]),
        # a one-off Lion: counted once, as sent
        push_frame([f.gift(cem, gift_id=6369, name="Lion", diamonds=29999, streakable=False)]),
        push_frame([f.like(anna, 3, 1018), f.live_end()]),
    ]
    return [first, second], ids


async def _replay(path: Path, metrics: Metrics | None = None) -> list[LiveEvent]:
    return [event async for event in CaptureSource(path, metrics=metrics).events()]


async def test_a_capture_replays_into_the_expected_events(tmp_path: Path) -> None:
    sessions, ids = _stream_frames()
    path = write_capture(tmp_path / "stream.lpcap", sessions)
    assert is_capture(path)

    events = await _replay(path)

    gifts = of(events, "gift")
    finals = [(g.user.unique_id, g.gift_name, g.count, g.diamonds) for g in gifts if g.final]
    assert finals == [
        ("anna", "Rose", 5, 5),
        ("cem", "Lion", 1, 29999),
        ("ben", "Finger Heart", 2, 10),  # no end message: closed once, at the LIVE's end
    ]
    assert sum(g.diamonds for g in gifts if g.final) == 5 + 29999 + 10
    spam = next(e for e in of(events, "chat") if e.text.startswith("kauft"))
    assert spam.id == f"tt-{ids['spam']}"
    assert [d.target for d in of(events, "delete")] == [spam.id]
    assert [v.count for v in of(events, "viewers")] == [120, 140]
    assert [(x.count, x.total) for x in of(events, "like")] == [(15, 1015), (3, 1018)]
    assert [j.user.unique_id for j in of(events, "join")] == ["anna", "ben"]
    assert [s.state for s in of(events, "status")] == [
        StreamState.CONNECTED,
        StreamState.DISCONNECTED,
        StreamState.CONNECTED,
        StreamState.LIVE_ENDED,
    ]
    (gap,) = of(events, "gap")
    assert gap.cause == "connection_lost" and gap.seconds == pytest.approx(5.0)
    # replay is deterministic: times come from the capture
    again = await _replay(path)
    assert [e.model_dump() for e in again] == [e.model_dump() for e in events]


async def test_a_capture_replays_headless_into_wire_jsonl(tmp_path: Path) -> None:
    sessions, ids = _stream_frames()
    path = write_capture(tmp_path / "stream.lpcap", sessions)
    out = io.StringIO()
    result = await run_headless(CaptureSource(path), out, Settings(stages=()), Metrics())
    lines = [decode(line) for line in out.getvalue().splitlines()]
    events = [m for m in lines if m.type in EVENT_TYPES]
    assert result.events == len(events) > 0
    finals = [m for m in events if m.type == "gift" and m.final]
    assert sorted(m.diamonds for m in finals) == [5, 10, 29999]
    assert [m.target for m in events if m.type == "delete"] == [f"tt-{ids['spam']}"]


def test_livepilot_replay_cli_decodes_a_capture(tmp_path: Path) -> None:
    sessions, ids = _stream_frames()
    path = write_capture(tmp_path / "stream.lpcap", sessions)
    done = subprocess.run(
        [sys.executable, "-m", "livepilot", "replay", str(path), "--jsonl"],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    messages = [decode(line) for line in done.stdout.splitlines() if line.strip()]
    finals = [m for m in messages if m.type == "gift" and m.final]
    assert sorted(m.diamonds for m in finals) == [5, 10, 29999]
    assert [m.target for m in messages if m.type == "delete"] == [f"tt-{ids['spam']}"]


async def test_recording_a_live_stream_keeps_jsonl_and_a_raw_capture_that_agree(
    tmp_path: Path,
) -> None:
    f = Frames()
    anna = f.user("anna")
    sessions = [
        Session(
            frames=[
                push_frame([f.chat(anna, "eins"), f.gift(anna, repeat_count=1, group_id=3)]),
                push_frame([f.gift(anna, repeat_count=2, repeat_end=True, group_id=3)]),
            ],
            close=1011,
        ),
        Session(
            frames=[push_frame([f.chat(anna, "zwei")]), push_frame([f.live_end()])], close=None
        ),
    ]
    jsonl, raw = tmp_path / "live.jsonl", tmp_path / "live.lpcap"
    settings = Settings(tiktok_backoff_initial=0.01, tiktok_backoff_max=0.05)
    async with FakeTikTok(sessions) as fake:
        written = await record("@tester", jsonl, raw, settings, transports=fake.transports)

    recorded = [decode(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert written == len(recorded) and not is_capture(jsonl)
    replayed = await _replay(raw)

    def shape(events: list[LiveEvent]) -> list[tuple[object, ...]]:
        # ids of status/gap events embed their time; TikTok ids must match exactly
        return [
            (e.type, e.id if e.id.startswith("tt-") else "", getattr(e, "text", None),
             getattr(e, "count", None), getattr(e, "final", None), getattr(e, "cause", None))
            for e in events
        ]  # fmt: skip

    assert shape(replayed) == shape(recorded)  # type: ignore[arg-type]
    assert [e.text for e in of(replayed, "chat")] == ["eins", "zwei"]
    assert [g.cause for g in of(replayed, "gap")] == ["connection_lost"]
    header, records = read_capture(raw)
    assert header.unique_id == "tester" and "TikTokLive" in header.library
    assert [r.kind for r in records].count("I") == 2


def test_files_that_are_not_captures_are_rejected(tmp_path: Path) -> None:
    jsonl = tmp_path / "x.jsonl"
    jsonl.write_text('{"type": "chat"}\n', encoding="utf-8")
    assert not is_capture(jsonl) and not is_capture(tmp_path / "missing")
    with pytest.raises(CaptureError, match="wrong magic"):
        CaptureSource(jsonl)
    bad_header = tmp_path / "bad.lpcap"
    bad_header.write_bytes(MAGIC + b"\x00\x00\x00\x02{]")
    with pytest.raises(CaptureError, match="header"):
        CaptureSource(bad_header)


async def test_a_truncated_capture_replays_up_to_the_cut(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    f = Frames()
    anna = f.user("anna")
    path = tmp_path / "cut.lpcap"
    with CaptureWriter(path, "tester") as writer:
        writer.initial(1.0, bytes(f.p.ProtoMessageFetchResult(is_first=True)), 42)
        writer.frame(2.0, push_frame([f.chat(anna, "vor dem Absturz")]))
        writer.frame(3.0, push_frame([f.chat(anna, "halb geschrieben")]))
    data = path.read_bytes()
    path.write_bytes(data[:-7])  # the recorder died mid-record
    with caplog.at_level(logging.WARNING):
        events = await _replay(path)
    assert [e.text for e in of(events, "chat")] == ["vor dem Absturz"]
    assert "truncated" in caplog.text


async def test_paced_replay_follows_the_recorded_timing(tmp_path: Path) -> None:
    sessions, _ = _stream_frames()
    path = write_capture(tmp_path / "stream.lpcap", sessions, step=0.5)
    started = time.perf_counter()
    source = CaptureSource(path, speed=200.0)  # 12 s of stream in about 60 ms
    events = [event async for event in source.events()]
    elapsed = time.perf_counter() - started
    assert elapsed >= 0.05
    assert [e.type for e in events] == [e.type for e in await _replay(path)]
    assert all(e.received == e.at for e in events)  # re-stamped with replay time
    with pytest.raises(ValueError, match="speed"):
        CaptureSource(path, speed=-1)
