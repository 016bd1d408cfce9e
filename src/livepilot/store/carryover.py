"""What a stream carries over a restart, and what a user carries from stream to stream.

At start-up the composition root asks the store (once, before the streams run) for

- the stored stream to go on with: the newest one of the same name and platform that the
  process *stopped* (not one the platform ended) — or that a process left without an end
  because it died (``kill -9``, out of memory, power) — whose last event is at most
  ``RESUME_WITHIN_S`` old, with its minutes, segments and question items
  (:class:`~livepilot.store.recording.Resumption`); the pause is a gap with cause
  ``restart`` or ``crash``;
- where its run-of-show stood (:func:`resume_show`): the segment that was running, since
  when, and what its goal had counted;
- the remembered strikes of the platform's users (:func:`load_strikes`), newest first.

A stream a dead process left without an end that nobody went on with in time is closed at
its last event with the reason ``lost`` (:func:`close_abandoned`), so reports and the plan
count it like any other.

:class:`StrikeLedger` is the store's side of the moderation stage's memory: each change
becomes a ``strikes`` row keyed by platform and user, queued for the writer thread (never
blocking the stream).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from livepilot.store import schema
from livepilot.store.database import describe_error
from livepilot.store.recording import Resumption, RowSink
from livepilot.store.segments import (
    GOAL_COLUMNS,
    SEGMENT_ACTIONS,
    ShowPlan,
    ShowPosition,
    counted_since,
    show_position,
)

__all__ = [
    "RESUME_WITHIN_S",
    "StrikeLedger",
    "StrikeRow",
    "close_abandoned",
    "find_resumption",
    "load_strikes",
    "resume_show",
]

log = logging.getLogger(__name__)

#: A stream stopped this long ago (seconds) or less is continued, not started anew.
RESUME_WITHIN_S = 1800.0
#: Users with strikes recalled at start, the most recently changed first.
MAX_STRIKES = 50_000

StrikeRow = dict[str, Any]


def _rows(engine: Engine, query: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def find_resumption(
    engine: Engine, name: str, platform: str, now: float, within: float = RESUME_WITHIN_S
) -> Resumption | None:
    """The stored stream ``name`` stopped mid-stream at most ``within`` s before ``now``,
    with its rows; ``None`` when there is none (or the store cannot be read: logged)."""
    s = schema.streams
    try:
        found = _rows(engine, select(s).where(
            s.c.name == name, s.c.platform == platform,
            or_(s.c.end_reason == "stopped", s.c.ended_at.is_(None)),
            s.c.last_at >= now - within, s.c.last_at <= now + 60.0,
        ).order_by(s.c.last_at.desc()).limit(1))
        if not found:
            return None
        stream = found[0]
        sid = stream["id"]
        m, g, q = schema.minutes, schema.segments, schema.questions
        return Resumption(
            stream=stream,
            cause="restart" if stream["ended_at"] is not None else "crash",
            minutes=_rows(engine, select(m).where(m.c.stream_id == sid).order_by(m.c.minute)),
            segments=_rows(engine, select(g).where(g.c.stream_id == sid).order_by(g.c.seq)),
            questions=_rows(engine, select(q).where(q.c.stream_id == sid)),
        )
    except SQLAlchemyError as exc:
        log.warning("store: cannot read %s's history to resume it (%s); starting anew",
                    name, describe_error(exc))
        return None


def resume_show(
    engine: Engine, resumption: Resumption, plan: ShowPlan | None
) -> tuple[Resumption, ShowPosition]:
    """Where the resumed stream's run-of-show stood (see
    :func:`~livepilot.store.segments.show_position`), and the resumption to go on with:
    a segment the stop ended but that was running is handed back open, so the recording
    goes on with it.

    What the running segment's goal had counted: diamonds exactly, from the stored gifts
    since the segment started; likes and follows from the stored minutes
    (:func:`~livepilot.store.segments.counted_since`: exact but for the minute the segment
    started in). A crash loses what the writer had not stored yet (about a second). When
    the commands and gifts cannot be read (logged), the position comes from the segment
    rows alone and the diamonds from the minutes too.
    """
    stream, rows = resumption.stream, resumption.segments
    if not rows:
        return resumption, ShowPosition()
    c, g = schema.commands, schema.gifts
    sid = stream["id"]
    commands: list[dict[str, Any]] = []
    diamonds: int | None = None
    since = float(rows[-1]["started_at"])
    try:
        commands = _rows(engine, select(c.c.action, c.c.target, c.c.args, c.c.at, c.c.wall_at)
                         .where(c.c.stream_id == sid, c.c.action.in_(SEGMENT_ACTIONS))
                         .order_by(c.c.id))
        # The row starts at the newest event when the command came: that one was before.
        with engine.connect() as conn:
            diamonds = int(conn.execute(
                select(func.coalesce(func.sum(g.c.diamonds), 0))
                .where(g.c.stream_id == sid, g.c.at > since)).scalar_one())
    except SQLAlchemyError as exc:
        log.warning("store: cannot read %s's segment commands and gifts (%s); the show goes "
                    "on from its segments alone", stream["key"], describe_error(exc))
    ended = stream["ended_at"]
    position = show_position(plan, rows, commands,
                             stopped_at=None if ended is None else float(ended))
    if position.segment is None:
        return resumption, position
    start, until = float(stream["started_at"]), float(stream["last_at"])
    counted = {column: counted_since(resumption.minutes, start, since, until, column)
               for column in GOAL_COLUMNS}
    if diamonds is not None:
        counted["diamonds"] = diamonds
    position = dataclasses.replace(position, counted=counted)
    if rows[-1]["ended_at"] is not None:
        reopened = [*rows[:-1], {**rows[-1], "ended_at": None}]
        resumption = dataclasses.replace(resumption, segments=reopened)
    return resumption, position


def close_abandoned(engine: Engine, now: float, within: float = RESUME_WITHIN_S) -> int:
    """End every stored stream a dead process left open whose last event is more than
    ``within`` s old (too late to go on with it): ``ended_at`` = its last event, reason
    ``lost``. How many were closed (0 when the store cannot be written: logged).

    A stream that is still running elsewhere writes its row again with every flush, so
    the age bound keeps this from closing a live one."""
    s = schema.streams
    try:
        with engine.begin() as conn:
            result = conn.execute(
                update(s)
                .where(s.c.ended_at.is_(None), s.c.last_at < now - within)
                .values(ended_at=s.c.last_at, end_reason="lost")
            )
            closed = int(result.rowcount or 0)
    except SQLAlchemyError as exc:
        log.warning("store: cannot close streams left open by a dead process (%s)",
                    describe_error(exc))
        return 0
    if closed:
        log.info("store: closed %d stream(s) a stopped process left without an end", closed)
    return closed


def load_strikes(engine: Engine, platform: str, limit: int = MAX_STRIKES) -> list[StrikeRow]:
    """The platform's remembered strikes, oldest change first (at most ``limit``, the
    newest); empty when the store cannot be read (logged)."""
    t = schema.strikes
    try:
        rows = _rows(engine, select(t).where(t.c.platform == platform)
                     .order_by(t.c.updated_at.desc()).limit(limit))
    except SQLAlchemyError as exc:
        log.warning("store: cannot read remembered strikes (%s); starting without",
                    describe_error(exc))
        return []
    rows.reverse()
    return rows


class StrikeLedger:
    """The moderation stage's memory in the store: one keyed row per platform and user.

    ``remember`` takes any object with the fields of
    :class:`~livepilot.stages.moderation.strike_memory.RememberedUser` (the store does
    not import the stage)."""

    def __init__(
        self, sink: RowSink, platform: str, stream: str,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._sink = sink
        self._platform = platform
        self._stream = stream
        self._wall = wall

    def remember(self, user: Any) -> None:
        self._sink.put(schema.strikes, {
            "platform": self._platform, "user_id": str(user.user_id)[:200],
            "handle": str(user.handle)[:200], "score": float(user.score),
            "at": float(user.at), "hits": int(user.hits), "streams": int(user.streams),
            "blocked_by": None if user.blocked_by is None else str(user.blocked_by)[:80],
            "last_stream": self._stream[:200], "updated_at": self._wall(),
        })
