"""The app factory: HTTP routes, WebSockets, metrics, and the ordered lifespan.

GET  /healthz                liveness (no auth)
GET  /readyz                 200 once streams run and the bus is up, else 503 (no auth)
GET  /metrics                Prometheus text format (no auth: scrape on a private network)
GET  /                       the console page                        console
GET  /api/me                 who is signed in, and what they may do  console
GET  /api/streams            stream states                           console
GET  /api/recent?limit=N     recent wire messages                    console
GET  /api/streams/{s}/{view} a stage's live state (summary, users, …) console
GET  /api/streams/{s}/users/{user_id}  one user's strikes and block  console
GET  /api/audit              moderator actions                       console
POST /api/commands           a moderator action → the stream's stages console, by role
WS   /ws/console             every event, insight, alarm, prompt;    console, commands
                             command frames in                       by role
GET  /overlay/{name}         an OBS overlay page                     overlay key
WS   /ws/overlay/{name}      the subset that overlay needs           overlay key

"console" is the shared console token or any moderator's token (observers included);
whatever opens the console also opens the overlays. Commands are checked against the
sender's role (``livepilot.server.auth.ACTION_GROUPS``), and a moderator token fixes the
name they are recorded under.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from livepilot.bus.base import Bus
from livepilot.commands import CommandArgsError, check_args
from livepilot.events import CommandEvent
from livepilot.metrics import Metrics
from livepilot.server.audience import OVERLAY_KINDS
from livepilot.server.auth import Authenticator, ModeratorRole, Principal, group_of
from livepilot.server.hub import Hub
from livepilot.service import KEYED_VIEWS, VIEWS, StreamService
from livepilot.settings import Settings

__all__ = ["CommandBody", "create_app"]

log = logging.getLogger(__name__)

CLOSE_POLICY = 1008  # RFC 6455: policy violation — used for a missing/wrong token


class CommandBody(BaseModel):
    """A moderator action as the console sends it (REST body or WebSocket frame)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stream: str = Field(min_length=1)
    action: str = Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z_]*$")
    target: str = Field(default="", max_length=200)
    #: Who acts. With a moderator token it is that moderator's name (leave it out, or send
    #: the same name); with the shared console token it is whatever the client says,
    #: ``"console"`` if it says nothing.
    by: str | None = Field(default=None, min_length=1, max_length=80)
    args: dict[str, Any] = Field(default_factory=dict)


