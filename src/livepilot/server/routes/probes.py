"""What ops and orchestrators read, without a credential.

GET /healthz   liveness
GET /readyz    200 once streams run and the bus is up, else 503
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
    streams = parts.reader.status() if parts.reader is not None else []
    ready = bool(request.app.state.ready)
    return JSONResponse({"ready": ready, "streams": streams}, status_code=200 if ready else 503)


@router.get("/metrics")
async def metrics(parts: Parts) -> Response:
    return Response(generate_latest(parts.metrics.registry), media_type=CONTENT_TYPE_LATEST)
