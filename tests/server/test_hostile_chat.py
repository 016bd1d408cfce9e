"""A real server replaying hostile chat stays responsive: 20,000-character single-word
messages (and a nickname as long) and a hostile regex dropped into the rules while the
stream runs never hold ``/healthz`` up for more than half a second."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from livepilot.events import LiveEvent, StatusEvent, StreamState, User
from livepilot.sources.replay import ReplaySource
from livepilot.testing import TEST_CONSOLE_TOKEN as CONSOLE_TOKEN
from livepilot.testing import EventFactory, FakeClock, GatedSource, running_server
from livepilot.testing import settings_for_tests as make_settings
from livepilot.wire import encode

RULES = Path(__file__).resolve().parents[2] / "rules"
STREAM = "hostile"
HOSTILE = [
    "a" * 20_000,  # one word: cubic in the model's leetspeak regex before
    "ab" * 10_000,
    "h.u.r.e." * 2_500,  # separated letters: seconds in the link check before
    "h0r3" * 5_000,
    "😂" * 20_000,
    "a-" * 10_000,
    "hurеnsоhn " * 2_000,  # Cyrillic е and о
]
NORMAL = ["hallo zusammen", "wie teuer ist das?", "du bist lustig 😂", "grüße aus köln",
          "gg", "wann kommt der nächste song", "das outfit ist mega"]


def recording(path: Path) -> tuple[Path, list[str]]:
    """Normal chat every 0.1 s for 5 s with the hostile messages spread through it."""
    clock = FakeClock(1_700_000_000.0)
    make = EventFactory(clock, stream=STREAM)
    long_name = User(id="u-long", unique_id="x" * 20_000, nickname="ab" * 10_000)
    events: list[LiveEvent] = []
    hostile = iter(HOSTILE)
    for n in range(50):
        clock.advance(0.1)
        if n % 7 == 3 and (text := next(hostile, None)) is not None:
            events.append(make.chat(long_name if n == 3 else f"troll{n}", text))
        else:
            events.append(make.chat(f"viewer{n % 9}", NORMAL[n % len(NORMAL)]))
    clock.advance(0.1)
    events.append(StatusEvent(id=f"{STREAM}-end", stream=STREAM, at=clock.now(),
                              received=clock.now(), state=StreamState.LIVE_ENDED))
    path.write_text("".join(encode(e) + "\n" for e in events), encoding="utf-8")
    return path, [e.id for e in events if e.type == "chat"]


async def poll_health(base: str, running: asyncio.Event, stop: asyncio.Event,
                      delays: list[float]) -> None:
    """``/healthz`` every 50 ms; what it took counts once the stream runs (the start-up
    before it, with models loading on a cold disk, is not what this test is about)."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        while not stop.is_set():
            counts = running.is_set()
            started = time.perf_counter()
            response = await http.get("/healthz")
            if counts:
                delays.append(time.perf_counter() - started)
            assert response.status_code == 200
            await asyncio.sleep(0.05)


async def test_hostile_chat_and_a_hostile_rule_never_stall_the_server(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    (rules / "streams").mkdir(exist_ok=True)
    path, chat_ids = recording(tmp_path / "hostile.jsonl")
    source = GatedSource(ReplaySource(path, speed=1.0))
    delays: list[float] = []
    got: list[dict[str, Any]] = []
    async with running_server([source], make_settings(rules_dir=rules)) as srv:
        stop = asyncio.Event()
        poller = asyncio.create_task(poll_health(srv.base, source.gate, stop, delays))
        try:
            url = f"{srv.ws}/ws/console?token={CONSOLE_TOKEN}"
            async with connect(url, compression=None, max_size=None) as ws:
                source.gate.set()
                await asyncio.sleep(1.0)
                # The stream is running: a rule that would hang a backtracking engine.
                (rules / "streams" / f"{STREAM}.yaml").write_text(
                    "regex:\n  - {name: evil, pattern: '((a+))+$', category: insult}\n",
                    encoding="utf-8",
                )
                async with asyncio.timeout(30):
                    async for frame in ws:
                        got.extend(json.loads(frame))
                        if any(m.get("type") == "status" and m.get("state") == "live_ended"
                               for m in got):
                            break
        finally:
            stop.set()
            await poller
    assert len(delays) > 50, "/healthz was polled all along"
    assert max(delays) < 0.5, f"/healthz took up to {max(delays) * 1e3:.0f} ms"
    insights = {m["event_id"] for m in got if m.get("type") == "insight"}
    assert set(chat_ids) <= insights, "every message, hostile or not, was judged"
    rejected = [m for m in got if m.get("type") == "alarm" and m["kind"] == "rules_rejected"]
    assert [m["state"] for m in rejected] == ["raised"]
    message = rejected[0]["message"]
    assert f"streams/{STREAM}.yaml" in message and "regex[0] 'evil'" in message
    assert "field 'pattern'" in message and "repeats a repetition" in message
    # the stream went on with the previous rules after the rejection
    at = got.index(rejected[0])
    assert any(m.get("type") == "insight" for m in got[at + 1 :]), "judged after it too"
