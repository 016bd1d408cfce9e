"""Which run-of-show segment is running, as the store follows it.

Moderators start and advance segments with commands (``segment_start`` with a name or
1-based number, ``segment_next``); the engagement stage times them. The store follows the
same commands against the plan's segment names, with the same rules (an unknown segment
is ignored, ``segment_next`` after the last one finishes the show), so every minute and
every drop-off can name the segment that was running.

After a restart the stream's stored segments (and the segment commands behind them) say
where the show stood (:func:`show_position`): the segment that was running, since when,
or that the show had finished — and :func:`counted_since` what the segment's goal had
counted by then, from the stored minutes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "GOAL_COLUMNS", "SEGMENT_ACTIONS", "SegmentTracker", "ShowPlan", "ShowPosition",
    "counted_since", "show_position",
]

#: The moderator commands that move the show.
SEGMENT_ACTIONS = ("segment_start", "segment_next")
#: What a segment goal counts, as the ``minutes`` columns name it.
GOAL_COLUMNS = ("likes", "diamonds", "follows")


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
        """Carry on from stored segments (a resumed stream): new ones number on. A last row
        without an end is the segment still running (:func:`show_position` hands back the
        one a stop ended that way): it goes on, found again in the plan by name, and is
        written back open."""
        self.rows = [{k: row[k] for k in ("seq", "name", "position", "started_at", "ended_at")}
                     for row in rows]
        self._index = None
        if self.rows and self.rows[-1]["ended_at"] is None:
            index = self.plan.index_of(str(self.rows[-1]["name"])) if self.plan else None
            if index is not None:
                self._index = index
                self._dirty.add(len(self.rows) - 1)

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


@dataclass(frozen=True, slots=True)
class ShowPosition:
    """Where the run-of-show stood when a stream paused, as the store read it back.

    ``segment`` is the segment that was running (by name; its 0-based ``position`` in the
    plan then), ``started_at`` when its timer started; ``finished_at`` when the show had
    finished instead (``segment_next`` after the last segment). Nothing set: the show had
    not started. ``counted`` holds the likes, diamonds and follows since the segment
    started (see :func:`counted_since` for how exact they are).
    """

    segment: str | None = None
    position: int | None = None
    started_at: float | None = None
    finished_at: float | None = None
    counted: Mapping[str, int] = field(default_factory=dict)


def show_position(
    plan: ShowPlan | None,
    rows: list[dict[str, Any]],
    commands: Iterable[Mapping[str, Any]],
    *,
    stopped_at: float | None,
) -> ShowPosition:
    """Where the show stood: from a paused stream's stored segment rows, and the segment
    commands it stored (oldest first, with ``action``, ``target``, ``args`` as stored and
    ``wall_at``).

    A row without an end was running (a process that died ends nothing). A stop
    (``stopped_at``, the stream's stored end) ends the running segment with the stream,
    just as ``segment_next`` after the last segment ends the show; the commands, played
    again against the plan, tell the two apart. When they do not reproduce the stored rows
    (a crash loses the last seconds of commands), a row that ended with the stream is
    taken as running.

    The timer starts where the moderator's command came in (its ``wall_at``: for a live
    stream the stage's own clock), not at the stream time the row holds (the newest event
    then, which trails the command when the chat was quiet); without that command, the
    row's start.
    """
    if not rows:
        return ShowPosition()
    last = rows[-1]
    started = float(last["started_at"])
    ended = last["ended_at"]
    replay = SegmentTracker(plan)
    starter: float | None = None
    for command in commands:
        before = len(replay.rows)
        replay.command(str(command["action"]), _which(command), float(command["at"]))
        if len(replay.rows) > before:
            starter = float(command["wall_at"])
    replayed = len(replay.rows) == len(rows)
    if ended is not None:
        if stopped_at is None or float(ended) < stopped_at:
            return ShowPosition(finished_at=float(ended))  # only the show's end ends a row
        if replayed and replay.current is None:
            return ShowPosition(finished_at=float(ended))
    timer = starter if replayed and starter is not None else started
    position = last["position"]
    return ShowPosition(segment=str(last["name"]),
                        position=None if position is None else int(position),
                        started_at=timer)


def _which(command: Mapping[str, Any]) -> str:
    """The segment a stored command names, as :class:`SegmentTracker` reads it live."""
    try:
        args = json.loads(command.get("args") or "{}")
    except ValueError:
        args = {}
    segment = args.get("segment") if isinstance(args, dict) else None
    return str(segment if segment is not None else command.get("target", ""))


def counted_since(
    minutes: Iterable[Mapping[str, Any]], stream_start: float, since: float, until: float,
    column: str,
) -> int:
    """``column`` (likes, follows …) counted from ``since`` to ``until`` (the stream's last
    event), from the stored per-minute counts of a stream that started at
    ``stream_start``.

    Whole minutes after ``since`` count as stored; the minute ``since`` falls in counts
    by the share of its time after ``since`` (its events taken as spread evenly), so the
    result is exact when the segment started on a minute boundary and off by at most that
    one minute's count otherwise.
    """
    total = 0.0
    for row in minutes:
        count = int(row.get(column) or 0)
        if count <= 0:
            continue
        lo = stream_start + 60.0 * int(row["minute"])
        hi = max(lo, min(lo + 60.0, until))
        if lo >= since:
            total += count
        elif hi > since:
            total += count * (hi - since) / (hi - lo)
    return round(total)
