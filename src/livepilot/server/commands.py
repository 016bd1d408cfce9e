"""Moderator actions in: checked, authorised, audited, then sent on the bus.

The same path serves ``POST /api/commands`` and command frames on ``/ws/console``:

1. the body fits :class:`CommandBody` (422; the body's size is capped before, 413);
2. the sender's role may run the action, under the name it claims (403);
3. the stream runs here (404);
4. the action is known and its target and ``args`` fit its schema
   (:func:`livepilot.commands.check_command`, 422 naming the field);
5. the command is sent to the stream's stages on the bus (503 when the bus is down or
   does not answer within 5 s), then audited (202).

The audit entry records the request under the command's id; when the stage that owns the
state publishes what it applied (a ``moderation`` decision), the audit log adds a second
entry linked by that id (:meth:`livepilot.server.audit.AuditLog.listen`).

Nothing refused reaches the audit log or the bus. Every outcome is counted in
``livepilot_commands_total`` (actions outside the table share the label ``other``).
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable, Collection
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from livepilot.bus.base import Bus
from livepilot.commands import ACTIONS, MAX_TARGET_LENGTH, CommandError, check_command
from livepilot.errors import BusUnavailable
from livepilot.events import CommandEvent
from livepilot.metrics import Metrics
from livepilot.server.audit import AuditEntry, AuditLog
from livepilot.server.auth import ModeratorRole, Principal

__all__ = ["CommandBody", "CommandDesk", "CommandRefused"]

log = logging.getLogger(__name__)


class CommandBody(BaseModel):
    """A moderator action as the console sends it (REST body or WebSocket frame)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stream: str = Field(min_length=1, max_length=200)
    action: str = Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z_]*$")
    target: str = Field(default="", max_length=MAX_TARGET_LENGTH)
    #: Who acts. With a moderator token it is that moderator's name (leave it out, or send
    #: the same name); with the shared console token it is whatever the client says,
    #: ``"console"`` if it says nothing.
    by: str | None = Field(default=None, min_length=1, max_length=80)
    #: Checked against the action's schema (``livepilot.commands.ACTIONS``).
    args: dict[str, Any] = Field(default_factory=dict)


class CommandRefused(Exception):
    """A command that was not sent: the HTTP ``status``, the reason, and the ``field`` at
    fault when there is one."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


class CommandDesk:
    """Checks, audits and sends commands; see the module docstring.

    ``streams`` lists the streams this process runs (``None``: accept any stream, for a
    process that only forwards commands to workers over the bus).
    """

    def __init__(
        self,
        bus: Bus,
        metrics: Metrics,
        audit: AuditLog,
        *,
        streams: Callable[[], Collection[str]] | None,
        max_frame_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._bus = bus
        self._metrics = metrics
        self._audit = audit
        self._streams = streams
        self._max_frame = max_frame_bytes
        self._clock = clock
        self._ids = itertools.count(1)

    async def submit(self, body: CommandBody, principal: Principal) -> CommandEvent:
        """Send ``body`` for ``principal``; :class:`CommandRefused` if it may not go."""
        by = self._authorize(body, principal)
        if self._streams is not None and body.stream not in self._streams():
            self._count(body.action, "no_stream")
            raise CommandRefused(404, f"no stream {body.stream!r}", "stream")
        try:
            args = check_command(body.action, body.target, body.args)
        except CommandError as exc:  # refused here: a stage could only log it
            self._metrics.bad_input.labels("command").inc()
            self._count(body.action, "invalid")
            raise CommandRefused(422, str(exc), exc.field) from None
        now = self._clock()
        command = CommandEvent(
            id=f"cmd-{int(now)}-{next(self._ids)}",
            stream=body.stream,
            at=now,
            received=now,
            action=body.action,
            target=body.target,
            by=by,
            args=args,
        )
        try:
            await self._bus.send_command(command)
        except BusUnavailable as exc:
            self._count(body.action, "unavailable")
            log.warning("command %s on %.200s not sent: %s", body.action, body.stream, exc)
            raise CommandRefused(
                503, "the bus is down: the command was not sent; try again in a moment "
                f"({exc})",
            ) from None
        # Audited once it is on its way (and before anything can come back: the stage's
        # decision arrives on a later turn of the loop), so nothing unsent is audited.
        self._audit.record(AuditEntry(
            at=now, stream=body.stream, action=body.action, target=body.target, by=by,
            args=args, role=str(principal.role), verified=principal.verified,
            command=command.id,
        ))
        self._count(body.action, "sent")
        return command

    async def frame(self, text: str, principal: Principal) -> str:
        """Handle one console WebSocket frame; the reply frame (``ack`` or ``error``)."""
        try:
            if len(text) > self._max_frame or len(text.encode()) > self._max_frame:
                self._metrics.bad_input.labels("websocket").inc()
                raise CommandRefused(413, f"command frame larger than {self._max_frame} bytes")
            body = CommandBody.model_validate_json(text)
            command = await self.submit(body, principal)
        except ValidationError as exc:
            self._metrics.bad_input.labels("websocket").inc()
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            reply: dict[str, Any] = {
                "type": "error",
                "status": 422,
                "message": f"bad command frame: {field + ': ' if field else ''}{first['msg']}",
                "field": field,
            }
        except CommandRefused as exc:
            reply = {"type": "error", "status": exc.status, "message": exc.message}
            if exc.field is not None:
                reply["field"] = exc.field
        else:
            reply = {"type": "ack", "id": command.id}
        return json.dumps(reply)

    def _authorize(self, body: CommandBody, principal: Principal) -> str:
        """The name the command runs under, or 403 saying what the role does not allow."""
        who = principal.name or "the console token"
        if principal.role is ModeratorRole.OBSERVER:
            refusal = f"{who} is an observer: observers can watch but not run {body.action!r}"
        elif not principal.may(body.action):
            refusal = f"{who} ({principal.role}) may not run {body.action!r}: it needs a lead"
        elif principal.name is not None and body.by not in (None, principal.name):
            refusal = (
                f"signed in as {principal.name!r}: cannot act as {body.by!r} "
                "(leave 'by' out or send your own name)"
            )
        else:
            return principal.name or body.by or "console"
        log.warning("refused: %s on %.200s (%s)", body.action, body.stream, refusal)
        self._count(body.action, "forbidden")
        raise CommandRefused(403, refusal)

    def _count(self, action: str, outcome: str) -> None:
        self._metrics.commands.labels(action if action in ACTIONS else "other", outcome).inc()
