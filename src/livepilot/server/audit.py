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

Kept beyond the process by an :class:`AuditKeeper` (the store, wired by the CLI):
:meth:`AuditLog.keep_with` reads the newest entries back at start-up, so the console
shows the actions from before a restart, and hands each new entry over as it is recorded
(the keeper queues it; a request never waits for the database).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import islice
from typing import Any, Protocol

from livepilot.bus.base import Published
from livepilot.insights import ModerationDecision

__all__ = ["AuditEntry", "AuditKeeper", "AuditLog"]

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


class AuditKeeper(Protocol):
    """Where the audit log outlives the process: entries as ``AuditEntry`` dicts."""

    def keep(self, entry: dict[str, Any]) -> None:
        """Keep one entry; never blocks."""
        ...

    def recall(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` entries, oldest first (a blocking read, at start-up)."""
        ...


#: How far back :meth:`AuditLog.listen` looks for the request a decision answers.
_LINK_WINDOW = 1_000


class AuditLog:
    """The newest ``size`` actions, oldest first."""

    def __init__(self, size: int = 10_000) -> None:
        self._entries: deque[AuditEntry] = deque(maxlen=size)
        self._keeper: AuditKeeper | None = None

    def keep_with(self, keeper: AuditKeeper) -> int:
        """Read back what ``keeper`` kept (before anything is recorded here) and keep
        every new entry with it; how many entries came back."""
        recalled = []
        fields = set(AuditEntry.__dataclass_fields__)
        for row in keeper.recall(self._entries.maxlen or 10_000):
            try:
                recalled.append(AuditEntry(**{k: v for k, v in row.items() if k in fields}))
            except TypeError:
                log.warning("audit: a kept entry could not be read back: %r", row)
        # Recalled entries go before any already here; the newest ``size`` stay.
        self._entries = deque([*recalled, *self._entries], maxlen=self._entries.maxlen)
        self._keeper = keeper
        log.info("audit: %d entr%s from before the start", len(recalled),
                 "y" if len(recalled) == 1 else "ies")
        return len(recalled)

    def record(self, entry: AuditEntry) -> None:
        self._entries.append(entry)
        if self._keeper is not None:
            self._keeper.keep(asdict(entry))
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
