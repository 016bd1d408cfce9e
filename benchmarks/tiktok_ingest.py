"""TikTok ingestion cost per message (µs, median and spread over repetitions).

A deterministic stream mix (50 % chat, 20 % likes, 10 % joins, 10 % gift streak
messages, 10 % viewer counts; 500 users; 5 messages per gzip'ed WebSocket frame) goes
through TikTokLive's own decoding (push frame → gunzip → protobuf → library events) and
then through livepilot's mapping and tracker (de-duplication, streaks). The baseline,
measured in the same run, is TikTokLive's stock decoding alone. The other rows show the
same decoding with livepilot's validator cache (see ``livepilot.sources.tiktok._lib``),
and the whole ingestion path as livepilot runs it. Run:
``.venv/bin/python benchmarks/tiktok_ingest.py``.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from typing import Any

from livepilot.sources.tiktok._lib import lib, validation_cache
from livepilot.sources.tiktok.client import FrameDecoder
from livepilot.sources.tiktok.mapping import Mapper
from livepilot.sources.tiktok.testing import Frames, push_frame
from livepilot.sources.tiktok.tracker import Tracker

FRAMES = 2_000
PER_FRAME = 5
REPEAT = 5
TEXTS = ["Hallo zusammen!", "Wie teuer ist das?", "schönes Outfit", "haha 😂", "hi from London"]


def _frames(seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    f = Frames()
    users = [f.user(f"user{i}", 10_000 + i) for i in range(500)]
    streaks: dict[int, int] = {}
    out: list[bytes] = []
    for _ in range(FRAMES):
        batch: list[Any] = []
        for _ in range(PER_FRAME):
            roll = rng.random()
            user = rng.choice(users)
            if roll < 0.5:
                batch.append(f.chat(user, rng.choice(TEXTS)))
            elif roll < 0.7:
                batch.append(f.like(user, rng.randint(1, 15), rng.randint(1_000, 90_000)))
            elif roll < 0.8:
                batch.append(f.join(user))
            elif roll < 0.9:
                group = rng.randint(1, 50)
                count = streaks.get(group, 0) + 1
                end = count >= 5
                streaks[group] = 0 if end else count
                batch.append(f.gift(user, repeat_count=count, repeat_end=end, group_id=group))
            else:
                batch.append(f.viewers(rng.randint(100, 5_000)))
        out.append(push_frame(batch))
    return out


async def _run(frames: list[bytes], full: bool) -> float:
    decoder = FrameDecoder("bench")
    mapper = Mapper("bench")
    tracker = Tracker("bench")
    published = 0
    started = time.perf_counter()
    for index, frame in enumerate(frames):
        events = await decoder.frame(frame)
        if full:
            now = 1_700_000_000.0 + index * 0.1
            for event in events:
                published += len(tracker.accept(mapper.map(event, now), now))
    elapsed = time.perf_counter() - started
    await decoder.close()
    return elapsed / (len(frames) * PER_FRAME) * 1e6


def _row(name: str, samples: list[float]) -> str:
    median = statistics.median(samples)
    return (
        f"| {name} | {median:.1f} | {min(samples):.1f}–{max(samples):.1f} | {1e6 / median:,.0f} |"
    )


async def main() -> None:
    lib()
    frames = _frames()
    await _run(frames[:200], True)  # warm-up: imports, protobuf metadata
    stock: list[float] = []
    cached: list[float] = []
    full: list[float] = []
    for _ in range(REPEAT):
        validation_cache(False)
        stock.append(await _run(frames, False))
        validation_cache(True)
        cached.append(await _run(frames, False))
        full.append(await _run(frames, True))
    print(f"{FRAMES * PER_FRAME:,} TikTok messages in {FRAMES:,} frames, {REPEAT} repetitions\n")
    print("| path | µs per message (median) | spread (min–max) | messages/s (median) |")
    print("| --- | ---: | ---: | ---: |")
    print(_row("TikTokLive 7.0.1 decoding, stock (baseline)", stock))
    print(_row("TikTokLive decoding with livepilot's validator cache", cached))
    print(_row("livepilot ingestion: decoding (cached) + mapping + tracker", full))
    added = statistics.median(full) - statistics.median(cached)
    print(f"\nmapping + tracker add {added:.1f} µs per message; the validator cache makes")
    print(f"decoding {statistics.median(stock) / statistics.median(cached):.1f}× faster.")


if __name__ == "__main__":
    asyncio.run(main())
