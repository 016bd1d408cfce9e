"""The audit log: every moderator action that was sent, who sent it, under which role.

Bounded: the newest ``size`` entries are kept (oldest dropped first). Only commands that
passed their schema get here (``livepilot.commands``), so every entry is small.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["AuditEntry", "AuditLog"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One action as it was sent: ``by`` is the name it runs under, ``verified`` whether
    a personal moderator token proved that name."""

    at: float
    stream: str
    action: str
    target: str
    by: str
    args: dict[str, Any]
    role: str
    verified: bool


class AuditLog:
    """The newest ``size`` actions, oldest first."""

    def __init__(self, size: int = 10_000) -> None:
        self._entries: deque[AuditEntry] = deque(maxlen=size)

    def record(self, entry: AuditEntry) -> None:
        self._entries.append(entry)
        log.info("audit: %s (%s) %s %s on %s", entry.by, entry.role, entry.action,
                 entry.target, entry.stream)

    def entries(self) -> list[dict[str, Any]]:
        """Every kept entry as JSON-ready dicts, oldest first."""
        return [asdict(entry) for entry in self._entries]

    def __len__(self) -> int:
        return len(self._entries)
