"""Runs the streams: one :class:`StreamRunner` per source, all publishing to one bus.

This is where the parts are wired for a server process (the CLI builds it, the app's
lifespan runs and stops it). Shutdown is ordered: stop the sources, then let each
pipeline drain what it has queued within a deadline.

:class:`StreamService` is the server's :class:`~livepilot.server.state.StreamHost`: the
server reads the stages' live state through it, by view name, and never sees a stage.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple, TypeVar, cast

from livepilot.bus.base import Bus
from livepilot.clock import Clock, EventClock, SystemClock
from livepilot.metrics import Metrics
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
        #: Records every stream's published messages and commands as stream history.
        self._recorder = recorder
        self._taps: dict[str, StreamTap] = {}
        self._stopping = False
        self._runners: dict[str, StreamRunner] = {}
        self._task: asyncio.Task[None] | None = None
        self.finished = asyncio.Event()

    def add(self, source: Source, *, event_time: bool = False) -> StreamRunner:
        """Add a stream. ``event_time`` drives its clock from the events' own timestamps."""
        if source.stream in self._runners:
            raise ValueError(f"stream {source.stream!r} was added twice")
        clock: Clock = EventClock() if event_time else SystemClock()
        ctx = StageContext(settings=self._settings, metrics=self._metrics, stream=source.stream)
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
        self._runners[source.stream] = runner
        return runner

    @property
    def runners(self) -> dict[str, StreamRunner]:
        return dict(self._runners)

    # -- the server's StateReader ---------------------------------------------------------

    def streams(self) -> list[str]:
        return list(self._runners)

    def status(self) -> list[dict[str, str | int]]:
        return [
            {"stream": name, "state": runner.state, "processed": runner.processed}
            for name, runner in self._runners.items()
        ]

    def view(self, stream: str, name: str, now: float) -> JSONValue:
        """A read-only, JSON-ready view of a stage's live state (see :data:`VIEWS`).

        Raises :class:`ViewUnavailable` for an unknown stream or view, or a stage that is
        not in the chain.
        """
        view = VIEWS.get(name)
        if view is None:
            raise ViewUnavailable(f"no view {name!r}; known: {', '.join(VIEWS)}")
        return view.read(self._stage(stream, view.stage, name), now)

    def keyed_view(self, stream: str, name: str, key: str, now: float) -> JSONValue:
        """One item of a stage's live state, e.g. one user's strikes (see
        :data:`KEYED_VIEWS`). Raises :class:`ViewUnavailable` like :meth:`view`."""
        view = KEYED_VIEWS.get(name)
        if view is None:
            raise ViewUnavailable(f"no view {name!r}/…; known: {', '.join(KEYED_VIEWS)}")
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
        try:
            async with asyncio.TaskGroup() as tg:
                for name, runner in self._runners.items():
                    tg.create_task(self._run_stream(name, runner), name=f"stream:{name}")
        finally:
            self.finished.set()

    async def _run_stream(self, name: str, runner: StreamRunner) -> None:
        try:
            await runner.run()
        finally:
            tap = self._taps.get(name)
            if tap is not None:  # settle and write the stream's history
                tap.close("stopped" if self._stopping else "source_ended")

    async def stop(self, deadline: float = 5.0) -> bool:
        """Stop the sources, then wait up to ``deadline`` s for the pipelines to drain."""
        self._stopping = True
        for name, runner in self._runners.items():
            log.info("stream %s: stopping source", name)
            runner.stop_source()
        try:
            await asyncio.wait_for(self.finished.wait(), deadline)
        except TimeoutError:
            log.warning("pipelines did not drain within %.1f s", deadline)
            return False
        return True
