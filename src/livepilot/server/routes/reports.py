"""Stream history for the console's users: the stored streams and their reports.

GET /reports                          stored streams, newest first (JSON)
GET /reports/{stream}?format=&lang=   a stream's report: ``html`` (default, prints to PDF),
                                      ``json`` or ``csv`` (per minute); ``lang`` ``de``|``en``.
                                      ``{stream}`` is an id, a key, a name or ``last``
GET /reports/{stream}/chat.csv        its chat log (users as the lead settings kept them)
GET /plan?lang=&tz=&name=&format=     the plan across stored streams: ``html`` (default)
                                      or ``json`` (``livepilot.report.plan``)
GET /api/store                        the store's state: up or down, rows waiting, dropped

All need the console token or a moderator's token. The store is read through the
:class:`~livepilot.store.History` the composition root puts on ``app.state.history`` (and
its recorder on ``app.state.recorder``); without one these routes answer 404. Database
reads are blocking, so the handlers are plain functions, run off the event loop.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse

from livepilot.errors import StoreUnavailable
from livepilot.report import build_report, chat_log_csv, minutes_csv, render_html, report_json
from livepilot.report.plan import PlanError, plan_streams
from livepilot.report.plan_html import render_plan_html
from livepilot.server.parts import ConsoleOnly
from livepilot.store import History, StreamNotFound

__all__ = ["router"]

router = APIRouter()

_OFF = "stream history is not kept by this server (LIVEPILOT_STORE=false?)"


def _history(request: Request) -> History:
    history = getattr(request.app.state, "history", None)
    if not isinstance(history, History):
        raise HTTPException(404, _OFF)
    return history


def _stream(history: History, ref: str) -> dict[str, Any]:
    if len(ref) > 300:
        raise HTTPException(422, "stream: longer than 300 characters")
    try:
        return history.last() if ref == "last" else history.find(ref)
    except StreamNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except StoreUnavailable as exc:
        raise HTTPException(503, str(exc)) from None


@router.get("/reports", dependencies=ConsoleOnly)
def list_streams(request: Request, limit: int = 50) -> list[dict[str, Any]]:
    try:
        rows = _history(request).streams(limit=max(1, min(limit, 500)))
    except StoreUnavailable as exc:
        raise HTTPException(503, str(exc)) from None
    return [
        {"id": r["id"], "stream": r["key"], "name": r["name"], "creator": r["creator"],
         "platform": r["platform"], "started_at": r["started_at"], "ended_at": r["ended_at"],
         "peak_viewers": r["peak_viewers"], "diamonds": int(r["diamonds"] or 0),
         "chat": int(r["chat"] or 0)}
        for r in rows
    ]


@router.get("/reports/{stream}", dependencies=ConsoleOnly)
def report(
    request: Request,
    stream: str,
    format: Literal["html", "json", "csv"] = "html",
    lang: Literal["de", "en"] = "de",
) -> Response:
    """One stream's report; the HTML is self-contained (inline SVG, no script)."""
    history = _history(request)
    row = _stream(history, stream)
    try:
        result = build_report(history.load(row), lang)
    except StoreUnavailable as exc:
        raise HTTPException(503, str(exc)) from None
    if format == "json":
        return Response(report_json(result), media_type="application/json")
    if format == "csv":
        name = f"{row['name']}-{row['id']}-minutes.csv"
        return PlainTextResponse(minutes_csv(result), media_type="text/csv",
                                 headers={"Content-Disposition": _attachment(name)})
    return HTMLResponse(render_html(result, lang))


@router.get("/reports/{stream}/chat.csv", dependencies=ConsoleOnly)
def chat_log(request: Request, stream: str) -> StreamingResponse:
    history = _history(request)
    row = _stream(history, stream)
    chunks = chat_log_csv(history.chat_log(row), float(row["started_at"]))
    return StreamingResponse(chunks, media_type="text/csv", headers={
        "Content-Disposition": _attachment(f"{row['name']}-{row['id']}-chat.csv")})


@router.get("/plan", dependencies=ConsoleOnly)
def plan(
    request: Request,
    lang: Literal["de", "en"] = "de",
    tz: str = "Europe/Berlin",
    name: str | None = None,
    limit: int = 50,
    format: Literal["html", "json"] = "html",
) -> Response:
    """The plan across stored streams; the HTML is self-contained (no script)."""
    history = _history(request)
    if len(tz) > 64 or (name is not None and len(name) > 200):
        raise HTTPException(422, "tz: at most 64 characters; name: at most 200")
    try:
        rows = history.streams(limit=max(1, min(limit, 200)), name=name)
        result = plan_streams(
            (history.load(row) for row in rows), tz, lang, now=time.time()
        )
    except PlanError as exc:
        raise HTTPException(422, str(exc)) from None
    except StoreUnavailable as exc:
        raise HTTPException(503, str(exc)) from None
    if format == "json":
        return Response(result.model_dump_json(), media_type="application/json")
    return HTMLResponse(render_plan_html(result, lang))


@router.get("/api/store", dependencies=ConsoleOnly)
def store_status(request: Request) -> dict[str, Any]:
    recorder = getattr(request.app.state, "recorder", None)
    if recorder is None:
        raise HTTPException(404, _OFF)
    status: dict[str, Any] = recorder.status()
    return status


def _attachment(name: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:120]
    return f'attachment; filename="{safe}"'
