"""The WebSockets.

WS /ws/console        every event, insight, alarm, prompt;     console token or moderator
                      command frames in (answered ack/error)   token; commands by role
WS /ws/overlay/{name} the subset that overlay needs            overlay key

Before any credential is looked at, the handshake's ``Origin`` must be allowed
(:mod:`livepilot.server.origins`). Every refusal — foreign origin, throttled address,
missing or wrong credential, unknown overlay — accepts the socket and closes it with 1008
(policy violation) and the reason, so a browser can tell it from a network error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import APIRouter, WebSocket

from livepilot.server.audience import OVERLAY_KINDS
from livepilot.server.gate import Refused
from livepilot.server.parts import ServerParts, parts_of

__all__ = ["CLOSE_POLICY", "router"]

#: RFC 6455: policy violation — a refused origin, address or credential.
CLOSE_POLICY = 1008

_T = TypeVar("_T")

router = APIRouter()


def _reason(text: str) -> str:
    """A close reason fits 123 bytes of UTF-8."""
    return text.encode()[:120].decode(errors="ignore")


async def _admit(ws: WebSocket, parts: ServerParts, check: Callable[[], _T]) -> _T | None:
    """``check()``'s answer once the origin is allowed; ``None`` (the socket closed) if the
    origin or ``check`` refuses."""
    try:
        parts.gate.origin(ws)
        return check()
    except Refused as exc:
        await ws.accept()
        await ws.close(code=CLOSE_POLICY, reason=_reason(exc.reason))
        return None


@router.websocket("/ws/console")
async def console_socket(ws: WebSocket) -> None:
    parts = parts_of(ws)
    principal = await _admit(ws, parts, lambda: parts.gate.console(ws, "websocket"))
    if principal is None:
        return
    await ws.accept()

    async def on_frame(text: str) -> str:
        return await parts.desk.frame(text, principal)

    backlog = parts.hub.recent(parts.settings.backlog)
    await parts.hub.serve(ws, "console", backlog=backlog, on_frame=on_frame)


@router.websocket("/ws/overlay/{name}")
async def overlay_socket(ws: WebSocket, name: str) -> None:
    parts = parts_of(ws)
    if await _admit(ws, parts, lambda: parts.gate.overlay(ws, "websocket")) is None:
        return
    kinds = OVERLAY_KINDS.get(name)
    await ws.accept()
    if kinds is None:
        await ws.close(code=CLOSE_POLICY, reason=_reason(f"no overlay {name!r}"))
        return
    await parts.hub.serve(ws, f"overlay:{name}", kinds=kinds)
