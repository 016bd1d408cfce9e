"""Runs the stage chain over one stream's events.

``Pipeline`` is the synchronous core: one event in, the messages to publish out (the event,
its insight, any alarms and prompts). ``StreamRunner`` is the async shell: one task per
stream that pumps a source into a bounded :class:`IngestQueue`, runs the pipeline on each
event and publishes the results. A failing stage is contained: logged, counted, and the
event still flows with what the other stages concluded.

Every stage's time on every event is checked against a budget (``stage_budget_ms``): one
clock read per stage, so it costs next to nothing; only one event in
``STAGE_TIMING_SAMPLE`` also goes into the timing histogram. A stage over budget is
counted (``livepilot_stage_budget_overruns{stage}``) and named in a warning, at most once
a minute per stage. A stage's ``process`` is synchronous and cannot be interrupted, so
the design keeps heavy work off the loop (the model lane runs on its own thread) and the
runner hands the loop back to the other tasks (WebSocket relays, the lane's consumer)
after every 16 events or as soon as the events since the last hand-back took a budget's
worth of time — one slow event never starts a long run of them.

The runner publishes in batches: with an event, it takes the events already queued behind
it (at most 64, and no more once the stages spent 2 ms on the batch) and publishes all
their messages at once, in order. An idle stream publishes each event on its own, as
before; a busy one pays the bus, the hub and every console once per batch, not once per
event, which is what keeps fan-out to many consoles from falling behind under load.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from prometheus_client import Counter, Histogram

from livepilot.clock import Clock, EventClock
from livepilot.events import (
    ChatEvent,
    CommandEvent,
    GapEvent,
    LiveEvent,
    StatusEvent,
    StreamState,
)
from livepilot.insights import Insight
from livepilot.metrics import STAGE_TIMING_SAMPLE, Metrics
from livepilot.pipeline.ingest import IngestQueue
from livepilot.pipeline.stage import BackgroundStage, Draft, Outbox, RevisingStage, Stage
from livepilot.wire import WireMessage

__all__ = ["Pipeline", "Publish", "StreamRunner", "tick_phase"]

log = logging.getLogger(__name__)

#: The states ``livepilot_stream_state`` has a series for: before the source's first
#: status event, then every state a source reports.
_STATES = ("starting", *(state.value for state in StreamState))

#: Where results go: the bus in a server, stdout in headless replay, a list in tests.
Publish = Callable[[Sequence[WireMessage]], Awaitable[None]]


class Pipeline:
    """The ordered stage chain and the bookkeeping around it (timing, containment)."""

    def __init__(self, stages: Sequence[Stage], metrics: Metrics, *,
                 budget: float = 0.05) -> None:
        names = [stage.name for stage in stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique, got {names}")
        if budget <= 0:
            raise ValueError(f"the stage budget must be positive, got {budget}")
        self.stages = tuple(stages)
        self._metrics = metrics
        self._timers = [metrics.stage_seconds.labels(s.name) for s in self.stages]
        self._errors = [metrics.stage_errors.labels(s.name) for s in self.stages]
        #: Seconds one stage may take on one event (or tick) before it is reported.
        self.budget = budget
        self._budgets = [_Budget(s.name, metrics.stage_overruns.labels(s.name), budget)
                         for s in self.stages]
        self._revisers = [(s, e) for s, e in zip(self.stages, self._errors, strict=True)
                          if isinstance(s, RevisingStage)]
        # Label counters by (stage, label): a handful of pairs, looked up per message.
        self._label_counters: dict[tuple[str, str], Counter] = {}
        self._handled = 0
        #: Seconds spent in handle() since the runner last reset it (when it yielded).
        self.held = 0.0

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)

    def handle(self, event: LiveEvent, now: float) -> list[WireMessage]:
        """Run every stage on ``event``; return the event, its insight, alarms, prompts."""
        draft = Draft(event=event, now=now)
        timed = self._handled % STAGE_TIMING_SAMPLE == 0  # the first event, then one in N
        self._handled += 1
        budget = self.budget
        started = clock = time.perf_counter()
        for stage, timer, errors, watch in zip(
            self.stages, self._timers, self._errors, self._budgets, strict=True
        ):
            try:
                stage.process(event, draft)
            except Exception:
                self._contain(stage, errors, event)
            after = time.perf_counter()
            spent = after - clock
            if timed:
                timer.observe(spent)
            if spent > budget:
                watch.overrun(spent, after, f"event {event.id}")
            clock = after
        self.held += clock - started
        out: list[WireMessage] = []
        if not isinstance(event, CommandEvent):
            out.append(event)
        if isinstance(event, ChatEvent) or draft.notable:
            insight = draft.freeze()
            for label in insight.labels:
                self._count_label(label.source, label.name)
            out.append(insight)
        self._collect(draft.out, out)
        return out

    @staticmethod
    def _contain(stage: Stage, errors: Counter, event: LiveEvent) -> None:
        errors.inc()
        log.error("stage %s failed on event %s", stage.name, event.id, exc_info=True)

    def _count_label(self, stage: str, name: str) -> None:
        counter = self._label_counters.get((stage, name))
        if counter is None:
            counter = self._label_counters[stage, name] = self._metrics.labels.labels(stage, name)
        counter.inc()

    def tick(self, now: float) -> list[WireMessage]:
        box = Outbox()
        clock = time.perf_counter()
        for stage, errors, watch in zip(self.stages, self._errors, self._budgets, strict=True):
            try:
                stage.tick(now, box)
            except Exception:
                errors.inc()
                log.error("stage %s failed on tick", stage.name, exc_info=True)
            after = time.perf_counter()
            if after - clock > self.budget:
                watch.overrun(after - clock, after, "tick")
            clock = after
        out: list[WireMessage] = []
        self._collect(box, out)
        return out

    def _collect(self, box: Outbox, out: list[WireMessage]) -> None:
        for alarm in box.alarms:
            self._metrics.alarms.labels(alarm.stream, alarm.kind, alarm.state).inc()
            out.append(alarm)
        for prompt in box.prompts:
            self._metrics.prompts.labels(prompt.stream).inc()
            out.append(prompt)
        out.extend(box.tallies)
        out.extend(box.decisions)
        out.extend(box.pins)

    def revise(self, insights: Sequence[Insight], now: float) -> list[WireMessage]:
        """Late insight updates as the stages that own state on their events make them
        (:class:`RevisingStage`, in chain order), then what those stages publish."""
        box = Outbox()
        out: list[WireMessage] = []
        for insight in insights:
            for stage, errors in self._revisers:
                try:
                    insight = stage.revise(insight, now, box)
                except Exception:
                    errors.inc()
                    log.error("stage %s failed to revise the update of %s", stage.name,
                              insight.event_id, exc_info=True)
            out.append(insight)
        self._collect(box, out)
        return out

    @property
    def background(self) -> list[BackgroundStage]:
        return [s for s in self.stages if isinstance(s, BackgroundStage)]


class _Budget:
    """One stage's overruns: each counted, a warning at most once per ``_REPORT_EVERY``."""

    __slots__ = ("_counter", "_last", "_limit", "_name", "_quiet")

    def __init__(self, name: str, counter: Counter, limit: float) -> None:
        self._name = name
        self._counter = counter
        self._limit = limit
        self._last = float("-inf")
        self._quiet = 0  # overruns since the last warning

    def overrun(self, spent: float, now: float, where: str) -> None:
        self._counter.inc()
        if now - self._last < _REPORT_EVERY:
            self._quiet += 1
            return
        log.warning(
            "stage %s took %.1f ms on %s, over its %.0f ms budget (%d more overruns since "
            "the last warning)", self._name, spent * 1000, where, self._limit * 1000,
            self._quiet,
        )
        self._last = now
        self._quiet = 0


