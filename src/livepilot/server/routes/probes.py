"""What ops and orchestrators read, without a credential.

GET /healthz   liveness
GET /readyz    200 once streams run and the bus is up, else 503 naming what is not
GET /metrics   Prometheus text format (scrape on a private network)
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from livepilot.server.parts import Parts

__all__ = ["router"]

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request, parts: Parts) -> JSONResponse:
    """Ready: the app started, the bus reaches its backend, and no stream's pipeline is
    down (crashed and waiting to restart). ``problems`` says what is not, in words."""
    streams = parts.reader.status() if parts.reader is not None else []
    health = parts.bus.health()
    problems = [] if request.app.state.ready else ["the server is starting or stopping"]
    if not health.up:
        problems.append(f"bus down: {health.problem}")
    problems += [
        f"stream {s.get('stream')}: pipeline {s.get('pipeline')}"
        for s in streams
        if s.get("pipeline") == "restarting" and not s.get("remote")
    ]
    body = {
        "ready": not problems,
        "problems": problems,
        "streams": streams,
        "bus": {"up": health.up, "problem": health.problem, "buffered": health.buffered,
                "dropped": health.dropped},
    }
    return JSONResponse(body, status_code=503 if problems else 200)


@router.get("/metrics")
async def metrics(parts: Parts) -> Response:
    return Response(generate_latest(parts.metrics.registry), media_type=CONTENT_TYPE_LATEST)
