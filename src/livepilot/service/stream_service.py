""":class:`StreamService`: the streams of one process, one :class:`StreamRunner` per
source, all publishing to one bus.

This is where the parts are wired for a server process (the CLI builds it, the app's
lifespan runs and stops it). Shutdown is ordered: stop the sources, then let each
pipeline drain what it has queued within a deadline. Restarts after a crash are the
:class:`~livepilot.service.supervision.Supervisor`'s; views of streams other processes
run come from :class:`~livepilot.service.sharing.ViewSharing`.

It is the server's :class:`~livepilot.server.state.StreamHost`: the server reads the
stages' live state through it, by view name (:mod:`livepilot.service.views`), and never
sees a stage.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from livepilot.bus.base import Bus
from livepilot.clock import Clock, EventClock, SystemClock
from livepilot.metrics import Metrics
from livepilot.ml.shared import ModelRegistry
from livepilot.pipeline.context import StageContext
from livepilot.pipeline.runner import Publish, StreamRunner
from livepilot.server.state import JSONValue, ViewUnavailable
from livepilot.service.bus_watch import watch_bus
from livepilot.service.sharing import ViewSharing
from livepilot.service.supervision import Supervisor
from livepilot.service.views import KEYED_VIEWS, VIEWS
from livepilot.settings import Settings
from livepilot.sources.base import Source
from livepilot.stages.registry import build_pipeline

if TYPE_CHECKING:
    from livepilot.store import Recorder, StreamTap

__all__ = ["StreamService"]

log = logging.getLogger(__name__)


class StreamService:
    """The streams of one process: added before the server starts, run by its lifespan;
    a worker launches and retires streams while it runs."""

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
        self._runners: dict[str, StreamRunner] = {}
        #: What a crashed stream restarts from: its source, clock and publish path.
        self._origins: dict[str, tuple[Source, Clock, Publish]] = {}
        self._supervisor = Supervisor(metrics)
        self._sharing = ViewSharing(bus, lambda: self._runners, self._snapshot)
        self.finished = asyncio.Event()
        self._stop_requested = asyncio.Event()
        #: Long-running helpers others attach (a worker's lease loop): run beside the
        #: streams, cancelled and awaited after they drained.
        self._attached: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._group: asyncio.TaskGroup | None = None
        self._stream_tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def restart_delay(self) -> float:
        """The first restart's delay, doubling up to 30 s while a pipeline keeps crashing."""
        return self._supervisor.restart_delay

    @restart_delay.setter
    def restart_delay(self, value: float) -> None:
        self._supervisor.restart_delay = value

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
        self._supervisor.starting(source.stream)
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

    def warm_up(self) -> None:
        """Load the shared models once, before any stream needs them: a worker does this
        before it claims a lease, so that its first pipeline build (which would load them,
        seconds on a busy machine) does not hold the loop while a lease waits for renewal.
        The pipeline built for it is dropped."""
        ctx = StageContext(settings=self._settings, metrics=self._metrics, stream="warm-up",
                           models=self.models)
        build_pipeline(self._settings.stages, ctx)

    def launch(self, source: Source) -> None:
        """Add a stream to a running service and start it."""
        self.prepare(source)
        self.start(source.stream)

    def prepare(self, source: Source) -> None:
        """Build a stream's pipeline in a running service without starting it (a worker
        checks it still holds the lease after the build, which holds the loop for a
        moment); then :meth:`start` it, or :meth:`retire` it to drop it."""
        if self._group is None or self._supervisor.stopping:
            raise RuntimeError(f"stream {source.stream!r}: the service is not running")
        self.add(source)

    def start(self, name: str) -> None:
        """Start a stream :meth:`prepare` built."""
        if self._group is None or self._supervisor.stopping:
            raise RuntimeError(f"stream {name!r}: the service is not running")
        self._start_stream(name)

    async def retire(self, name: str, deadline: float = 5.0) -> None:
        """Stop one stream and forget it (a worker lost its lease): the source stops,
        what is queued drains within ``deadline`` s, and the stream may be launched again
        later."""
        runner, task = self._runners.get(name), self._stream_tasks.get(name)
        if runner is None:
            return
        self._supervisor.retiring.add(name)
        try:
            runner.stop_source()
            if task is not None:
                done, _ = await asyncio.wait({task}, timeout=deadline)
                if not done:
                    task.cancel()
                    await asyncio.wait({task}, timeout=2.0)
        finally:
            self._supervisor.retiring.discard(name)
            self._supervisor.forget(name)
            for table in (self._runners, self._origins, self._taps, self._stream_tasks):
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
        remote = self._sharing.remote
        return [*self._runners, *(s for s in remote if s not in self._runners)]

    def status(self) -> list[dict[str, JSONValue]]:
        local: list[dict[str, JSONValue]] = [
            self._status(name, runner) for name, runner in self._runners.items()
        ]
        remote = [
            {**status, "remote": True}
            for name, views in self._sharing.remote.items()
            if name not in self._runners and isinstance(status := views.get("_status"), dict)
        ]
        return local + remote

    def _status(self, name: str, runner: StreamRunner) -> dict[str, JSONValue]:
        return {
            "stream": name,
            "state": runner.state,
            "processed": runner.processed,
            "pipeline": self._supervisor.state.get(name, "starting"),
            "restarts": self._supervisor.restarts.get(name, 0),
        }

    def view(self, stream: str, name: str, now: float) -> JSONValue:
        """A read-only, JSON-ready view of a stage's live state (see :data:`VIEWS`).

        Raises :class:`ViewUnavailable` for an unknown stream or view, or a stage that is
        not in the chain.
        """
        view = VIEWS.get(name)
        if view is None:
            raise ViewUnavailable(f"no view {name!r}; known: {', '.join(VIEWS)}")
        remote = self._sharing.remote
        if stream not in self._runners and stream in remote:
            shared = remote[stream]
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
        if stream not in self._runners and stream in self._sharing.remote:
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

    def _snapshot(self, name: str) -> dict[str, JSONValue]:
        """Every view of a local stream, for sharing; ``KeyError`` once it is retired."""
        now = SystemClock().now()
        views: dict[str, JSONValue] = {"_status": self._status(name, self._runners[name])}
        for view_name in VIEWS:
            try:
                views[view_name] = self.view(name, view_name, now)
            except ViewUnavailable:
                continue  # its stage is not in this chain
            except Exception:
                log.error("view %s of %s failed", view_name, name, exc_info=True)
        return views

    # -- the server's StreamHost ----------------------------------------------------------

    async def run(self) -> None:
        """Run every stream until all sources end (or :meth:`stop` is called)."""
        helpers = [asyncio.create_task(watch_bus(self._bus, self.streams), name="bus-watch")]
        if self._settings.bus == "redis":
            helpers.append(asyncio.create_task(self._sharing.run(), name="views"))
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

    async def _run_stream(self, name: str) -> None:
        """Run one stream under supervision; then settle and write its history."""
        try:
            await self._supervisor.supervise(
                name, lambda: self._runners[name], lambda: self._rebuilt(name)
            )
        finally:
            tap = self._taps.get(name)
            if tap is not None:  # settle and write the stream's history
                tap.close("stopped" if self._supervisor.stopping else "source_ended")

    async def stop(self, deadline: float = 5.0) -> bool:
        """Stop the sources, then wait up to ``deadline`` s for the pipelines to drain."""
        self._supervisor.stopping = True
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
