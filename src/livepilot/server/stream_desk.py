"""Streams added and ended through the API: checked, authorised, audited, then handed to
the process's :class:`StreamControl`.

``POST /api/streams`` and ``DELETE /api/streams/{stream}`` are a live manager's actions
(role ``lead``; the shared console token signs in as one): a moderator or observer gets
403. The body is validated here (422 naming the field); the control decides the stream's
name and whether it may run (409 when it runs already, 503 when the bus is down). Every
outcome is counted in ``livepilot_commands_total`` (action ``stream_add`` or
``stream_remove``); what was done is written to the audit log like a moderator action.

The server never builds a source: a control wired by the CLI does (in one process with
the memory bus it starts the stream here; on the Redis bus it declares it in the registry
that every worker's claim loop reads).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from livepilot.metrics import Metrics
from livepilot.server.audit import AuditEntry, AuditLog
from livepilot.server.auth import ModeratorRole, Principal

__all__ = ["StreamBody", "StreamControl", "StreamDesk", "StreamRefused"]

log = logging.getLogger(__name__)


class StreamBody(BaseModel):
    """A stream to add: ``{"platform": "tiktok", "unique_id": "@creator"}`` or
    ``{"platform": "simulator", "unique_id": "probe", "seed": 3}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    platform: Literal["tiktok", "simulator"]
    #: The TikTok creator's handle (``@`` optional), or the simulated stream's name; the
    #: stream's id follows from it.
    unique_id: str = Field(min_length=1, max_length=200)
    title: str | None = Field(default=None, max_length=200)
    #: Simulator only: same seed, same stream; speed 2 = twice as fast.
    seed: int | None = Field(default=None, ge=0, le=2**31)
    speed: float | None = Field(default=None, gt=0, le=1000)


class StreamRefused(Exception):
    """A stream that was not added or removed: the HTTP ``status``, the reason, and the
    ``field`` at fault when there is one."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


class StreamControl(Protocol):
    """Starts and ends streams for the API (wired by the CLI; see the module docstring)."""

    async def add(self, body: StreamBody) -> str:
        """Add the stream; its id. Raises :class:`StreamRefused`."""
        ...

    async def remove(self, stream: str) -> None:
        """End the stream wherever it runs. Raises :class:`StreamRefused`."""
        ...


class StreamDesk:
    """Authorises, audits and counts stream additions and removals."""

    def __init__(
        self, control: StreamControl, audit: AuditLog, metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._control = control
        self._audit = audit
        self._metrics = metrics
        self._clock = clock

    async def add(self, body: StreamBody, principal: Principal) -> str:
        self._authorize("stream_add", body.unique_id, principal)
        try:
            stream = await self._control.add(body)
        except StreamRefused as exc:
            self._count("stream_add", _outcome(exc.status))
            raise
        args: dict[str, object] = body.model_dump(exclude_none=True)
        self._record("stream_add", stream, args, principal)
        log.info("stream %s added by %s (%s)", stream, principal.name or "the console token",
                 body.platform)
        return stream

    async def remove(self, stream: str, principal: Principal) -> None:
        self._authorize("stream_remove", stream, principal)
        try:
            await self._control.remove(stream)
        except StreamRefused as exc:
            self._count("stream_remove", _outcome(exc.status))
            raise
        self._record("stream_remove", stream, {}, principal)
        log.info("stream %s removed by %s", stream, principal.name or "the console token")

    def _authorize(self, action: str, stream: str, principal: Principal) -> None:
        if principal.role is ModeratorRole.LEAD:
            return
        who = principal.name or "the console token"
        self._count(action, "forbidden")
        log.warning("refused: %s of %.200s by %s (%s)", action, stream, who, principal.role)
        raise StreamRefused(
            403, f"{who} ({principal.role}) may not add or end streams: it needs a lead"
        )

    def _record(
        self, action: str, stream: str, args: dict[str, object], principal: Principal
    ) -> None:
        self._audit.record(AuditEntry(
            at=self._clock(), stream=stream, action=action, target=stream,
            by=principal.name or "console", args=dict(args), role=str(principal.role),
            verified=principal.verified,
        ))
        self._count(action, "sent")

    def _count(self, action: str, outcome: str) -> None:
        self._metrics.commands.labels(action, outcome).inc()


def _outcome(status: int) -> str:
    return {404: "no_stream", 409: "conflict", 422: "invalid", 503: "unavailable"}.get(
        status, "refused"
    )
