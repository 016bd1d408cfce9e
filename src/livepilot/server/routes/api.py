"""The console's API: everything needs a console token or a moderator token.

GET  /api/me                 who is signed in, and what they may do
GET  /api/streams            stream states
GET  /api/recent?limit=N     recent wire messages, as they stand now (updates applied)
GET  /api/streams/{s}/{view} a stage's live state (summary, users, …)
GET  /api/streams/{s}/{view}/{key}  one item of it (users/{user_id}, messages/{event_id})
GET  /api/audit              moderator actions
POST /api/commands           a moderator action → the stream's stages (by role)
POST /api/streams            add a stream (lead only; see server/stream_desk.py)
DELETE /api/streams/{s}      end a stream added through the API, wherever it runs
GET  /openapi.json           this API's schema
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from livepilot.server.commands import CommandBody, CommandRefused
from livepilot.server.parts import ConsoleOnly, Parts, SignedIn
from livepilot.server.state import JSONValue, StateReader, ViewUnavailable
from livepilot.server.stream_desk import StreamBody, StreamDesk, StreamRefused

__all__ = ["router"]

#: The longest key a keyed view accepts (a user id).
MAX_KEY_LENGTH = 200

router = APIRouter()

# Views return ``JSONValue``: ``response_model=None`` sends them as they are (they are
# JSON-ready by the StateReader's contract) instead of validating them again.


@router.get("/api/me")
async def me(principal: SignedIn) -> dict[str, Any]:
    """Who the credential belongs to and which action groups the console may offer."""
    return {
        "name": principal.name,
        "role": str(principal.role),
        "verified": principal.verified,
        "can": principal.groups(),
        "actions": principal.actions(),
    }


@router.get("/api/streams", dependencies=ConsoleOnly, response_model=None)
async def streams(parts: Parts) -> JSONValue:
    return parts.reader.status() if parts.reader is not None else []


def _reader(parts: Parts, stream: str) -> StateReader:
    if parts.reader is None or stream not in parts.reader.streams():
        raise HTTPException(404, f"no stream {stream!r}")
    return parts.reader


@router.get("/api/streams/{stream}/{view}", dependencies=ConsoleOnly, response_model=None)
async def stream_view(stream: str, view: str, parts: Parts) -> JSONValue:
    """Live state: summary, rates, prompts, polls, questions, kpi, toxicity, show, users,
    review (the review queue: open and handled counts and items)."""
    try:
        return _reader(parts, stream).view(stream, view, time.time())
    except ViewUnavailable as exc:
        raise HTTPException(404, str(exc)) from None


@router.get(
    "/api/streams/{stream}/{view}/{key}", dependencies=ConsoleOnly, response_model=None
)
async def stream_keyed_view(stream: str, view: str, key: str, parts: Parts) -> JSONValue:
    """One item of the live state: ``users/{user_id}`` → that user's strike score, hits,
    recommended step and local block (a user never seen: a clean zero state)."""
    if len(key) > MAX_KEY_LENGTH:
        raise HTTPException(422, f"{view}: the key is longer than {MAX_KEY_LENGTH} characters")
    try:
        return _reader(parts, stream).keyed_view(stream, view, key, time.time())
    except ViewUnavailable as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/api/recent", dependencies=ConsoleOnly)
async def recent(parts: Parts, limit: int = 200) -> Response:
    limit = max(0, min(limit, parts.settings.event_log_size))
    body = "[" + ",".join(parts.hub.recent(limit)) + "]"
    return Response(body, media_type="application/json")


@router.get("/api/audit", dependencies=ConsoleOnly)
async def audit(parts: Parts) -> list[dict[str, Any]]:
    return parts.audit.entries()


@router.post("/api/commands", status_code=202)
async def post_command(body: CommandBody, principal: SignedIn, parts: Parts) -> dict[str, str]:
    """A moderator action. 403 for the role, 404 for the stream, 413 for a body larger
    than ``LIVEPILOT_MAX_BODY_BYTES``, 422 naming the field for an unknown action or a
    target or argument its schema refuses (``livepilot.commands``)."""
    try:
        command = await parts.desk.submit(body, principal)
    except CommandRefused as exc:
        raise HTTPException(exc.status, exc.message) from None
    return {"id": command.id}


def _stream_desk(request: Request) -> StreamDesk:
    desk = getattr(request.app.state, "stream_desk", None)
    if not isinstance(desk, StreamDesk):
        raise HTTPException(501, "this server cannot add or end streams (start it with "
                                 "livepilot serve, worker, demo or run)")
    return desk


@router.post("/api/streams", status_code=201)
async def add_stream(
    body: StreamBody, principal: SignedIn, request: Request
) -> dict[str, str]:
    """Add a stream (lead only). 201 with its id; 403 for the role, 409 when it runs
    already, 422 naming the field, 503 when the bus is down. On the Redis bus a worker
    claims it within its claim tick; every replica lists it once it runs."""
    try:
        stream = await _stream_desk(request).add(body, principal)
    except StreamRefused as exc:
        raise HTTPException(exc.status, exc.message) from None
    return {"stream": stream}


@router.delete("/api/streams/{stream}", status_code=202)
async def remove_stream(stream: str, principal: SignedIn, request: Request) -> dict[str, str]:
    """End a stream added through the API (lead only), wherever it runs: 202 once that is
    decided (the worker stops it and gives its lease back within its claim tick), 404
    when it was not added through the API."""
    if len(stream) > MAX_KEY_LENGTH:
        raise HTTPException(422, f"the stream id is longer than {MAX_KEY_LENGTH} characters")
    try:
        await _stream_desk(request).remove(stream, principal)
    except StreamRefused as exc:
        raise HTTPException(exc.status, exc.message) from None
    return {"stream": stream}


@router.get("/openapi.json", dependencies=ConsoleOnly, include_in_schema=False)
async def openapi(request: Request) -> JSONResponse:
    """The schema, for the console's users only: it maps every route there is."""
    return JSONResponse(request.app.openapi())