def create_app(
    settings: Settings,
    *,
    bus: Bus,
    metrics: Metrics,
    service: StreamService | None = None,
    overlays_dir: Path | None = None,
) -> FastAPI:
    """Build the app around an existing bus and (optionally) running streams.

    The lifespan subscribes the hub to the bus, runs the streams, and shuts down in order:
    stop sources → drain pipelines (deadline) → close clients (1001) → close the bus.
    """
    if settings.console_token is None or settings.overlay_key is None:
        raise ValueError("set LIVEPILOT_CONSOLE_TOKEN and LIVEPILOT_OVERLAY_KEY (or use demo)")
    hub = Hub(
        metrics,
        max_backlog=settings.client_queue_size,
        coalesce_ms=settings.coalesce_ms,
        overlay_hold_ms=settings.overlay_hold_ms,
    )
    auth = Authenticator(settings.console_token, settings.overlay_key, settings.moderators)
    overlays = overlays_dir or settings.overlays_dir
    audit: deque[dict[str, Any]] = deque(maxlen=10_000)
    command_ids = itertools.count(1)
    console_page = (
        resources.files("livepilot.server")
        .joinpath("static/console.html")
        .read_text(encoding="utf-8")
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await bus.start()
        unsubscribe = bus.subscribe(hub.dispatch)
        runner: asyncio.Task[None] | None = None
        if service is not None:
            runner = asyncio.create_task(service.run(), name="streams")
        releaser = asyncio.create_task(hub.run(), name="overlay-releaser")
        app.state.ready = True
        try:
            yield
        finally:
            app.state.ready = False
            log.info("shutdown: stopping sources")
            if service is not None and runner is not None:
                await service.stop(deadline=5.0)
                runner.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await runner
            releaser.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await releaser
            log.info("shutdown: closing %d client(s)", hub.client_count)
            await hub.close()
            unsubscribe()
            log.info("shutdown: closing the bus")
            await bus.close()
            log.info("shutdown: done")

    app = FastAPI(title="livepilot", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.ready = False
    app.state.hub = hub

    def unauthorized(what: str) -> HTTPException:
        metrics.auth_failures.labels("http").inc()
        return HTTPException(
            status_code=401,
            detail=f"a valid {what} is required (?token=… or Authorization: Bearer …)",
            headers={"WWW-Authenticate": "Bearer"},
        )

    # Dependencies run before the body is parsed: no token → 401, never a 422 that
    # tells an anonymous caller about the API's shape.
    def console_auth(request: Request) -> Principal:
        principal = auth.principal(request)
        if principal is None:
            raise unauthorized("console token or moderator token")
        return principal

    def overlay_auth(request: Request) -> None:
        if auth.access(request) is None:
            raise unauthorized("overlay key")

    console_only = [Depends(console_auth)]
    overlay_only = [Depends(overlay_auth)]
    # Handlers that need to know who asks take ``principal: Principal = signed_in``.
    signed_in = Depends(console_auth)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        streams = service.status() if service is not None else []
        ready = bool(app.state.ready)
        body = {"ready": ready, "streams": streams}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse, dependencies=console_only)
    async def console() -> HTMLResponse:
        return HTMLResponse(console_page, headers={"Cache-Control": "no-store"})

    @app.get("/api/me")
    async def me(principal: Principal = signed_in) -> dict[str, Any]:
        """Who the credential belongs to and which action groups the console may offer."""
        return {
            "name": principal.name,
            "role": str(principal.role),
            "verified": principal.verified,
            "can": principal.groups(),
            "actions": principal.actions(),
        }

    @app.get("/api/streams", dependencies=console_only)
    async def streams() -> list[dict[str, Any]]:
        return service.status() if service is not None else []

    @app.get("/api/streams/{stream}/{view}", dependencies=console_only)
    async def stream_view(stream: str, view: str) -> Any:
        """Live state: summary, rates, prompts, polls, questions, kpi, toxicity, show, users."""
        if service is None or stream not in service.runners:
            raise HTTPException(404, f"no stream {stream!r}")
        if view not in VIEWS:
            raise HTTPException(404, f"no view {view!r}; known: {', '.join(VIEWS)}")
        try:
            return service.view(stream, view, time.time())
        except KeyError as exc:
            raise HTTPException(
                404, f"view {view!r} needs the {VIEWS[view][0]!r} stage, which is not running"
            ) from exc

    @app.get("/api/streams/{stream}/{view}/{key}", dependencies=console_only)
    async def stream_keyed_view(stream: str, view: str, key: str) -> Any:
        """One item of the live state: ``users/{user_id}`` → that user's strike score, hits,
        recommended step and local block (a user never seen: a clean zero state)."""
        if service is None or stream not in service.runners:
            raise HTTPException(404, f"no stream {stream!r}")
        if view not in KEYED_VIEWS:
            raise HTTPException(404, f"no view {view!r}/…; known: {', '.join(KEYED_VIEWS)}")
        if len(key) > 200:
            raise HTTPException(422, f"{view}: the key is longer than 200 characters")
        try:
            return service.keyed_view(stream, view, key, time.time())
        except KeyError as exc:
            raise HTTPException(
                404,
                f"view {view!r} needs the {KEYED_VIEWS[view][0]!r} stage, which is not running",
            ) from exc

    @app.get("/api/recent", dependencies=console_only)
    async def recent(limit: int = 200) -> Response:
        limit = max(0, min(limit, settings.event_log_size))
        body = "[" + ",".join(bus.recent(limit)) + "]"
        return Response(body, media_type="application/json")

    @app.get("/api/audit", dependencies=console_only)
    async def audit_log() -> list[dict[str, Any]]:
        return list(audit)

    def count(body: CommandBody, outcome: str) -> None:
        action = body.action if group_of(body.action) is not None else "other"
        metrics.commands.labels(action, outcome).inc()

    def authorize(body: CommandBody, principal: Principal) -> str:
        """The name the command runs under, or 403 saying what the role does not allow."""
        who = principal.name or "the console token"
        if principal.role is ModeratorRole.OBSERVER:
            refusal = f"{who} is an observer: observers can watch but not run {body.action!r}"
        elif not principal.may(body.action):
            refusal = f"{who} ({principal.role}) may not run {body.action!r}: it needs a lead"
        elif principal.name is not None and body.by not in (None, principal.name):
            refusal = (
                f"signed in as {principal.name!r}: cannot act as {body.by!r} "
                "(leave 'by' out or send your own name)"
            )
        else:
            return principal.name or body.by or "console"
        log.warning("refused: %s on %s (%s)", body.action, body.stream, refusal)
        count(body, "forbidden")
        raise HTTPException(403, refusal)

    async def submit(body: CommandBody, principal: Principal) -> CommandEvent:
        by = authorize(body, principal)
        try:
            check_args(body.action, body.args)
        except CommandArgsError as exc:  # refused here: a stage could only log it
            metrics.bad_input.labels("command").inc()
            count(body, "invalid")
            raise HTTPException(422, str(exc)) from None
        if service is not None and body.stream not in service.runners:
            count(body, "no_stream")
            raise HTTPException(404, f"no stream {body.stream!r}")
        now = time.time()
        command = CommandEvent(
            id=f"cmd-{int(now)}-{next(command_ids)}",
            stream=body.stream,
            at=now,
            received=now,
            action=body.action,
            target=body.target,
            by=by,
            args=body.args,
        )
        audit.append(
            {
                "at": now,
                **body.model_dump(),
                "by": by,
                "role": str(principal.role),
                "verified": principal.verified,
            }
        )
        log.info("audit: %s (%s) %s %s on %s", by, principal.role, body.action, body.target,
                 body.stream)
        await bus.send_command(command)
        count(body, "sent")
        return command

    @app.post("/api/commands", status_code=202)
    async def post_command(body: CommandBody, principal: Principal = signed_in) -> dict[str, str]:
        command = await submit(body, principal)
        return {"id": command.id}

    @app.get("/overlay/{name}", response_class=HTMLResponse, dependencies=overlay_only)
    async def overlay_page(name: str) -> HTMLResponse:
        if name not in OVERLAY_KINDS:
            raise HTTPException(404, f"no overlay {name!r}; known: {', '.join(OVERLAY_KINDS)}")
        page = overlays / f"{name}.html"
        if not page.is_file():
            page = overlays / "all.html"
        return HTMLResponse(page.read_text(encoding="utf-8"))

    @app.get("/overlay-assets/{asset}")
    async def overlay_asset(asset: str) -> PlainTextResponse:
        """The overlays' shared script and style: code, no data, so no key."""
        path = overlays / asset
        if "/" in asset or not path.is_file() or path.suffix not in {".js", ".css"}:
            raise HTTPException(404, "no such overlay asset")
        media = "text/javascript" if path.suffix == ".js" else "text/css"
        return PlainTextResponse(path.read_text(encoding="utf-8"), media_type=media)

    async def reject(ws: WebSocket, what: str) -> None:
        metrics.auth_failures.labels("websocket").inc()
        await ws.accept()
        await ws.close(code=CLOSE_POLICY, reason=f"a valid {what} is required")

    @app.websocket("/ws/console")
    async def ws_console(ws: WebSocket) -> None:
        principal = auth.principal(ws)
        if principal is None:
            await reject(ws, "console token or moderator token")
            return
        await ws.accept()

        async def on_frame(text: str) -> str:
            try:
                body = CommandBody.model_validate_json(text)
                command = await submit(body, principal)
                reply: dict[str, Any] = {"type": "ack", "id": command.id}
            except ValidationError as exc:
                metrics.bad_input.labels("websocket").inc()
                reply = {
                    "type": "error",
                    "message": f"bad command frame: {exc.errors()[0]['msg']}",
                    "field": ".".join(str(p) for p in exc.errors()[0]["loc"]),
                }
            except HTTPException as exc:
                reply = {"type": "error", "status": exc.status_code, "message": str(exc.detail)}
            return json.dumps(reply)

        backlog = bus.recent(settings.backlog)
        await hub.serve(ws, "console", backlog=backlog, on_frame=on_frame)

    @app.websocket("/ws/overlay/{name}")
    async def ws_overlay(ws: WebSocket, name: str) -> None:
        if auth.access(ws) is None:
            await reject(ws, "overlay key")
            return
        kinds = OVERLAY_KINDS.get(name)
        await ws.accept()
        if kinds is None:
            await ws.close(code=CLOSE_POLICY, reason=f"no overlay {name!r}")
            return
        await hub.serve(ws, f"overlay:{name}", kinds=kinds)

    return app
