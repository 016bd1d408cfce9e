"""Runs the streams: one :class:`StreamRunner` per source, all publishing to one bus.

This is where the parts are wired for a server process (the CLI builds it, the app's
lifespan runs and stops it). Shutdown is ordered: stop the sources, then let each
pipeline drain what it has queued within a deadline.

:class:`StreamService` is the server's :class:`~livepilot.server.state.StreamHost`: the
server reads the stages' live state through it, by view name, and never sees a stage.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from collections.abc import Callable, Coroutine, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

from livepilot.bus.base import Bus
from livepilot.clock import Clock, EventClock, SystemClock
from livepilot.insights import Severity
from livepilot.metrics import Metrics
from livepilot.ml.shared import ModelRegistry
from livepilot.pipeline.alarm import AlarmLatch
from livepilot.pipeline.context import StageContext
from livepilot.pipeline.runner import Publish, StreamRunner
from livepilot.server.state import JSONValue, ViewUnavailable
from livepilot.settings import Settings
from livepilot.sources.base import Source
from livepilot.stages.audience.questions import QuestionsStage
from livepilot.stages.moderation.moderation import ModerationStage
from livepilot.stages.moderation.toxicity import ToxicityStage
from livepilot.stages.registry import build_pipeline
from livepilot.stages.show.engagement import EngagementStage
from livepilot.stages.show.polls import PollsStage

if TYPE_CHECKING:
    from livepilot.store import Recorder, StreamTap

__all__ = ["KEYED_VIEWS", "VIEWS", "KeyedStageView", "StageView", "StreamService"]

log = logging.getLogger(__name__)

_S = TypeVar("_S")


class StageView(NamedTuple):
    """A view: the stage that keeps the state, and its reader ``read(stage, now)``."""

    stage: str
    read: Callable[[object, float], JSONValue]


class KeyedStageView(NamedTuple):
    """A view of one item: the stage, and its reader ``read(stage, key, now)``."""

    stage: str
    read: Callable[[object, str, float], JSONValue]


def _stage_of(kind: type[_S], stage: object, view: str) -> _S:
    if not isinstance(stage, kind):
        raise ViewUnavailable(
            f"view {view!r} reads a stage of type {kind.__name__}, "
            f"not {type(stage).__name__}"
        )
    return stage


def _view(stage: str, kind: type[_S], read: Callable[[_S, float], JSONValue]) -> StageView:
    """A view read by ``read`` from the stage named ``stage``, which must be a ``kind``.

    The reader is type-checked against ``kind`` (mypy sees each lambda's stage type), and
    the stage found under that name is checked against it when the view is read.
    """

    def checked(found: object, now: float) -> JSONValue:
        return read(_stage_of(kind, found, stage), now)

    return StageView(stage, checked)


def _keyed(
    stage: str, kind: type[_S], read: Callable[[_S, str, float], JSONValue]
) -> KeyedStageView:
    def checked(found: object, key: str, now: float) -> JSONValue:
        return read(_stage_of(kind, found, stage), key, now)

    return KeyedStageView(stage, checked)


#: What the API may read from the stages: view name → stage name and typed reader.
VIEWS: Mapping[str, StageView] = MappingProxyType({
    "summary": _view(
        "engagement", EngagementStage, lambda s, now: s.summary().model_dump(mode="json")
    ),
    "rates": _view("engagement", EngagementStage, lambda s, now: s.rates(now)),
    "prompts": _view(
        "engagement",
        EngagementStage,
        lambda s, now: [p.model_dump(mode="json") for p in s.open_prompts(now)],
    ),
    "show": _view("engagement", EngagementStage, lambda s, now: s.cues.snapshot(now)),
    "polls": _view("polls", PollsStage, lambda s, now: s.snapshot()),
    "questions": _view("questions", QuestionsStage, lambda s, now: s.snapshot()),
    "kpi": _view("questions", QuestionsStage, lambda s, now: s.kpi()),
    # Each scorer's status is {"scorer": str, "available": bool, "reason": str}.
    "toxicity": _view("toxicity", ToxicityStage, lambda s, now: cast(JSONValue, s.status)),
    "users": _view("moderation", ModerationStage, lambda s, now: s.watch_list(now)),
    # The review queue: open and handled counts, open items, the latest decisions.
    "review": _view("moderation", ModerationStage, lambda s, now: s.messages.review()),
})

#: Views of one item in a stage's state, served at ``…/{view}/{key}``. ``users/{user_id}``
#: is one user's strike state, ``messages/{event_id}`` one chat message's moderation state;
#: an unknown key reads as a clean state, not an error.
KEYED_VIEWS: Mapping[str, KeyedStageView] = MappingProxyType({
    "users": _keyed("moderation", ModerationStage, lambda s, key, now: s.user_state(key, now)),
    "messages": _keyed("moderation", ModerationStage, lambda s, key, now: s.messages.message(key)),
})


class StreamService:
    """The streams of one process: added before the server starts, run by its lifespan."""

    def __init__(
        self, settings: Settings, bus: Bus, metrics: Metrics, *, recorder: Recorder | None = None
    ) -> None:
        self._settings = settings
        self._bus = bus
        self._metrics = metrics
        #: The models, loaded once and shared by every stream of this process.
        self.models = ModelRegistry()
        #: Records every stream's published messages and commands as stream history.
        self._recorder = recorder
        self._taps: dict[str, StreamTap] = {}
        self._stopping = False
        self._runners: dict[str, StreamRunner] = {}
        #: What a crashed stream restarts from: its source, clock and publish path.
        self._origins: dict[str, tuple[Source, Clock, Publish]] = {}
        #: Each stream's pipeline: starting, running, restarting (crashed), ended, stopped.
        self._pipeline_state: dict[str, str] = {}
        self._restarts: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self.finished = asyncio.Event()
        #: The first restart waits this long, doubling up to 30 s while it keeps crashing.
        self.restart_delay = 1.0
        #: Views of streams that run in other processes (shared over the Redis bus):
        #: stream → view name → value, plus ``_status``.
        self._remote: dict[str, dict[str, Any]] = {}
        self._stop_requested = asyncio.Event()
        #: Long-running helpers others attach (a worker's lease loop): run beside the
        #: streams, cancelled and awaited after they drained.
        self._attached: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._group: asyncio.TaskGroup | None = None
        self._stream_tasks: dict[str, asyncio.Task[None]] = {}
        #: Streams being handed back (their lease was lost): not restarted on a crash.
        self._retiring: set[str] = set()

    def add(self, source: Source, *, event_time: bool = False) -> StreamRunner:
        """Add a stream. ``event_time`` drives its clock from the events' own timestamps."""
        if source.stream in self._runners:
            raise ValueError(f"stream {source.stream!r} was added twice")
        clock: Clock = EventClock() if event_time else SystemClock()
        ctx = StageContext(
            settings=self._settings, metrics=self._metrics, stream=source.stream,
            models=self.models,
        )
        events = source.events()
        publish: Publish = self._bus.publish
        commands = self._bus.commands(source.stream)
        if self._recorder is not None:
            from livepilot.store.wiring import tap_source

            tap = self._taps[source.stream] = tap_source(self._recorder, source, self._settings)
            events, publish, commands = (
                tap.source(events), tap.publishing(publish), tap.commands(commands)
            )
        runner = StreamRunner(
            source.stream,
            events,
            build_pipeline(self._settings.stages, ctx),
            publish,
            clock,
            self._metrics,
            queue_size=self._settings.queue_size,
            commands=commands,
        )
        if self._recorder is not None and not event_time:
            # A live stream goes on where a restart cut it off (questions, strikes).
            from livepilot.store.wiring import carry_over

            carry_over(self._recorder, self._taps[source.stream], runner.pipeline)
        self._runners[source.stream] = runner
        self._origins[source.stream] = (source, clock, publish)
        self._pipeline_state[source.stream] = "starting"
        return runner

    def _rebuilt(self, name: str) -> StreamRunner:
        """A fresh runner for a crashed stream: the same pipeline (its stages keep their
        state), a new pass over the source, a new command reader."""
        source, clock, publish = self._origins[name]
        events = source.events()
        commands = self._bus.commands(name)
        tap = self._taps.get(name)
        if tap is not None:
            events, commands = tap.source(events), tap.commands(commands)
        runner = StreamRunner(
            name,
            events,
            self._runners[name].pipeline,
            publish,
            clock,
            self._metrics,
            queue_size=self._settings.queue_size,
            commands=commands,
        )
        self._runners[name] = runner
        return runner

    def attach(self, helper: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``helper()`` while the service runs (a worker's lease loop). A service with
        helpers runs until :meth:`stop`, even while it has no stream."""
        self._attached.append(helper)

    def launch(self, source: Source) -> None:
        """Add a stream to a running service and start it (a worker took its lease)."""
        if self._group is None or self._stopping:
            raise RuntimeError(f"stream {source.stream!r}: the service is not running")
        self.add(source)
        self._start_stream(source.stream)

    async def retire(self, name: str, deadline: float = 5.0) -> None:
        """Stop one stream and forget it (a worker lost its lease): the source stops,
        what is queued drains within ``deadline`` s, and the stream may be launched again
        later."""
        runner, task = self._runners.get(name), self._stream_tasks.get(name)
        if runner is None:
            return
        self._retiring.add(name)
        try:
            runner.stop_source()
            if task is not None:
                done, _ = await asyncio.wait({task}, timeout=deadline)
                if not done:
                    task.cancel()
                    await asyncio.wait({task}, timeout=2.0)
        finally:
            self._retiring.discard(name)
            for table in (self._runners, self._origins, self._pipeline_state, self._taps,
                          self._stream_tasks):
                table.pop(name, None)

    def _start_stream(self, name: str) -> None:
        assert self._group is not None  # only called from run() or launch()
        self._stream_tasks[name] = self._group.create_task(
            self._run_stream(name), name=f"stream:{name}"
        )

    @property
    def runners(self) -> dict[str, StreamRunner]:
        return dict(self._runners)

    # -- the server's StateReader ---------------------------------------------------------

    def streams(self) -> list[str]:
        """The streams run here, then those other processes share views of."""
        return [*self._runners, *(s for s in self._remote if s not in self._runners)]

    def status(self) -> list[dict[str, JSONValue]]:
        local: list[dict[str, JSONValue]] = [
            self._status(name, runner) for name, runner in self._runners.items()
        ]
        remote = [
            {**status, "remote": True}
            for name, views in self._remote.items()
            if name not in self._runners and isinstance(status := views.get("_status"), dict)
        ]
        return local + remote

    def _status(self, name: str, runner: StreamRunner) -> dict[str, JSONValue]:
        return {
            "stream": name,
            "state": runner.state,
            "processed": runner.processed,
            "pipeline": self._pipeline_state.get(name, "starting"),
            "restarts": self._restarts.get(name, 0),
        }

    def view(self, stream: str, name: str, now: float) -> JSONValue:
        """A read-only, JSON-ready view of a stage's live state (see :data:`VIEWS`).

        Raises :class:`ViewUnavailable` for an unknown stream or view, or a stage that is
        not in the chain.
        """
        view = VIEWS.get(name)
        if view is None:
            raise ViewUnavailable(f"no view {name!r}; known: {', '.join(VIEWS)}")
        if stream not in self._runners and stream in self._remote:
            shared = self._remote[stream]
            if name not in shared:
                raise ViewUnavailable(
                    f"view {name!r} of stream {stream!r} is not shared by the process that "
                    "runs it (its stage is not in the chain there)"
                )
            value: JSONValue = shared[name]
            return value
        return view.read(self._stage(stream, view.stage, name), now)

    def keyed_view(self, stream: str, name: str, key: str, now: float) -> JSONValue:
        """One item of a stage's live state, e.g. one user's strikes (see
        :data:`KEYED_VIEWS`). Raises :class:`ViewUnavailable` like :meth:`view`."""
        view = KEYED_VIEWS.get(name)
        if view is None:
            raise ViewUnavailable(f"no view {name!r}/…; known: {', '.join(KEYED_VIEWS)}")
        if stream not in self._runners and stream in self._remote:
            raise ViewUnavailable(
                f"{name}/… of stream {stream!r} is read only where the stream runs, not on "
                "this API replica"
            )
        return view.read(self._stage(stream, view.stage, name), key, now)

    def _stage(self, stream: str, stage: str, view: str) -> object:
        runner = self._runners.get(stream)
        if runner is None:
            raise ViewUnavailable(f"no stream {stream!r}")
        try:
            return runner.pipeline.stage(stage)
        except KeyError:
            raise ViewUnavailable(
                f"view {view!r} needs the {stage!r} stage, which is not running"
            ) from None

    # -- the server's StreamHost ----------------------------------------------------------

    async def run(self) -> None:
        """Run every stream until all sources end (or :meth:`stop` is called)."""
        helpers = [asyncio.create_task(self._watch_bus(), name="bus-watch")]
        if self._settings.bus == "redis":
            helpers.append(asyncio.create_task(self._share_views(), name="views"))
        attached = [asyncio.create_task(helper()) for helper in self._attached]
        helpers.extend(attached)
        try:
            async with asyncio.TaskGroup() as tg:
                self._group = tg
                for name in list(self._runners):
                    self._start_stream(name)
                if self._attached:  # a worker: streams come and go until stop
                    await self._stop_requested.wait()
            if not self._runners:  # an API replica: watch the bus and read views until stop
                await self._stop_requested.wait()
        finally:
            self._group = None
            for task in helpers:
                task.cancel()
            if attached:  # they clean up on cancel (a worker releases its leases)
                await asyncio.wait(attached, timeout=3.0)
            self.models.close()
            self.finished.set()

    async def _share_views(self, every: float = 1.0) -> None:
        """Once a second: share this process's streams' views on the bus, and read the
        views other processes share (so an API replica serves every stream)."""
        while True:
            try:
                await self._exchange_views()
            except Exception:  # containment: the streams go on without shared views
                log.error("sharing views failed", exc_info=True)
            await asyncio.sleep(every)

    async def _exchange_views(self) -> None:
        """Share this process's streams' views; take in the ones others share."""
        now = self._now()
        # A copy: a worker's streams come and go while this awaits the bus.
        for name, runner in list(self._runners.items()):
            views: dict[str, JSONValue] = {"_status": self._status(name, runner)}
            for view_name in VIEWS:
                try:
                    views[view_name] = self.view(name, view_name, now)
                except ViewUnavailable:
                    continue  # its stage is not in this chain
                except Exception:
                    log.error("view %s of %s failed", view_name, name, exc_info=True)
            await self._bus.put_views(name, json.dumps(views))
        shared = await self._bus.shared_views()
        remote: dict[str, dict[str, Any]] = {}
        for name, raw in shared.items():
            if name in self._runners:
                continue
            try:
                remote[name] = json.loads(raw)
            except ValueError:
                log.error("the shared views of %s are not JSON; ignored", name)
        self._remote = remote

    async def _run_stream(self, name: str) -> None:
        """Run one stream, restarting its pipeline whenever it crashes (a source or a
        publish path that raised): logged, counted, never silent."""
        running = self._metrics.pipeline_running.labels(name)
        delay = self.restart_delay
        try:
            while True:
                runner = self._runners[name]
                self._pipeline_state[name] = "running"
                running.set(1)
                try:
                    await runner.run()
                except Exception:
                    running.set(0)
                    if self._stopping or name in self._retiring:
                        log.error("stream %s: pipeline failed while stopping", name,
                                  exc_info=True)
                        return
                    self._pipeline_state[name] = "restarting"
                    self._restarts[name] = self._restarts.get(name, 0) + 1
                    self._metrics.pipeline_restarts.labels(name).inc()
                    log.error(
                        "stream %s: pipeline crashed (%d event(s) still queued are lost); "
                        "restarting in %.1f s", name, runner.queued, delay, exc_info=True,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)
                    self._rebuilt(name)
                    continue
                running.set(0)
                self._pipeline_state[name] = "stopped" if self._stopping else "ended"
                return
        finally:
            tap = self._taps.get(name)
            if tap is not None:  # settle and write the stream's history
                tap.close("stopped" if self._stopping else "source_ended")

    async def _watch_bus(self, every: float = 0.5) -> None:
        """Raise ``bus_down`` on every stream's console while the bus is down, clear it
        when it is back. Published on the bus itself: a bus that is down still fans out
        in this process, and logs the alarm once it is back."""
        latches: dict[str, AlarmLatch] = {}
        where = f"{socket.gethostname()}-{os.getpid()}"
        was_up = True
        while True:
            await asyncio.sleep(every)
            health = self._bus.health()
            if health.up == was_up:
                continue
            was_up = health.up
            now = self._now()
            alarms = []
            for name in self.streams() or ["*"]:
                latch = latches.get(name)
                if latch is None:
                    latch = latches[name] = AlarmLatch(
                        name, "bus_down", "bus", subject=where, severity=Severity.CRITICAL
                    )
                if health.up:
                    alarm = latch.clear(now, "The bus is back: messages reach every console "
                                             "and the event log again.")
                else:
                    alarm = latch.raise_(
                        now,
                        f"The bus is down ({health.problem}). The streams go on here; other "
                        "servers' consoles and moderator commands wait until it is back.",
                        {"process": where, "buffered": health.buffered},
                    )
                if alarm is not None:
                    alarms.append(alarm)
            if alarms:
                await self._bus.publish(alarms)

    @staticmethod
    def _now() -> float:
        return SystemClock().now()

    async def stop(self, deadline: float = 5.0) -> bool:
        """Stop the sources, then wait up to ``deadline`` s for the pipelines to drain."""
        self._stopping = True
        self._stop_requested.set()
        for name, runner in self._runners.items():
            log.info("stream %s: stopping source", name)
            runner.stop_source()
        try:
            await asyncio.wait_for(self.finished.wait(), deadline)
        except TimeoutError:
            await self._hand_over_backlog(deadline)
            return False
        return True

    async def _hand_over_backlog(self, deadline: float) -> None:
        """The drain ran out of time: what is still queued goes to the bus as it came in
        (no insights), so the event log keeps every event."""
        for name, runner in list(self._runners.items()):
            left = runner.take_queued()
            if not left:
                continue
            log.warning("stream %s: pipeline did not drain within %.1f s; %d queued events "
                        "go to the bus unprocessed (no insights)", name, deadline, len(left))
            for i in range(0, len(left), 500):
                await self._bus.publish(left[i : i + 500])
