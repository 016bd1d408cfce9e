"""The WebSockets.

WS /ws/console        every event, insight, alarm, prompt;     console token or moderator
                      command frames in (answered ack/error)   token; commands by role
WS /ws/overlay/{name} the subset that overlay needs            overlay key (public
                                                               overlays), host key
                                                               (backstage ones)

Both take ``?stream=`` (only that stream's messages); a console resumes with
``?epoch=…&since=…`` (``docs/wire-format.md``: exactly what it missed, or a snapshot). An
alert overlay names the last alert it showed the same way and gets the alerts it missed,
from at most ``?replay=`` seconds back (default 120, at most 600) and at most
``?replay_max=`` of them (default 20, at most 200).

Before any credential is looked at, the handshake's ``Origin`` must be allowed
(:mod:`livepilot.server.origins`). Every refusal — foreign origin, throttled address,
missing or wrong credential, unknown overlay — accepts the socket and closes it with 1008
(policy violation) and the reason, so a browser can tell it from a network error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from fastapi import APIRouter, WebSocket

from livepilot.server.alert_log import ALERT_MEMORY
from livepilot.server.audience import BACKSTAGE, OVERLAY_KINDS
from livepilot.server.auth import Access
from livepilot.server.gate import Refused
from livepilot.server.hub import Resume
from livepilot.server.parts import ServerParts, parts_of

__all__ = ["CLOSE_POLICY", "router"]

#: RFC 6455: policy violation — a refused origin, address or credential.
CLOSE_POLICY = 1008

_T = TypeVar("_T")

router = APIRouter()

_STREAM = re.compile(r"[^\s,:]{1,200}")
_SEQ = re.compile(r"[0-9]{1,18}")


def _stream_of(ws: WebSocket) -> str | None:
    """The ``?stream=`` the socket is bound to; :class:`Refused` for a malformed one."""
    stream = ws.query_params.get("stream")
    if stream is None or stream == "":
        return None
    if not _STREAM.fullmatch(stream):
        raise Refused(400, "stream: a stream name without spaces, commas or colons")
    return stream


def _resume_of(ws: WebSocket, stream: str | None) -> Resume:
    """``?epoch=&since=`` as a :class:`Resume`: ``since`` is ``stream:seq,…`` or, with
    ``?stream=``, a bare ``seq``. :class:`Refused` (the socket closes 1008 with the
    reason) for anything else, so a client bug is seen instead of silently resnapshotting."""
    epoch = ws.query_params.get("epoch") or None
    raw = ws.query_params.get("since") or ""
    since: dict[str, int] = {}
    if raw:
        if len(raw) > 10_000:
            raise Refused(400, "since: too long")
        for part in raw.split(","):
            name, colon, seq = part.rpartition(":")
            if not colon:
                name = stream or ""
            if not name or not _SEQ.fullmatch(seq) or not _STREAM.fullmatch(name):
                raise Refused(400, f"since: expected stream:seq pairs, got {part[:40]!r}")
            since[name] = int(seq)
    return Resume(epoch, since)


def _replay_of(ws: WebSocket, resume: Resume) -> Resume:
    """``resume`` with the overlay's ``?replay=`` seconds and ``?replay_max=`` count
    (:class:`Refused` for a value that is not a number in range)."""
    window = _bounded(ws, "replay", 120, 600)
    limit = _bounded(ws, "replay_max", 20, ALERT_MEMORY)
    return Resume(resume.epoch, resume.since, float(window), limit)


def _bounded(ws: WebSocket, name: str, default: int, top: int) -> int:
    raw = ws.query_params.get(name) or ""
    if not raw:
        return default
    if not _SEQ.fullmatch(raw) or int(raw) > top:
        raise Refused(400, f"{name}: a whole number from 0 to {top}, got {raw[:20]!r}")
    return int(raw)


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
    try:
        stream = _stream_of(ws)
        resume = _resume_of(ws, stream)
    except Refused as exc:
        await ws.accept()
        await ws.close(code=CLOSE_POLICY, reason=_reason(exc.reason))
        return
    await ws.accept()

    seat = parts.presence.seat(principal, parts.hub.to_consoles)

    async def on_frame(text: str) -> str | None:
        handled, reply = seat.frame(text)  # who is here and what they handle
        if handled:
            return reply
        return await parts.desk.frame(text, principal)

    try:
        await parts.hub.serve(ws, "console", stream=stream, resume=resume,
                              backlog=parts.settings.backlog, on_frame=on_frame)
    finally:
        seat.leave()


@router.websocket("/ws/overlay/{name}")
async def overlay_socket(ws: WebSocket, name: str) -> None:
    parts = parts_of(ws)
    access = await _admit(ws, parts, lambda: parts.gate.overlay(ws, "websocket"))
    if access is None:
        return
    kinds = OVERLAY_KINDS.get(name)
    await ws.accept()
    if kinds is None:
        await ws.close(code=CLOSE_POLICY, reason=_reason(f"no overlay {name!r}"))
        return
    if name in BACKSTAGE and access is Access.OVERLAY:
        await ws.close(code=CLOSE_POLICY,
                       reason=_reason(f"overlay {name!r} is backstage: it needs the host key"))
        return
    try:
        stream = _stream_of(ws)
        resume = _replay_of(ws, _resume_of(ws, stream))
    except Refused as exc:
        await ws.close(code=CLOSE_POLICY, reason=_reason(exc.reason))
        return
    await parts.hub.serve(ws, f"overlay:{name}", stream=stream, kinds=kinds, resume=resume)
