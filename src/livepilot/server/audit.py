"""The audit log: every moderator action that was sent, who sent it, under which role —
and, for actions on a message's moderation state, what the stage applied.

A command is audited when the server sends it (the request: ``applied`` false, with the
command's id). The stage that owns the state applies it later, possibly on another
machine, and publishes a ``moderation`` decision; :meth:`AuditLog.listen` (a bus
listener) adds it as a second entry linked by the same ``command`` id, with the
``previous`` and new ``state`` as the stage applied them. A request with no applied entry
changed nothing: the same decision again, or a message the stream no longer knows.

Bounded: the newest ``size`` entries are kept (oldest dropped first). Only commands that
passed their schema get here (``livepilot.commands``), so every entry is small.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import islice
from typing import Any

from livepilot.bus.base import Published
from livepilot.insights import ModerationDecision

__all__ = ["AuditEntry", "AuditLog"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One action as it was sent (or, ``applied``, as the stage applied it): ``by`` is the
    name it runs under, ``verified`` whether a personal moderator token proved that name,
    ``command`` the command's id that links a request to what was applied."""

    at: float
    stream: str
    action: str
    target: str
    by: str
    args: dict[str, Any]
    role: str
    verified: bool
    command: str = ""
    applied: bool = False
    #: The message's state before and after, as the stage applied it.
    previous: str | None = None
    state: str | None = None


#: How far back :meth:`AuditLog.listen` looks for the request a decision answers.
_LINK_WINDOW = 1_000


class AuditLog:
    """The newest ``size`` actions, oldest first."""

    def __init__(self, size: int = 10_000) -> None:
        self._entries: deque[AuditEntry] = deque(maxlen=size)

    def record(self, entry: AuditEntry) -> None:
        self._entries.append(entry)
        if entry.applied:
            log.info("audit: %s %s %s on %s applied (%s → %s)", entry.by, entry.action,
                     entry.target, entry.stream, entry.previous, entry.state)
        else:
            log.info("audit: %s (%s) %s %s on %s", entry.by, entry.role, entry.action,
                     entry.target, entry.stream)

    def listen(self, batch: Sequence[Published]) -> None:
        """Bus listener: audit each moderator's decision a stage applied."""
        for item in batch:
            decision = item.message
            # A decision a moderator's command asked for (not each message of a blocked
            # author: the block itself was audited when it was sent).
            if isinstance(decision, ModerationDecision) and decision.command:
                self._applied(decision)

    def _applied(self, decision: ModerationDecision) -> None:
        command = decision.command or ""
        request = None
        if command:
            request = next(
                (e for e in islice(reversed(self._entries), _LINK_WINDOW)
                 if e.command == command and not e.applied),
                None,
            )
        self.record(AuditEntry(
            at=decision.at, stream=decision.stream, action=decision.action,
            target=decision.event_id, by=decision.by, args={},
            # Sent through another replica: the role is in that replica's log.
            role=request.role if request is not None else "",
            verified=request.verified if request is not None else False,
            command=command, applied=True,
            previous=str(decision.previous), state=str(decision.state),
        ))

    def entries(self) -> list[dict[str, Any]]:
        """Every kept entry as JSON-ready dicts, oldest first."""
        return [asdict(entry) for entry in self._entries]

    def __len__(self) -> int:
        return len(self._entries)