#: At most one budget warning per stage in this many seconds (every overrun is counted).
_REPORT_EVERY = 60.0
#: A batch of already-queued events published together: at most this many events, and
#: no more once the stages spent this long on it (seconds).
_BATCH_EVENTS = 64
_BATCH_S = 0.002


def tick_phase() -> float:
    """Where in each tick interval the next stream of this process ticks, as a fraction
    in [0, 1): k·φ mod 1 for the k-th stream (φ the golden ratio), so any number of
    streams, started and ended in any order, stays spread evenly over the interval (a
    hash of the name clusters: seven of twenty in one tenth of a second)."""
    return (next(_runners) * _GOLDEN) % 1.0


_GOLDEN = (5**0.5 - 1) / 2
_runners = itertools.count()


def _next_on_grid(after: float, interval: float, phase: float) -> float:
    """The first instant ``phase + k * interval`` (k whole) strictly later than ``after``."""
    return phase + (math.floor((after - phase) / interval) + 1) * interval


class StreamRunner:
    """One stream: source → ingest queue → pipeline → publish.

    With ``event_time=True`` (replay) the clock is moved to each event's own time and
    ticks are derived from it, so results do not depend on how fast the machine is.
    Otherwise a ticker calls the stages' ``tick`` once a second of wall time, at a
    moment of the second of its own (:func:`tick_phase`).
    """

    def __init__(
        self,
        stream: str,
        source: AsyncIterator[LiveEvent],
        pipeline: Pipeline,
        publish: Publish,
        clock: Clock,
        metrics: Metrics,
        *,
        queue_size: int = 10_000,
        tick_interval: float = 1.0,
        commands: AsyncIterator[CommandEvent] | None = None,
    ) -> None:
        self.stream = stream
        self._source = source
        self._pipeline = pipeline
        self._publish = publish
        self._clock = clock
        self._metrics = metrics
        #: Where in each tick interval this stream's live ticks fall (a fraction).
        self.tick_phase = tick_phase()
        # In event time (a replay) nothing is live to protect: a full queue waits rather
        # than merging likes/joins, so a replay stores the same numbers at any speed.
        self._queue = IngestQueue(
            stream, queue_size, metrics, coalesce=not isinstance(clock, EventClock)
        )
        self._tick_interval = tick_interval
        self._commands = commands
        self._event_time = isinstance(clock, EventClock)
        self._next_tick: float | None = None
        self._events = metrics.events
        self._pump_task: asyncio.Task[None] | None = None
        self._drained = False
        self.processed = 0
        #: The stream's connection state as its source last reported it.
        self.state: str = "starting"
        self._show_state("starting")
        # At 0 from the start, so the dashboard and alerts see "no restarts", not "no data"
        # (the service counts them; a restarted stream gets a new runner: same series).
        metrics.pipeline_restarts.labels(stream)

    @property
    def pipeline(self) -> Pipeline:
        return self._pipeline

    @property
    def queued(self) -> int:
        """Events waiting in the ingest queue (what a crash or a cut-short drain loses)."""
        return self._queue.qsize()

    def take_queued(self) -> list[LiveEvent]:
        """Take every event still queued, unprocessed (see ``IngestQueue.take_all``)."""
        return self._queue.take_all()

    async def submit(self, event: LiveEvent) -> None:
        """Feed an extra event (e.g. a moderator command) into this stream's queue."""
        await self._queue.put(event)

    async def run(self) -> None:
        """Run until the source ends and the queue is drained."""
        log.info("stream %s: pipeline started (%d stages)", self.stream, len(self._pipeline.stages))
        async with asyncio.TaskGroup() as tg:
            consumer = tg.create_task(self._consume(), name=f"pipeline:{self.stream}")
            helpers = [
                tg.create_task(stage.run(self._publish_late), name=f"stage:{stage.name}")
                for stage in self._pipeline.background
            ]
            if not self._event_time:
                helpers.append(tg.create_task(self._ticker(), name=f"ticker:{self.stream}"))
            if self._commands is not None:
                helpers.append(tg.create_task(self._pump_commands(self._commands)))
            self._pump_task = tg.create_task(self._pump(self._source), name=f"source:{self.stream}")
            try:
                await asyncio.wait({self._pump_task})
            finally:
                await self._queue.close()
            await consumer
            self._drained = True
            await self._drain_background()
            for task in helpers:
                task.cancel()
        log.info("stream %s: pipeline drained (%d events)", self.stream, self.processed)

    async def _drain_background(self, deadline: float = 30.0) -> None:
        for stage in self._pipeline.background:
            try:
                await asyncio.wait_for(stage.drain(), deadline)
            except TimeoutError:
                log.warning("stage %s did not drain within %.0f s", stage.name, deadline)
            except Exception:
                log.error("stage %s failed to drain", stage.name, exc_info=True)

    def stop_source(self) -> None:
        """Stop reading the source; what is queued still goes through the pipeline."""
        if self._pump_task is not None:
            self._pump_task.cancel()

    async def _publish_late(self, messages: Sequence[Insight | CommandEvent]) -> None:
        insights: list[Insight] = []
        for message in messages:
            if isinstance(message, CommandEvent):
                if not self._drained:  # after the end there is no stage left to apply it
                    await self._queue.put(message)
            else:
                insights.append(message)
        if insights:
            await self._publish(self._pipeline.revise(insights, self._clock.now()))

    async def _pump(self, source: AsyncIterator[LiveEvent]) -> None:
        try:
            async for event in source:
                await self._queue.put(event)
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _pump_commands(self, commands: AsyncIterator[CommandEvent]) -> None:
        async for command in commands:
            await self._queue.put(command)

    async def _ticker(self) -> None:
        # Ticks fall on a fixed grid of the loop's clock, shifted by the stream's phase:
        # twenty streams on one worker tick at twenty different
        # moments of the second instead of all at once (their ticks back to back would
        # hold the loop for the sum of them, and every event waiting behind).
        loop = asyncio.get_running_loop()
        interval = self._tick_interval
        phase = self.tick_phase * interval
        due = _next_on_grid(loop.time(), interval, phase)
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            out = self._pipeline.tick(self._clock.now())
            if out:
                await self._publish(out)
            # A late tick (a busy loop) is not repeated to catch up: the next falls on
            # the grid again.
            due = _next_on_grid(max(due, loop.time()), interval, phase)

    async def _consume(self) -> None:
        pipeline, queue = self._pipeline, self._queue
        latency = self._metrics.pipeline_latency
        # The events counter and the latency histogram by type, looked up once per type.
        metered: dict[str, tuple[Counter, Histogram]] = {}
        live = not self._event_time
        since_yield = 0
        while (event := await queue.get()) is not None:
            # What is already queued behind this event goes out with it, as one publish:
            # the bus, the hub and every console pay per batch, not per event. The batch
            # ends when nothing more is waiting, after _BATCH_EVENTS, or once the stages
            # held the loop for _BATCH_S (the first event's added delay stays small).
            out: list[WireMessage] = []
            received: list[tuple[float, Histogram]] = []
            held = pipeline.held
            count = 0
            while True:
                meters = metered.get(event.type)
                if meters is None:
                    meters = metered[event.type] = (
                        self._events.labels(self.stream, event.type), latency.labels(event.type)
                    )
                meters[0].inc()
                out.extend(self._one(event))
                count += 1
                if live:
                    received.append((event.received, meters[1]))
                if count >= _BATCH_EVENTS or pipeline.held - held >= _BATCH_S:
                    break
                follower = queue.poll()
                if follower is None:
                    break
                event = follower
            if out:
                await self._publish(out)
            self.processed += count
            since_yield += count
            if since_yield >= 16 or pipeline.held >= pipeline.budget:
                # A backlog burst must not starve the client relays: yield now and then
                # (16 events of the full chain hold the loop for ~3-5 ms), and at once
                # after a slow event.
                pipeline.held = 0.0
                since_yield = 0
                await asyncio.sleep(0)
            if live:
                now = self._clock.now()
                for at, histogram in received:
                    histogram.observe(max(0.0, now - at))
        if self._event_time:
            # Let time-based stages conclude on the last second of the recording.
            final = self._pipeline.tick(self._clock.now())
            if final:
                await self._publish(final)

    def _one(self, event: LiveEvent) -> list[WireMessage]:
        """One event through the stages: what it publishes, after any ticks it is due."""
        out: list[WireMessage] = self._advance(event.at) if self._event_time else []
        now = self._clock.now()
        if isinstance(event, StatusEvent):
            self.state = event.state.value
            self._metrics.stream_up.labels(self.stream).set(
                1 if event.state is StreamState.CONNECTED else 0
            )
            self._show_state(self.state)
        elif isinstance(event, GapEvent):
            self._metrics.data_gaps.labels(self.stream, event.cause).inc()
            self._metrics.data_gap_seconds.labels(self.stream, event.cause).inc(event.seconds)
        out.extend(self._pipeline.handle(event, now))
        return out

    def _show_state(self, state: str) -> None:
        """One series per known state, 1 for the current one: a dashboard shows a stream
        that is offline or ended as such, not merely as "not connected"."""
        gauge = self._metrics.stream_state
        for known in _STATES:
            gauge.labels(self.stream, known).set(1 if known == state else 0)

    def _advance(self, at: float) -> list[WireMessage]:
        """Move replay time to ``at``, ticking once per elapsed interval on the way."""
        assert isinstance(self._clock, EventClock)
        out: list[WireMessage] = []
        if self._next_tick is None:
            self._next_tick = math.floor(at) + self._tick_interval
        # Long silences (a paused stream) are ticked through in bounded steps: at most
        # one tick per interval, and never more than an hour of them at once.
        budget = int(3600 / self._tick_interval)
        while self._next_tick <= at and budget > 0:
            self._clock.advance_to(self._next_tick)
            out.extend(self._pipeline.tick(self._next_tick))
            self._next_tick += self._tick_interval
            budget -= 1
        if self._next_tick <= at:
            self._next_tick = math.floor(at) + self._tick_interval
        self._clock.advance_to(at)
        return out
