"""Pages for people and OBS, and the code they load.

GET /                         the console page                     console
GET /console-assets/{asset}   the console's scripts and styles     no credential
GET /overlay/{name}           an OBS overlay page                  overlay key
GET /overlay-assets/{asset}   the overlays' scripts and styles     no credential

Assets are code, no data, so they need no credential: a ``.js`` or ``.css`` file by its
bare name from ``server/static`` (console) or the overlays folder, nothing else — no
path, no other type. They are sent with ``Cache-Control: no-cache`` and an ``ETag``:
a browser asks again on every load and gets ``304`` while the file has not changed, so
an upgraded server never runs with yesterday's script.
"""

from __future__ import annotations

import hashlib
import re
from importlib.resources.abc import Traversable

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from livepilot.server.audience import OVERLAY_KINDS
from livepilot.server.parts import ConsoleOnly, OverlayOnly, Parts

__all__ = ["router"]

router = APIRouter()

_ASSET = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,120}\.(js|css)")
_MEDIA = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"}


@router.get("/", response_class=HTMLResponse, dependencies=ConsoleOnly)
async def console(parts: Parts) -> HTMLResponse:
    page = parts.static.joinpath("console.html").read_text(encoding="utf-8")
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


@router.get("/console-assets/{asset}")
async def console_asset(asset: str, request: Request, parts: Parts) -> Response:
    """The console page's scripts and styles."""
    return _asset(parts.static, asset, request, "console asset")


@router.get("/overlay/{name}", response_class=HTMLResponse, dependencies=OverlayOnly)
async def overlay_page(name: str, parts: Parts) -> HTMLResponse:
    if name not in OVERLAY_KINDS:
        raise HTTPException(404, f"no overlay {name!r}; known: {', '.join(OVERLAY_KINDS)}")
    page = parts.overlays / f"{name}.html"
    if not page.is_file():
        page = parts.overlays / "all.html"
    return HTMLResponse(page.read_text(encoding="utf-8"))


@router.get("/overlay-assets/{asset}")
async def overlay_asset(asset: str, request: Request, parts: Parts) -> Response:
    """The overlays' shared script and style."""
    return _asset(parts.overlays, asset, request, "overlay asset")


def _asset(folder: Traversable, name: str, request: Request, what: str) -> Response:
    match = _ASSET.fullmatch(name)
    path = folder.joinpath(name) if match is not None else None
    if match is None or path is None or not path.is_file():
        raise HTTPException(404, f"no such {what}")
    data = path.read_bytes()
    etag = f'"{hashlib.sha256(data).hexdigest()[:32]}"'
    headers = {"Cache-Control": "no-cache", "ETag": etag, "X-Content-Type-Options": "nosniff"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=_MEDIA[match.group(1)], headers=headers)
