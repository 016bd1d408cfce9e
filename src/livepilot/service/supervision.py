"""Supervision: a stream whose pipeline crashes is logged, counted and restarted with a
doubling delay (1 s up to 30 s), never silently lost.

A crash is a source or a publish path that raised; the stages keep their state across a
restart (the service rebuilds the runner around the same pipeline). A stream that is
being stopped or handed back (its lease was lost) is not restarted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from livepilot.metrics import Metrics
from livepilot.pipeline.runner import StreamRunner

__all__ = ["Supervisor"]

log = logging.getLogger(__name__)

#: The longest wait between two restarts of a pipeline that keeps crashing.
MAX_RESTART_DELAY = 30.0


class Supervisor:
    """Runs each stream's pipeline until it ends, restarting it after a crash; keeps each
    pipeline's state (starting, running, restarting, ended, stopped) and restart count."""

    def __init__(self, metrics: Metrics, *, restart_delay: float = 1.0) -> None:
        self._metrics = metrics
        #: The first restart waits this long, doubling while the pipeline keeps crashing.
        self.restart_delay = restart_delay
        self.state: dict[str, str] = {}
        self.restarts: dict[str, int] = {}
        #: Streams being handed back (their lease was lost): not restarted on a crash.
        self.retiring: set[str] = set()
        #: The whole process is stopping: nothing is restarted.
        self.stopping = False

    def starting(self, name: str) -> None:
        self.state[name] = "starting"

    def forget(self, name: str) -> None:
        self.state.pop(name, None)

    async def supervise(
        self, name: str, current: Callable[[], StreamRunner],
        rebuild: Callable[[], StreamRunner],
    ) -> None:
        """Run ``current()`` until it ends; after a crash wait, ``rebuild()`` and go on."""
        running = self._metrics.pipeline_running.labels(name)
        delay = self.restart_delay
        while True:
            runner = current()
            self.state[name] = "running"
            running.set(1)
            try:
                await runner.run()
            except Exception:
                running.set(0)
                if self.stopping or name in self.retiring:
                    log.error("stream %s: pipeline failed while stopping", name, exc_info=True)
                    return
                self.state[name] = "restarting"
                self.restarts[name] = self.restarts.get(name, 0) + 1
                self._metrics.pipeline_restarts.labels(name).inc()
                log.error(
                    "stream %s: pipeline crashed (%d event(s) still queued are lost); "
                    "restarting in %.1f s", name, runner.queued, delay, exc_info=True,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RESTART_DELAY)
                rebuild()
                continue
            running.set(0)
            self.state[name] = "stopped" if self.stopping else "ended"
            return
