"""Reading stream history back: the stored streams, one stream's data, its chat log.

Reports and the planning side read only through :class:`History`; it never writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, Table, func, select
from sqlalchemy.exc import SQLAlchemyError

from livepilot.errors import LivepilotError, StoreUnavailable
from livepilot.store import schema
from livepilot.store.database import describe_error, open_database, safe_url
from livepilot.store.settings import StoreSettings

__all__ = ["History", "StreamData", "StreamNotFound"]

Row = dict[str, Any]


class StreamNotFound(LivepilotError):
    """No stored stream matches what was asked for (the message says what there is)."""


@dataclass(frozen=True, slots=True)
class StreamData:
    """Everything stored about one stream, oldest first within each kind."""

    stream: Row
    minutes: list[Row]
    segments: list[Row]
    alarms: list[Row]
    prompts: list[Row]
    questions: list[Row]
    commands: list[Row]
    gaps: list[Row]
    states: list[Row]
    #: ``handle, diamonds, gifts`` per gifter, most diamonds first.
    gifters: list[Row]
    #: Lead count per kind.
    leads: dict[str, int] = field(default_factory=dict)


class History:
    """Read access to the store."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def open(cls, settings: StoreSettings) -> History:
        """Connect (and migrate) the configured store; :class:`StoreUnavailable` if down."""
        return cls(open_database(settings))

    def close(self) -> None:
        self._engine.dispose()

    def streams(self, limit: int = 50, name: str | None = None) -> list[Row]:
        """Stored streams, most recently recorded first, with a few headline numbers."""
        s, m = schema.streams, schema.minutes
        totals = (
            select(
                m.c.stream_id,
                func.sum(m.c.diamonds).label("diamonds"),
                func.sum(m.c.chat).label("chat"),
            )
            .group_by(m.c.stream_id)
            .subquery()
        )
        query = (
            select(s, totals.c.diamonds, totals.c.chat)
            .outerjoin(totals, totals.c.stream_id == s.c.id)
            .order_by(s.c.recorded_at.desc(), s.c.id.desc())
            .limit(limit)
        )
        if name is not None:
            query = query.where(s.c.name == name)
        return self._all(query)

    def find(self, ref: str) -> Row:
        """A stream by id number, by key (``name@time``), or by name (the most recently
        recorded with that name)."""
        s = schema.streams
        ref = ref.strip()
        queries = []
        if ref.isdigit():
            queries.append(select(s).where(s.c.id == int(ref)))
        queries.append(select(s).where(s.c.key == ref))
        queries.append(
            select(s).where(s.c.name == ref).order_by(s.c.recorded_at.desc(), s.c.id.desc())
        )
        for query in queries:
            rows = self._all(query.limit(1))
            if rows:
                return rows[0]
        known = ", ".join(row["key"] for row in self.streams(limit=5)) or "none yet"
        raise StreamNotFound(
            f"no stored stream {ref!r} (an id, a key or a stream name); newest: {known}"
        )

    def last(self) -> Row:
        """The most recently recorded stream."""
        rows = self.streams(limit=1)
        if not rows:
            raise StreamNotFound(
                "no stored streams yet: run a stream, a demo or `livepilot replay FILE`"
            )
        return rows[0]

    def load(self, stream: Row) -> StreamData:
        """All of one stream's rows (a stream's data is small: minutes, not events)."""
        sid = stream["id"]

        def rows(table: Table, *order: Any) -> list[Row]:
            return self._all(select(table).where(table.c.stream_id == sid).order_by(*order))

        g, ld = schema.gifts, schema.leads
        gifters = self._all(
            select(g.c.handle, func.sum(g.c.diamonds).label("diamonds"),
                   func.count().label("gifts"))
            .where(g.c.stream_id == sid)
            .group_by(g.c.handle)
            .order_by(func.sum(g.c.diamonds).desc(), g.c.handle)
        )
        leads = {
            row["kind"]: int(row["n"])
            for row in self._all(
                select(ld.c.kind, func.count().label("n"))
                .where(ld.c.stream_id == sid).group_by(ld.c.kind)
            )
        }
        return StreamData(
            stream=stream,
            minutes=rows(schema.minutes, schema.minutes.c.minute),
            segments=rows(schema.segments, schema.segments.c.seq),
            alarms=rows(schema.alarms, schema.alarms.c.raised_at, schema.alarms.c.alarm_id),
            prompts=rows(schema.prompts, schema.prompts.c.at, schema.prompts.c.id),
            questions=rows(schema.questions, schema.questions.c.asked_at,
                           schema.questions.c.item),
            commands=rows(schema.commands, schema.commands.c.at, schema.commands.c.id),
            gaps=rows(schema.gaps, schema.gaps.c.start),
            states=rows(schema.states, schema.states.c.at, schema.states.c.id),
            gifters=gifters,
            leads=leads,
        )

    def chat_log(self, stream: Row, batch: int = 5_000) -> Iterator[Row]:
        """The stream's chat messages in time order, read in batches (any length)."""
        c = schema.chat
        last = (float("-inf"), -1)
        while True:
            query = (
                select(c.c.id, c.c.at, c.c.type, c.c.user, c.c.text, c.c.labels, c.c.hidden,
                       c.c.action)
                .where(c.c.stream_id == stream["id"])
                .where((c.c.at > last[0]) | ((c.c.at == last[0]) & (c.c.id > last[1])))
                .order_by(c.c.at, c.c.id)
                .limit(batch)
            )
            rows = self._all(query)
            yield from rows
            if len(rows) < batch:
                return
            last = (rows[-1]["at"], rows[-1]["id"])

    def _all(self, query: Any) -> list[Row]:
        try:
            with self._engine.connect() as conn:
                return [dict(row._mapping) for row in conn.execute(query)]
        except SQLAlchemyError as exc:
            raise StoreUnavailable(
                f"cannot read the store at {safe_url(self._engine.url)}: {describe_error(exc)}"
            ) from exc
