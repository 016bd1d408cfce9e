"""Runs the streams: one :class:`StreamRunner` per source, all publishing to one bus.

This is where the parts are wired for a server process (the CLI builds it, the app's
lifespan runs and stops it). Shutdown is ordered: stop the sources, then let each
pipeline drain what it has queued within a deadline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from livepilot.bus.base import Bus
from livepilot.clock import Clock, EventClock, SystemClock
from livepilot.metrics import Metrics
from livepilot.pipeline.context import StageContext
from livepilot.pipeline.runner import StreamRunner
from livepilot.settings import Settings
from livepilot.sources.base import Source
from livepilot.stages.registry import build_pipeline

__all__ = ["KEYED_VIEWS", "VIEWS", "StreamService"]


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


#: What the API may read from the stages: view name → (stage name, reader). The server
#: never imports a stage; it asks the service for a view by name.
VIEWS: dict[str, tuple[str, Callable[[Any, float], Any]]] = {
    "summary": ("engagement", lambda stage, now: _dump(stage.summary())),
    "rates": ("engagement", lambda stage, now: stage.rates(now)),
    "prompts": ("engagement", lambda stage, now: _dump(stage.open_prompts(now))),
    "show": ("engagement", lambda stage, now: stage.cues.snapshot(now)),
    "polls": ("polls", lambda stage, now: stage.snapshot()),
    "questions": ("questions", lambda stage, now: stage.snapshot()),
    "kpi": ("questions", lambda stage, now: stage.kpi()),
    "toxicity": ("toxicity", lambda stage, now: stage.status),
    "users": ("moderation", lambda stage, now: stage.watch_list(now)),
}

#: Views of one item in a stage's state: view name → (stage name, reader(stage, key, now)),
#: served at ``…/{view}/{key}``. ``users/{user_id}`` is one user's strike state; an unknown
#: key reads as a clean state, not an error.
KEYED_VIEWS: dict[str, tuple[str, Callable[[Any, str, float], Any]]] = {
    "users": ("moderation", lambda stage, key, now: stage.user_state(key, now)),
}

log = logging.getLogger(__name__)


class StreamService:
    def __init__(self, settings: Settings, bus: Bus, metrics: Metrics) -> None:
        self._settings = settings
        self._bus = bus
        self._metrics = metrics
        self._runners: dict[str, StreamRunner] = {}
        self._task: asyncio.Task[None] | None = None
        self.finished = asyncio.Event()

    def add(self, source: Source, *, event_time: bool = False) -> StreamRunner:
        """Add a stream. ``event_time`` drives its clock from the events' own timestamps."""
        if source.stream in self._runners:
            raise ValueError(f"stream {source.stream!r} was added twice")
        clock: Clock = EventClock() if event_time else SystemClock()
        ctx = StageContext(settings=self._settings, metrics=self._metrics, stream=source.stream)
        runner = StreamRunner(
            source.stream,
            source.events(),
            build_pipeline(self._settings.stages, ctx),
            self._bus.publish,
            clock,
            self._metrics,
            queue_size=self._settings.queue_size,
            commands=self._bus.commands(source.stream),
        )
        self._runners[source.stream] = runner
        return runner

    @property
    def runners(self) -> dict[str, StreamRunner]:
        return dict(self._runners)

    def view(self, stream: str, name: str, now: float) -> Any:
        """A read-only, JSON-ready view of a stage's live state (see :data:`VIEWS`).

        Raises ``KeyError`` for an unknown stream, view, or a stage not in the chain.
        """
        stage_name, read = VIEWS[name]
        return read(self._runners[stream].pipeline.stage(stage_name), now)

    def keyed_view(self, stream: str, name: str, key: str, now: float) -> Any:
        """One item of a stage's live state, e.g. one user's strikes (see :data:`KEYED_VIEWS`).

        Raises ``KeyError`` for an unknown stream, view, or a stage not in the chain.
        """
        stage_name, read = KEYED_VIEWS[name]
        return read(self._runners[stream].pipeline.stage(stage_name), key, now)

    def status(self) -> list[dict[str, Any]]:
        return [
            {"stream": name, "state": runner.state, "processed": runner.processed}
            for name, runner in self._runners.items()
        ]

    async def run(self) -> None:
        """Run every stream until all sources end (or :meth:`stop` is called)."""
        try:
            async with asyncio.TaskGroup() as tg:
                for name, runner in self._runners.items():
                    tg.create_task(runner.run(), name=f"stream:{name}")
        finally:
            self.finished.set()

    async def stop(self, deadline: float = 5.0) -> bool:
        """Stop the sources, then wait up to ``deadline`` s for the pipelines to drain."""
        for name, runner in self._runners.items():
            log.info("stream %s: stopping source", name)
            runner.stop_source()
        try:
            await asyncio.wait_for(self.finished.wait(), deadline)
        except TimeoutError:
            log.warning("pipelines did not drain within %.1f s", deadline)
            return False
        return True
