"""The app factory and its ordered lifespan.

:func:`create_app` builds the server's parts once (hub, gate, command desk, audit log),
keeps them on ``app.state`` for the routes (:mod:`livepilot.server.routes`), and runs the
streams it is handed for as long as the app runs. Who may call what:

- ``/healthz``, ``/readyz``, ``/metrics`` and the pages' assets: anyone;
- ``/``, ``/api/…``, ``/openapi.json`` and ``/ws/console``: the shared console token or
  any moderator's token (observers included); commands are checked against the sender's
  role (``livepilot.server.auth.ACTION_GROUPS``), and a moderator token fixes the name
  they are recorded under;
- ``/overlay/…`` and ``/ws/overlay/…``: the overlay key for public overlays, the host key
  for backstage ones (host prompts), or whatever opens the console.

Failed credentials are throttled per client address, WebSockets check the page's origin,
request bodies are capped (:mod:`livepilot.server.gate`, :mod:`livepilot.server.limits`).
The app never imports a stage: it reads the streams through
:class:`~livepilot.server.state.StreamHost`, and commands travel on the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from importlib import resources
from pathlib import Path

from fastapi import FastAPI

from livepilot.bus.base import Bus
from livepilot.errors import ConfigError
from livepilot.metrics import Metrics
from livepilot.server.audit import AuditLog
from livepilot.server.auth import Authenticator
from livepilot.server.commands import CommandDesk
from livepilot.server.gate import Gate
from livepilot.server.hub import Hub
from livepilot.server.limits import BodyLimit
from livepilot.server.origins import OriginPolicy
from livepilot.server.parts import ServerParts
from livepilot.server.routes import ROUTERS
from livepilot.server.state import StreamHost
from livepilot.server.throttle import FailureThrottle
from livepilot.settings import Settings

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    bus: Bus,
    metrics: Metrics,
    service: StreamHost | None = None,
    overlays_dir: Path | None = None,
) -> FastAPI:
    """Build the app around an existing bus and (optionally) the streams to run.

    The lifespan subscribes the hub to the bus, runs the streams, and shuts down in order:
    stop sources → drain pipelines (deadline) → close clients (1001) → close the bus.
    """
    parts = _build_parts(settings, bus, metrics, service, overlays_dir)
    app = FastAPI(
        title="livepilot",
        lifespan=lambda app: _lifespan(app, parts, service),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served by routes.api, behind the console credential
    )
    app.state.ready = False
    app.state.parts = parts
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, metrics=metrics)
    return app


def _build_parts(
    settings: Settings,
    bus: Bus,
    metrics: Metrics,
    service: StreamHost | None,
    overlays_dir: Path | None,
) -> ServerParts:
    if settings.console_token is None or settings.overlay_key is None:
        raise ValueError("set LIVEPILOT_CONSOLE_TOKEN and LIVEPILOT_OVERLAY_KEY (or use demo)")
    try:
        origins = OriginPolicy(settings.allowed_origins)
    except ValueError as exc:
        raise ConfigError(f"LIVEPILOT_ALLOWED_ORIGINS: {exc}") from None
    gate = Gate(
        Authenticator(settings.console_token, settings.overlay_key, settings.moderators,
                      settings.host_key),
        FailureThrottle(
            settings.auth_failures_per_minute, max_clients=settings.auth_throttle_clients
        ),
        origins,
        metrics,
    )
    audit = AuditLog()
    desk = CommandDesk(
        bus,
        metrics,
        audit,
        # On the Redis bus a stream may run in another process (a worker): its commands
        # travel there over the bus, so this process does not refuse unknown streams.
        streams=service.streams if service is not None and settings.bus == "memory" else None,
        max_frame_bytes=settings.max_body_bytes,
    )
    hub = Hub(
        metrics,
        max_backlog=settings.client_queue_size,
        coalesce_ms=settings.coalesce_ms,
        overlay_hold_ms=settings.overlay_hold_ms,
        recent_size=settings.event_log_size,
    )
    return ServerParts(
        settings=settings,
        bus=bus,
        metrics=metrics,
        hub=hub,
        gate=gate,
        desk=desk,
        audit=audit,
        reader=service,
        overlays=overlays_dir or settings.overlays_dir,
        static=resources.files("livepilot.server").joinpath("static"),
    )


@contextlib.asynccontextmanager
async def _lifespan(
    app: FastAPI, parts: ServerParts, service: StreamHost | None
) -> AsyncIterator[None]:
    bus, hub = parts.bus, parts.hub
    await bus.start()
    hub.seed(bus.recent(parts.settings.event_log_size))
    unsubscribe_hub = bus.subscribe(hub.dispatch)
    # The stages' moderation decisions come back on the bus: each is audited as applied.
    unsubscribe_audit = bus.subscribe(parts.audit.listen)

    def unsubscribe() -> None:
        unsubscribe_hub()
        unsubscribe_audit()

    runner: asyncio.Task[None] | None = None
    if service is not None:
        runner = asyncio.create_task(service.run(), name="streams")
    releaser = asyncio.create_task(hub.run(), name="overlay-releaser")
    app.state.ready = True
    try:
        yield
    finally:
        app.state.ready = False
        await _shutdown(parts, service, runner, releaser, unsubscribe)


async def _shutdown(
    parts: ServerParts,
    service: StreamHost | None,
    runner: asyncio.Task[None] | None,
    releaser: asyncio.Task[None],
    unsubscribe: Callable[[], None],
) -> None:
    """Stop sources → drain pipelines (deadline) → close clients (1001) → close the bus."""
    log.info("shutdown: stopping sources")
    if service is not None and runner is not None:
        await service.stop(deadline=parts.settings.shutdown_drain_s)
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner
    releaser.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await releaser
    log.info("shutdown: closing %d client(s)", parts.hub.client_count)
    await parts.hub.close()
    unsubscribe()
    log.info("shutdown: closing the bus")
    await parts.bus.close()
    log.info("shutdown: done")
