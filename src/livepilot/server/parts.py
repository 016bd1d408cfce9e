"""The parts every route works with, and the FastAPI dependencies that hand them over.

:func:`livepilot.server.app.create_app` builds one :class:`ServerParts` and keeps it on
``app.state``; routes ask for it with ``parts: Parts`` and for the signed-in user with
``principal: SignedIn`` (or ``dependencies=[...]`` for routes that only need someone to
be). Dependencies run before the body is parsed: no credential → 401, never a 422 that
tells an anonymous caller about the API's shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.requests import HTTPConnection

from livepilot.bus.base import Bus
from livepilot.metrics import Metrics
from livepilot.server.audit import AuditLog
from livepilot.server.auth import Access, Principal
from livepilot.server.commands import CommandDesk
from livepilot.server.gate import Gate, Refused
from livepilot.server.hub import Hub
from livepilot.server.presence import Presence
from livepilot.server.state import StateReader
from livepilot.settings import Settings

__all__ = [
    "ConsoleOnly",
    "OverlayOnly",
    "Parts",
    "ServerParts",
    "SignedIn",
    "overlay_access",
    "parts_of",
]


@dataclass(frozen=True, slots=True, eq=False)
class ServerParts:
    """What one app serves from: built once by the app factory."""

    settings: Settings
    bus: Bus
    metrics: Metrics
    hub: Hub
    gate: Gate
    desk: CommandDesk
    audit: AuditLog
    #: The running streams' state; ``None`` in a process that runs no streams.
    reader: StateReader | None
    #: OBS overlay pages and their assets.
    overlays: Path
    #: The console page and its assets (``server/static``).
    static: Traversable
    #: Who is moderating right now (live state of the console sockets).
    presence: Presence = field(default_factory=Presence)


def parts_of(conn: HTTPConnection) -> ServerParts:
    parts = getattr(conn.app.state, "parts", None)
    if not isinstance(parts, ServerParts):
        raise RuntimeError("this app was not built by livepilot.server.app.create_app")
    return parts


Parts = Annotated[ServerParts, Depends(parts_of)]


def refused(exc: Refused) -> HTTPException:
    return HTTPException(exc.status, exc.reason, headers=exc.headers())


def _signed_in(request: Request, parts: Parts) -> Principal:
    try:
        return parts.gate.console(request, "http")
    except Refused as exc:
        raise refused(exc) from None


def overlay_access(request: Request, parts: Parts) -> Access:
    """What the request's overlay credential opens (:class:`Access`); 401 if nothing."""
    return _overlay(request, parts)


def _overlay(request: Request, parts: Parts) -> Access:
    try:
        return parts.gate.overlay(request, "http")
    except Refused as exc:
        raise refused(exc) from None


#: The console user (a moderator, or the shared console token) behind a request.
SignedIn = Annotated[Principal, Depends(_signed_in)]
#: ``dependencies=ConsoleOnly`` for a route any console user may read.
ConsoleOnly = [Depends(_signed_in)]
#: ``dependencies=OverlayOnly`` for a route the overlay key (or a console token) opens.
OverlayOnly = [Depends(_overlay)]
