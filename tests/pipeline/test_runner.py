from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence

import pytest

from livepilot.clock import EventClock
from livepilot.events import ChatEvent, GapEvent, LiveEvent
from livepilot.insights import Insight
from livepilot.metrics import Metrics
from livepilot.pipeline.ingest import IngestQueue
from livepilot.pipeline.runner import Pipeline, StreamRunner, _next_on_grid, tick_phase
from livepilot.pipeline.stage import Draft, Outbox
from livepilot.testing import EventFactory, FakeClock, ListSink
from livepilot.wire import WireMessage


class Boom:
    name = "boom"

    def process(self, event: LiveEvent, draft: Draft) -> None:
        if isinstance(event, ChatEvent) and "boom" in event.text:
            raise RuntimeError("stage bug")

    def tick(self, now: float, out: Outbox) -> None:
        pass


class Tagger:
    name = "tagger"

    def __init__(self) -> None:
        self.ticks: list[float] = []

    def process(self, event: LiveEvent, draft: Draft) -> None:
        if isinstance(event, ChatEvent):
            draft.label("seen", self.name)

    def tick(self, now: float, out: Outbox) -> None:
        self.ticks.append(now)


async def aiter_of(events: Sequence[LiveEvent]) -> AsyncIterator[LiveEvent]:
    for event in events:
        yield event


def test_a_failing_stage_is_contained_and_counted() -> None:
    metrics = Metrics()
    pipeline = Pipeline([Boom(), Tagger()], metrics)
    f = EventFactory(FakeClock())
    out = pipeline.handle(f.chat("anna", "boom"), now=0)
    assert out[0].type == "chat"
    insight = out[1]
    assert isinstance(insight, Insight) and insight.label_names == ["seen"]
    assert metrics.registry.get_sample_value("livepilot_stage_errors_total", {"stage": "boom"}) == 1


def test_stage_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        Pipeline([Tagger(), Tagger()], Metrics())


async def test_runner_keeps_order_and_ticks_in_event_time() -> None:
    clock = FakeClock(start=1000.0)
    f = EventFactory(clock)
    events: list[LiveEvent] = []
    for i in range(5):
        events.append(f.chat("anna", f"msg {i}"))
        clock.advance(2.5)
    tagger = Tagger()
    sink = ListSink()
    runner = StreamRunner(
        "test", aiter_of(events), Pipeline([tagger], Metrics()), sink, EventClock(), Metrics()
    )
    await runner.run()
    chats = [m for m in sink.messages if m.type == "chat"]
    assert [c.text for c in chats] == [f"msg {i}" for i in range(5)]  # type: ignore[union-attr]
    # every chat is immediately followed by its insight
    for i, message in enumerate(sink.messages):
        if message.type == "chat":
            follower = sink.messages[i + 1]
            assert isinstance(follower, Insight) and follower.event_id == message.id
    # events span 1000..1010: one tick per elapsed second, in event time, plus the final one
    assert tagger.ticks[:3] == [1001.0, 1002.0, 1003.0]
    assert tagger.ticks[-2:] == [1010.0, 1010.0]


async def test_full_queue_merges_likes_but_never_drops_chat() -> None:
    metrics = Metrics()
    queue = IngestQueue("s", maxsize=4, metrics=metrics)
    f = EventFactory(FakeClock(), stream="s")
    for i in range(4):
        await queue.put(f.chat("anna", f"c{i}"))
    for _ in range(10):
        await queue.put(f.like("bob", 5))  # queue is full: merged, not queued, not lost
    blocked = asyncio.create_task(queue.put(f.chat("cem", "late chat")))
    await asyncio.sleep(0.01)
    assert not blocked.done()  # chat waits for room instead of being dropped
    got = [await queue.get() for _ in range(6)]
    await blocked
    kinds = [e.type for e in got if e is not None]
    texts = [e.text for e in got if isinstance(e, ChatEvent)]
    assert texts == ["c0", "c1", "c2", "c3", "late chat"]
    likes = [e for e in got if e is not None and e.type == "like"]
    assert len(likes) == 1 and likes[0].count == 50  # type: ignore[union-attr]
    assert kinds.count("like") == 1
    merged = metrics.registry.get_sample_value(
        "livepilot_coalesced_events_total", {"stream": "s", "type": "like"}
    )
    assert merged == 10


