"""Which run-of-show segment is running, as the store follows it.

Moderators start and advance segments with commands (``segment_start`` with a name or
1-based number, ``segment_next``); the engagement stage times them. The store follows the
same commands against the plan's segment names, with the same rules (an unknown segment
is ignored, ``segment_next`` after the last one finishes the show), so every minute and
every drop-off can name the segment that was running.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["SegmentTracker", "ShowPlan"]


@dataclass(frozen=True, slots=True)
class ShowPlan:
    """A run-of-show as the store needs it: its title and its segments' names, in order."""

    title: str
    segments: tuple[str, ...]

    def index_of(self, name_or_number: str) -> int | None:
        """A segment's position by name (case-insensitive) or 1-based number."""
        key = name_or_number.strip()
        if key.isdigit():
            index = int(key) - 1
            return index if 0 <= index < len(self.segments) else None
        folded = key.casefold()
        for index, name in enumerate(self.segments):
            if name.casefold() == folded:
                return index
        return None


class SegmentTracker:
    """The segments started so far; each is a row ``seq, name, position, started_at,
    ended_at`` for the ``segments`` table."""

    def __init__(self, plan: ShowPlan | None) -> None:
        self.plan = plan
        self.rows: list[dict[str, Any]] = []
        self._index: int | None = None
        #: Row numbers changed since the last :meth:`changed` call.
        self._dirty: set[int] = set()

    def seed(self, rows: list[dict[str, Any]]) -> None:
        """Carry on from stored segments (a resumed stream): new ones number on."""
        self.rows = [{k: row[k] for k in ("seq", "name", "position", "started_at", "ended_at")}
                     for row in rows]

    @property
    def current(self) -> str | None:
        if self._index is None or not self.rows or self.rows[-1]["ended_at"] is not None:
            return None
        return str(self.rows[-1]["name"])

    def command(self, action: str, which: str, at: float) -> None:
        """Apply ``segment_start`` / ``segment_next``; other actions are not ours."""
        plan = self.plan
        if plan is None or not plan.segments:
            return
        if action == "segment_start":
            index = 0 if not which else plan.index_of(which)
            if index is not None:
                self._start(index, at)
        elif action == "segment_next":
            if self._index is None:
                self._start(0, at)
            elif self._index + 1 < len(plan.segments):
                self._start(self._index + 1, at)
            else:
                self.end(at)
                self._index = None

    def _start(self, index: int, at: float) -> None:
        assert self.plan is not None
        self.end(at)
        self._index = index
        self.rows.append({"seq": len(self.rows) + 1, "name": self.plan.segments[index],
                          "position": index, "started_at": at, "ended_at": None})
        self._dirty.add(len(self.rows) - 1)

    def end(self, at: float) -> None:
        """End the running segment (the show moved on, or the stream ended)."""
        if self.rows and self.rows[-1]["ended_at"] is None:
            self.rows[-1]["ended_at"] = max(at, self.rows[-1]["started_at"])
            self._dirty.add(len(self.rows) - 1)

    def changed(self) -> list[dict[str, Any]]:
        """The rows changed since the last call (copies, ready to write)."""
        out = [dict(self.rows[i]) for i in sorted(self._dirty)]
        self._dirty.clear()
        return out
