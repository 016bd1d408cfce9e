"""Pages for people and OBS, and the code they load.

GET /                         the console page                     console
GET /console-assets/{asset}   the console's scripts and styles     no credential
GET /console-assets/i18n/{lang}.json   the console's words (de, en)  no credential
GET /overlays                 every overlay, its URL parameters    console
                              and a live preview
GET /overlay/{name}           an OBS overlay page                  overlay key (public),
                                                                   host key (backstage)
GET /overlay-show/{stream}    the run-of-show segment and timer    host key
                              for the host screen
GET /overlay-assets/{asset}   the overlays' scripts and styles     no credential

Assets are code, no data, so they need no credential: a ``.js`` or ``.css`` file by its
bare name from ``server/static`` (console) or the overlays folder, nothing else — no
path, no other type (the catalogues of the console's words are ``.json`` under
``static/i18n``). They are sent with ``Cache-Control: no-cache`` and an ``ETag``:
a browser asks again on every load and gets ``304`` while the file has not changed, so
an upgraded server never runs with yesterday's script.
"""

from __future__ import annotations

import hashlib
import re
import time
from importlib.resources.abc import Traversable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from livepilot.server.audience import BACKSTAGE, OVERLAY_KINDS
from livepilot.server.auth import Access
from livepilot.server.parts import ConsoleOnly, Parts, overlay_access
from livepilot.server.state import ViewUnavailable

__all__ = ["router"]

router = APIRouter()

_ASSET = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,120}\.(js|css)")
_MEDIA = {
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "json": "application/json; charset=utf-8",
}
_CATALOGUE = re.compile(r"[a-z]{2}\.(json)")

OverlayAccess = Annotated[Access, Depends(overlay_access)]


def _backstage_allowed(name: str, access: Access) -> None:
    """Backstage overlays carry host prompts: the public overlay key never opens them."""
    if name in BACKSTAGE and access is Access.OVERLAY:
        raise HTTPException(403, f"overlay {name!r} is backstage: open it with the host key")


@router.get("/", response_class=HTMLResponse, dependencies=ConsoleOnly)
async def console(parts: Parts) -> HTMLResponse:
    page = parts.static.joinpath("console.html").read_text(encoding="utf-8")
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


@router.get("/console-assets/{asset}")
async def console_asset(asset: str, request: Request, parts: Parts) -> Response:
    """The console page's scripts and styles."""
    return _asset(parts.static, asset, request, "console asset")


@router.get("/console-assets/i18n/{catalogue}")
async def console_words(catalogue: str, request: Request, parts: Parts) -> Response:
    """The console's words in one language (``de.json``, ``en.json``)."""
    return _asset(parts.static.joinpath("i18n"), catalogue, request, "catalogue", _CATALOGUE)


@router.get("/overlays", response_class=HTMLResponse, dependencies=ConsoleOnly)
async def overlay_preview(parts: Parts) -> HTMLResponse:
    """Every overlay, its URL parameters and a live preview (the console's token)."""
    page = parts.overlays / "index.html"
    return HTMLResponse(page.read_text(encoding="utf-8"), headers={"Cache-Control": "no-store"})


@router.get("/overlay/{name}", response_class=HTMLResponse)
async def overlay_page(name: str, parts: Parts, access: OverlayAccess) -> HTMLResponse:
    if name not in OVERLAY_KINDS:
        raise HTTPException(404, f"no overlay {name!r}; known: {', '.join(OVERLAY_KINDS)}")
    _backstage_allowed(name, access)
    page = parts.overlays / f"{name}.html"
    if not page.is_file():
        raise HTTPException(404, f"overlay page {name}.html is missing in {parts.overlays}")
    return HTMLResponse(page.read_text(encoding="utf-8"))


@router.get("/overlay-show/{stream}")
async def overlay_show(stream: str, parts: Parts, access: OverlayAccess) -> JSONResponse:
    """Where the run-of-show is, for the host screen: the segment, its timer, the next one.
    Backstage (talking points are not for the audience)."""
    _backstage_allowed("host", access)
    reader = parts.reader
    if reader is None:
        raise HTTPException(404, "this server runs no streams")
    try:
        view = reader.view(stream, "show", time.time())
    except ViewUnavailable as exc:
        raise HTTPException(404, str(exc)) from None
    return JSONResponse(view, headers={"Cache-Control": "no-store"})


@router.get("/overlay-assets/{asset}")
async def overlay_asset(asset: str, request: Request, parts: Parts) -> Response:
    """The overlays' shared script and style."""
    return _asset(parts.overlays, asset, request, "overlay asset")


def _asset(
    folder: Traversable, name: str, request: Request, what: str, pattern: re.Pattern[str] = _ASSET
) -> Response:
    match = pattern.fullmatch(name)
    path = folder.joinpath(name) if match is not None else None
    if match is None or path is None or not path.is_file():
        raise HTTPException(404, f"no such {what}")
    data = path.read_bytes()
    etag = f'"{hashlib.sha256(data).hexdigest()[:32]}"'
    headers = {"Cache-Control": "no-cache", "ETag": etag, "X-Content-Type-Options": "nosniff"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=_MEDIA[match.group(1)], headers=headers)
