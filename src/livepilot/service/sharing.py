"""View sharing over the bus: a process shares the views of the streams it runs, and
reads those other processes share, so an API replica serves every stream.

Once a second each local stream's views (and its status, under ``_status``) go to the
bus as one JSON object; they expire there when nobody refreshes them (a dead worker's
views vanish within the bus's TTL).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Collection
from typing import Any

from livepilot.bus.base import Bus
from livepilot.server.state import JSONValue

__all__ = ["ViewSharing"]

log = logging.getLogger(__name__)

#: A stream's views as one JSON-ready object (view name → value, plus ``_status``).
Snapshot = Callable[[str], dict[str, JSONValue]]


class ViewSharing:
    """The views of streams that run in other processes, kept fresh by :meth:`run`."""

    def __init__(self, bus: Bus, local: Callable[[], Collection[str]], snapshot: Snapshot) -> None:
        self._bus = bus
        self._local = local
        self._snapshot = snapshot
        #: stream → view name → value, plus ``_status``; never a stream that runs here.
        self.remote: dict[str, dict[str, Any]] = {}

    async def run(self, every: float = 1.0) -> None:
        """Share and read every ``every`` s until cancelled."""
        while True:
            try:
                await self.exchange()
            except Exception:  # containment: the streams go on without shared views
                log.error("sharing views failed", exc_info=True)
            await asyncio.sleep(every)

    async def exchange(self) -> None:
        """Share this process's streams' views; take in the ones others share."""
        # A copy: a worker's streams come and go while this awaits the bus.
        for name in list(self._local()):
            try:
                views = self._snapshot(name)
            except KeyError:  # retired since the copy was taken
                continue
            await self._bus.put_views(name, json.dumps(views))
        shared = await self._bus.shared_views()
        local = set(self._local())
        remote: dict[str, dict[str, Any]] = {}
        for name, raw in shared.items():
            if name in local:
                continue
            try:
                remote[name] = json.loads(raw)
            except ValueError:
                log.error("the shared views of %s are not JSON; ignored", name)
        self.remote = remote
