"""The controls behind ``POST/DELETE /api/streams`` (a composition root: it turns an API
body into a stream spec and starts or declares it).

- :class:`RegistryControl` (Redis bus): the stream goes into the registry every worker
  reads; one worker claims it within its claim tick and every API replica lists it once
  it runs. Removing it takes it out of the registry; the worker that runs it stops it.
- :class:`LocalControl` (memory bus): the stream starts in this process at once.

Only streams added through the API can be removed through it: a stream from a streams
file or the command line stays until its process stops (409).
"""

from __future__ import annotations

import asyncio
import logging

from pydantic import ValidationError

from livepilot.bus.base import Bus
from livepilot.bus.registry import StreamRegistry
from livepilot.errors import BusUnavailable
from livepilot.metrics import Metrics
from livepilot.server.audit import AuditLog
from livepilot.server.state import StateReader
from livepilot.server.stream_desk import StreamBody, StreamControl, StreamDesk, StreamRefused
from livepilot.service import StreamService
from livepilot.settings import Settings
from livepilot.stream_specs import SimulatorSpec, TikTokSpec, build_source, spec_json

__all__ = ["LocalControl", "RegistryControl", "spec_of", "stream_desk"]

log = logging.getLogger(__name__)


def spec_of(body: StreamBody) -> SimulatorSpec | TikTokSpec:
    """The stream spec an API body describes; 422 naming the field if it does not fit."""
    try:
        if body.platform == "simulator":
            extra = {k: v for k, v in (("seed", body.seed), ("speed", body.speed))
                     if v is not None}
            return SimulatorSpec(simulator=body.unique_id, title=body.title, **extra)
        if body.seed is not None or body.speed is not None:
            raise StreamRefused(422, "seed and speed are for simulated streams only",
                                "seed" if body.seed is not None else "speed")
        return TikTokSpec(tiktok=body.unique_id, title=body.title)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "unique_id"
        if field in ("simulator", "tiktok"):
            field = "unique_id"
        raise StreamRefused(422, f"{field}: {first['msg']}", field) from None


def _not_ours(name: str, reader: StateReader) -> StreamRefused:
    if name in reader.streams():
        return StreamRefused(409, f"stream {name!r} was not added through the API (a streams "
                                  "file or the command line runs it): stop it there")
    return StreamRefused(404, f"no stream {name!r} was added through the API")


class RegistryControl:
    """Declares and removes streams in the Redis registry (see the module docstring)."""

    def __init__(self, registry: StreamRegistry, reader: StateReader) -> None:
        self._registry = registry
        self._reader = reader

    async def add(self, body: StreamBody) -> str:
        spec = spec_of(body)
        if spec.name in self._reader.streams():
            raise StreamRefused(409, f"stream {spec.name!r} runs already", "unique_id")
        try:
            added = await self._registry.declare(spec.name, spec_json(spec))
        except BusUnavailable as exc:
            raise StreamRefused(503, f"the bus is down: the stream was not added ({exc})") \
                from None
        if not added:
            raise StreamRefused(409, f"stream {spec.name!r} was added already", "unique_id")
        return spec.name

    async def remove(self, stream: str) -> None:
        try:
            removed = await self._registry.undeclare(stream)
        except BusUnavailable as exc:
            raise StreamRefused(503, f"the bus is down: the stream was not removed ({exc})") \
                from None
        if not removed:
            raise StreamRefused(404, f"no stream {stream!r} was added through the API (a "
                                     "stream from a streams file stops with its workers)")


class LocalControl:
    """Starts and stops streams in this process (memory bus)."""

    def __init__(self, service: StreamService, settings: Settings, metrics: Metrics) -> None:
        self._service = service
        self._settings = settings
        self._metrics = metrics
        self._added: set[str] = set()
        self._lock = asyncio.Lock()

    def keep_open(self) -> None:
        """Keep the service running (and accepting streams) while none runs."""

        async def open_until_stopped() -> None:
            await asyncio.Event().wait()

        self._service.attach(open_until_stopped)

    async def add(self, body: StreamBody) -> str:
        spec = spec_of(body)
        async with self._lock:
            if spec.name in self._service.streams():
                raise StreamRefused(409, f"stream {spec.name!r} runs already", "unique_id")
            try:
                source = build_source(spec, self._settings, self._metrics)
                self._service.launch(source)
            except RuntimeError as exc:
                raise StreamRefused(503, f"streams cannot start now ({exc})") from None
            self._added.add(spec.name)
        return spec.name

    async def remove(self, stream: str) -> None:
        async with self._lock:
            if stream not in self._added:
                raise _not_ours(stream, self._service)
            self._added.discard(stream)
            await self._service.retire(stream)


def stream_desk(
    service: StreamService, bus: Bus, settings: Settings, metrics: Metrics, audit: AuditLog
) -> StreamDesk:
    """The desk for this process: the registry on the Redis bus, else this process."""
    control: StreamControl
    if isinstance(bus, StreamRegistry):
        control = RegistryControl(bus, service)
    else:
        local = LocalControl(service, settings, metrics)
        local.keep_open()
        control = local
    return StreamDesk(control, audit, metrics)