async def test_closed_queue_delivers_pending_merges_before_the_end() -> None:
    queue = IngestQueue("s", maxsize=1, metrics=Metrics())
    f = EventFactory(FakeClock(), stream="s")
    await queue.put(f.chat("a", "x"))
    await queue.put(f.join("b"))
    await queue.put(f.join("c"))
    closing = asyncio.create_task(queue.close())
    first = await queue.get()
    await closing
    rest = []
    while (item := await queue.get()) is not None:
        rest.append(item)
    assert isinstance(first, ChatEvent)
    assert [(e.type, e.count) for e in rest] == [("join", 2)]  # type: ignore[union-attr]


class Slow:
    """A stage that burns CPU on messages saying "slow" (as a stuck regex or model would)."""

    name = "slow"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def process(self, event: LiveEvent, draft: Draft) -> None:
        if isinstance(event, ChatEvent) and "slow" in event.text:
            until = time.perf_counter() + self.seconds
            while time.perf_counter() < until:
                pass

    def tick(self, now: float, out: Outbox) -> None:
        pass


def test_a_stage_over_its_budget_is_counted_and_named(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    pipeline = Pipeline([Tagger(), Slow(0.004)], metrics, budget=0.002)
    f = EventFactory(FakeClock())
    for text in ("fast", "slow one", "slow two", "fast again", "slow three"):
        pipeline.handle(f.chat("anna", text), now=0)
    overruns = metrics.registry.get_sample_value(
        "livepilot_stage_budget_overruns_total", {"stage": "slow"}
    )
    assert overruns == 3  # every overrun on every event is counted (no sampling) ...
    assert metrics.registry.get_sample_value(
        "livepilot_stage_budget_overruns_total", {"stage": "tagger"}
    ) in (None, 0)
    warnings = [r for r in caplog.records if "over its 2 ms budget" in r.getMessage()]
    assert len(warnings) == 1  # ... and named in a warning at most once a minute
    assert "stage slow took" in warnings[0].getMessage()
    assert "test-2" in warnings[0].getMessage()  # the event it happened on
    with pytest.raises(ValueError, match="budget"):
        Pipeline([Tagger()], metrics, budget=0)


async def test_a_slow_stage_does_not_hold_the_loop_for_a_run_of_events() -> None:
    """After an event over budget the runner hands the loop back at once, so other tasks
    (client relays) run between slow events rather than after sixteen of them."""
    f = EventFactory(FakeClock())
    events: list[LiveEvent] = [f.chat("anna", f"slow {i}") for i in range(12)]
    beats: list[int] = []
    done = asyncio.Event()
    sink = ListSink()

    async def heartbeat() -> None:
        while not done.is_set():
            beats.append(len(sink.messages))
            await asyncio.sleep(0)

    metrics = Metrics()
    runner = StreamRunner(
        "test",
        aiter_of(events),
        Pipeline([Slow(0.003)], metrics, budget=0.002),
        sink,
        EventClock(),
        metrics,
    )
    beat = asyncio.create_task(heartbeat())
    await runner.run()
    done.set()
    await beat
    seen = {b for b in beats if 0 < b < len(sink.messages)}
    assert len(seen) >= 8  # the heartbeat ran between (nearly) every two events


async def test_a_gap_is_counted_once_by_cause_and_length() -> None:
    clock = FakeClock(start=1000.0)
    f = EventFactory(clock)
    gap = GapEvent(
        id="gap-1",
        stream="test",
        at=1030.0,
        received=1030.0,
        start=1004.0,
        end=1030.0,
        cause="watchdog",
    )
    metrics = Metrics()
    sink = ListSink()
    runner = StreamRunner(
        "test",
        aiter_of([f.chat("anna", "hallo"), gap]),
        Pipeline([Tagger()], metrics),
        sink,
        EventClock(),
        metrics,
    )
    await runner.run()
    labels = {"stream": "test", "cause": "watchdog"}
    sample = metrics.registry.get_sample_value
    assert sample("livepilot_data_gaps_total", labels) == 1
    assert sample("livepilot_data_gap_seconds_total", labels) == 26.0
    # One source of truth: no source-specific twin of the counter exists.
    assert sample("livepilot_tiktok_data_gaps_total", labels) is None


class CallSink(ListSink):
    """A ListSink that also keeps each publish call's messages apart."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[str]] = []

    async def __call__(self, messages: Sequence[WireMessage]) -> None:
        self.calls.append([m.type for m in messages])
        await super().__call__(messages)


async def test_queued_events_are_published_together_in_order() -> None:
    """What is already queued behind an event goes out with it in one publish (at most
    64 events each), in order, every chat still followed by its insight."""
    f = EventFactory(FakeClock())
    events: list[LiveEvent] = [f.chat("anna", f"msg {i}") for i in range(150)]
    sink = CallSink()
    runner = StreamRunner(
        "test", aiter_of(events), Pipeline([Tagger()], Metrics()), sink, EventClock(),
        Metrics(), queue_size=1_000,
    )
    await runner.run()
    chats = [m for m in sink.messages if isinstance(m, ChatEvent)]
    assert [c.text for c in chats] == [f"msg {i}" for i in range(150)]
    assert all(sink.calls[i][:2] == ["chat", "insight"] for i in range(len(sink.calls)))
    per_call = [call.count("chat") for call in sink.calls if "chat" in call]
    assert max(per_call) <= 64
    assert len(per_call) < 150 / 8  # batches, not one publish per event
    assert runner.processed == 150


async def test_an_idle_stream_publishes_each_event_on_its_own() -> None:
    f = EventFactory(FakeClock())
    events: list[LiveEvent] = [f.chat("anna", f"msg {i}") for i in range(5)]

    async def trickle() -> AsyncIterator[LiveEvent]:
        for event in events:
            await asyncio.sleep(0.01)  # the consumer catches up between events
            yield event

    sink = CallSink()
    runner = StreamRunner(
        "test", trickle(), Pipeline([Tagger()], Metrics()), sink, EventClock(), Metrics()
    )
    await runner.run()
    assert [call for call in sink.calls if "chat" in call] == [["chat", "insight"]] * 5


async def test_poll_takes_what_waits_and_leaves_the_end_to_get() -> None:
    queue = IngestQueue("s", maxsize=10, metrics=Metrics())
    f = EventFactory(FakeClock(), stream="s")
    assert queue.poll() is None  # nothing waiting: no wait, no end either
    await queue.put(f.chat("a", "x"))
    await queue.close()
    first = queue.poll()
    assert isinstance(first, ChatEvent) and first.text == "x"
    assert queue.poll() is None  # the end marker ...
    assert queue.poll() is None
    assert await asyncio.wait_for(queue.get(), 1) is None  # ... is answered by get()


def test_streams_tick_at_phases_spread_over_the_second() -> None:
    for count in (2, 5, 20, 100):
        phases = [tick_phase() for _ in range(count)]
        assert all(0 <= phase < 1 for phase in phases)
        # However many streams (and whichever came before): spread evenly, never many in
        # one slice of the second (they used to tick all at once).
        slices = [sum(1 for p in phases if k / count <= p < (k + 1) / count)
                  for k in range(count)]
        assert max(slices) <= 3, (count, slices)
    # The grid: the first instant phase + k·interval strictly after a time.
    assert _next_on_grid(10.3, 1.0, 0.5) == 10.5
    assert _next_on_grid(10.5, 1.0, 0.5) == 11.5
    assert _next_on_grid(10.3, 0.5, 0.2) == pytest.approx(10.7)


async def test_a_live_runner_ticks_on_its_phase() -> None:
    ticks: list[float] = []

    class Ticking:
        name = "ticking"

        def process(self, event: LiveEvent, draft: Draft) -> None:
            pass

        def tick(self, now: float, out: Outbox) -> None:
            ticks.append(asyncio.get_running_loop().time())

    async def forever() -> AsyncIterator[LiveEvent]:
        await asyncio.Event().wait()  # a source that stays quiet: only ticks happen
        return
        yield

    metrics = Metrics()
    interval = 0.4
    runner = StreamRunner("phased", forever(), Pipeline([Ticking()], metrics), ListSink(),
                          FakeClock(), metrics, tick_interval=interval)
    task = asyncio.create_task(runner.run())
    try:
        for _ in range(600):
            if len(ticks) >= 3:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert len(ticks) >= 3
    phase = runner.tick_phase * interval
    # Ticks land on the stream's own place in the interval, late by what a loaded box
    # adds (never early): the closest is well within half an interval of it.
    offsets = [(at - phase + 1e-6) % interval for at in ticks]
    assert min(offsets) < interval / 2, (ticks, phase)
