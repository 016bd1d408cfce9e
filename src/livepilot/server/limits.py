"""A cap on request bodies: past ``max_bytes`` the answer is 413 and the rest is not read.

A declared ``Content-Length`` over the cap is refused before a byte of the body is read;
a chunked body is counted as it arrives and refused once it passes the cap. Either way
nothing that large is parsed, validated or kept.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from livepilot.metrics import Metrics

__all__ = ["BodyLimit"]


class BodyLimit:
    """ASGI middleware; see the module docstring."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, metrics: Metrics) -> None:
        self._app = app
        self._max = max_bytes
        self._refused = metrics.bad_input.labels("body")

    def _detail(self) -> str:
        return f"request body larger than {self._max} bytes (LIVEPILOT_MAX_BODY_BYTES)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self._max:
            self._refused.inc()
            await JSONResponse({"detail": self._detail()}, status_code=413)(scope, receive, send)
            return
        seen = 0

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self._max:
                    self._refused.inc()
                    # Raised inside the app's body read: FastAPI passes HTTPException on
                    # and the exception middleware answers it.
                    raise HTTPException(413, self._detail())
            return message

        await self._app(scope, capped, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
