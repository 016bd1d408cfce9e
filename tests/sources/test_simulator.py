from __future__ import annotations

import collections
import itertools
import re

from livepilot.events import ChatEvent, GiftEvent, JoinEvent, LiveEvent, ViewerCountEvent
from livepilot.sources.simulator import Simulator
from livepilot.testing import FakeClock


async def collect(sim: Simulator) -> list[LiveEvent]:
    return [event async for event in sim.events()]


async def test_same_seed_same_stream_other_seed_other_stream() -> None:
    a = await collect(Simulator(seed=7, speed=0, duration=120, start=0))
    b = await collect(Simulator(seed=7, speed=0, duration=120, start=0))
    c = await collect(Simulator(seed=8, speed=0, duration=120, start=0))
    assert a == b
    assert a != c


async def test_a_realistic_mix_of_everything_a_stream_has() -> None:
    events = await collect(Simulator(seed=3, speed=0, duration=900, start=0))
    kinds = collections.Counter(e.type for e in events)
    for kind in ("chat", "gift", "join", "like", "follow", "viewers", "status"):
        assert kinds[kind] > 0, kind
    texts = [e.text for e in events if isinstance(e, ChatEvent)]
    german = sum(bool(re.search(r"[äöüß]|\b(ich|du|das|ist|wie|kein)\b", t, re.I)) for t in texts)
    english = sum(bool(re.search(r"\b(the|you|how|is|it|from)\b", t, re.I)) for t in texts)
    assert german > len(texts) * 0.2 and english > len(texts) * 0.05
    assert any("?" in t for t in texts)
    assert any(
        re.search(r"h\W*u?\W*r\W*e\W*n\W*s\W*[o0]\W*h\W*n", t) and t != "du hurensohn"
        for t in texts
    )
    # a spam burst: the same text from a few never-seen accounts within seconds (users
    # look as TikTok sends them: no account age)
    by_text = collections.defaultdict(set)
    for e in events:
        if isinstance(e, ChatEvent) and re.fullmatch(r"user\d{8}", e.user.unique_id):
            by_text[e.text].add(e.user.id)
    assert max(len(users) for users in by_text.values()) >= 2
    assert not any(isinstance(e, ChatEvent) and e.user.new_account for e in events)
    # timestamps never go backwards and ids are unique
    assert all(x.at <= y.at for x, y in itertools.pairwise(events))
    assert len({e.id for e in events}) == len(events)


async def test_gift_streaks_progress_and_end_exactly_once() -> None:
    events = await collect(Simulator(seed=5, speed=0, duration=600, start=0))
    streaks: dict[str, list[GiftEvent]] = collections.defaultdict(list)
    for e in events:
        if isinstance(e, GiftEvent) and e.streak_id:
            streaks[e.streak_id].append(e)
    assert streaks
    for parts in streaks.values():
        assert [p.count for p in parts] == list(range(1, len(parts) + 1))
        assert [p.final for p in parts].count(True) == 1 and parts[-1].final


async def test_viewer_curve_rises_then_drops() -> None:
    events = await collect(Simulator(seed=1, speed=0, duration=900, start=0, cycle=900))
    counts = [(e.at, e.count) for e in events if isinstance(e, ViewerCountEvent)]
    peak_at, peak = max(counts, key=lambda c: c[1])
    assert counts[0][1] < peak * 0.2
    assert counts[-1][1] < peak * 0.7 and counts[-1][0] > peak_at


async def test_speed_scales_the_pauses() -> None:
    clock = FakeClock(start=100.0)
    slept: list[float] = []

    class Fast(Simulator):
        pass

    sim = Fast(seed=1, speed=10, duration=20, clock=clock)
    import livepilot.sources.simulator as module

    async def fake_sleep(delay: float) -> None:
        slept.append(delay)
        clock.advance(delay)

    original = module.asyncio.sleep
    module.asyncio.sleep = fake_sleep  # type: ignore[assignment]
    try:
        events = await collect(sim)
    finally:
        module.asyncio.sleep = original  # type: ignore[assignment]
    # 20 simulated seconds at 10x take ~2 s of (fake) wall time, stamped with that time
    assert 1.5 < clock.now() - 100.0 <= 2.2
    assert events[-1].at == clock.now()


async def test_raids_are_tiktok_shaped_and_leave_the_rest_of_the_stream_alone() -> None:
    events = await collect(Simulator(seed=4, speed=0, duration=400, start=0, raids=True))
    plain = await collect(Simulator(seed=4, speed=0, duration=400, start=0))
    bots = [e for e in events if isinstance(e, ChatEvent) and e.user.id.isdigit()]
    assert 25 <= len(bots) <= 35
    assert max(e.at for e in bots) - min(e.at for e in bots) <= 18
    assert 180 <= min(e.at for e in bots) <= 200  # a fifth into the 900 s cycle
    joined = {e.user.id: e.at for e in events if isinstance(e, JoinEvent)}
    assert all(0 < b.at - joined[b.user.id] <= 12 for b in bots)
    assert all(not b.user.new_account and not b.user.badges for b in bots)
    assert len({b.text for b in bots}) > 5  # near-identical, not identical
    others = [e for e in events if not (isinstance(e, ChatEvent | JoinEvent)
                                        and e.user.id.isdigit())]
    assert [e.model_dump(exclude={"id"}) for e in others] == [
        e.model_dump(exclude={"id"}) for e in plain]
