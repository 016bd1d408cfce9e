"""What a stream carries over a restart, and what a user carries from stream to stream.

At start-up the composition root asks the store (once, before the streams run) for

- the stored stream to go on with: the newest one of the same name and platform that the
  process *stopped* (not one the platform ended) — or that a process left without an end
  because it died (``kill -9``, out of memory, power) — whose last event is at most
  ``RESUME_WITHIN_S`` old, with its minutes, segments and question items
  (:class:`~livepilot.store.recording.Resumption`); the pause is a gap with cause
  ``restart`` or ``crash``;
- the remembered strikes of the platform's users (:func:`load_strikes`), newest first.

A stream a dead process left without an end that nobody went on with in time is closed at
its last event with the reason ``lost`` (:func:`close_abandoned`), so reports and the plan
count it like any other.

:class:`StrikeLedger` is the store's side of the moderation stage's memory: each change
becomes a ``strikes`` row keyed by platform and user, queued for the writer thread (never
blocking the stream).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from livepilot.store import schema
from livepilot.store.database import describe_error
from livepilot.store.recording import Resumption, RowSink

__all__ = [
    "RESUME_WITHIN_S",
    "StrikeLedger",
    "StrikeRow",
    "close_abandoned",
    "find_resumption",
    "load_strikes",
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
