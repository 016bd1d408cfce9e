"""The store's tables (SQLAlchemy Core), one per kind of history.

Every time is the stream's own time (the events' ``at``, Unix seconds), except
``streams.recorded_at`` and ``commands.wall_at``, which are when livepilot wrote them
(retention counts from those). Aggregates are keyed by a natural key and rewritten as they
change (``minutes``, ``segments``, ``alarms``, ``questions``, ``streams``); everything
else is appended once. The Alembic migrations in ``livepilot/store/migrations`` create
exactly these tables (a test compares the two).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = [
    "APPEND_TABLES",
    "KEYED_TABLES",
    "alarms",
    "audit",
    "chat",
    "commands",
    "gaps",
    "gifts",
    "leads",
    "metadata",
    "minutes",
    "prompts",
    "questions",
    "segments",
    "states",
    "streams",
    "strikes",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _stream_fk(primary: bool = False) -> Column[int]:
    return Column(
        "stream_id", Integer, ForeignKey("streams.id"), primary_key=primary, nullable=False
    )


#: One recorded stream: one LIVE of one creator (a ``--follow`` run records each LIVE).
streams = Table(
    "streams",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    #: ``<name>@<first event time, ISO 8601 UTC>``: the same recording replayed again
    #: gets the same key and replaces the earlier copy.
    Column("key", String(300), nullable=False, unique=True),
    Column("name", String(200), nullable=False, index=True),
    Column("creator", String(200), nullable=False),
    Column("platform", String(40), nullable=False),
    Column("run_of_show", String(300)),
    Column("started_at", Double, nullable=False),
    Column("last_at", Double, nullable=False),
    Column("ended_at", Double),
    Column("end_reason", String(40)),
    Column("recorded_at", Double, nullable=False),
    #: The highest concurrent viewer count and when it was first reached.
    Column("peak_viewers", Integer),
    Column("peak_at", Double),
    #: The platform's cumulative viewer count (TikTok ``total_user``), highest seen.
    Column("viewers_total", Integer),
    #: Distinct users were counted only up to a cap (a very large stream): the unique
    #: counts are lower bounds.
    Column("users_capped", Boolean, nullable=False, default=False),
)

_MINUTE_COUNTS = (
    "chat", "chatters", "new_chatters", "interactors", "new_interactors", "new_users",
    "questions", "likes", "shares", "follows", "joins", "gifts", "diamonds", "subscribes",
    "flagged", "toxic", "spam", "hidden", "positive", "negative", "tech_reports", "leads",
)

#: One row per minute of stream time since the stream's start (minute 0 is its first).
minutes = Table(
    "minutes",
    metadata,
    _stream_fk(primary=True),
    Column("minute", Integer, primary_key=True),
    #: ∫ viewers dt over the part of the minute with a known viewer count, and that part.
    Column("viewer_seconds", Double, nullable=False, default=0.0),
    Column("covered_s", Double, nullable=False, default=0.0),
    Column("viewers_max", Integer),
    Column("viewers_min", Integer),
    Column("viewers_last", Integer),
    Column("viewers_total", Integer),
    *(Column(name, Integer, nullable=False, default=0) for name in _MINUTE_COUNTS),
    #: The run-of-show segment running at the end of the minute.
    Column("segment", String(200)),
)

segments = Table(
    "segments",
    metadata,
    _stream_fk(primary=True),
    Column("seq", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("position", Integer),
    Column("started_at", Double, nullable=False),
    Column("ended_at", Double),
)

alarms = Table(
    "alarms",
    metadata,
    _stream_fk(primary=True),
    Column("alarm_id", String(300), primary_key=True),
    Column("kind", String(80), nullable=False),
    Column("source", String(80), nullable=False),
    Column("severity", String(20), nullable=False),
    Column("message", Text, nullable=False),
    Column("data", Text, nullable=False, default="{}"),
    Column("raised_at", Double, nullable=False),
    Column("cleared_at", Double),
)

prompts = Table(
    "prompts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _stream_fk(),
    Column("prompt_id", String(300), nullable=False),
    Column("at", Double, nullable=False),
    Column("source", String(80), nullable=False),
    Column("text", Text, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("alarm_id", String(300)),
    Index(None, "stream_id", "at"),
)

questions = Table(
    "questions",
    metadata,
    _stream_fk(primary=True),
    Column("item", String(40), primary_key=True),
    #: ``question``, ``lead`` or ``feedback_negative``.
    Column("label", String(40), nullable=False),
    Column("kind", String(80)),
    #: The first asker's words (``None`` for a lead when leads keep no text).
    Column("text", Text),
    Column("asked_at", Double, nullable=False),
    Column("last_at", Double, nullable=False),
    Column("askers", Integer, nullable=False, default=1),
    Column("state", String(20), nullable=False),
    Column("claimed_by", String(80)),
    Column("claimed_at", Double),
    Column("closed_by", String(80)),
    Column("closed_at", Double),
    Column("response_s", Double),
    #: Asks taken back out because the message turned out toxic (a late verdict); an
    #: item left with none is ``withdrawn``.
    Column("withdrawn", Integer, nullable=False, default=0),
)

#: The chat log: each chat message (and platform Q&A question) with its verdict.
chat = Table(
    "chat",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _stream_fk(),
    Column("event_id", String(200), nullable=False),
    Column("at", Double, nullable=False),
    Column("type", String(20), nullable=False),
    #: As the lead settings say: @handle, keyed pseudonym, or nothing.
    Column("user", String(200)),
    Column("text", Text),
    #: ``name:kind`` of every label, comma-separated (``toxic:insult,queued:q3``).
    Column("labels", Text, nullable=False, default=""),
    Column("hidden", Boolean, nullable=False, default=False),
    Column("action", String(20)),
    Index(None, "stream_id", "at"),
)

gifts = Table(
    "gifts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _stream_fk(),
    Column("at", Double, nullable=False),
    Column("handle", String(200), nullable=False),
    Column("gift_name", String(200), nullable=False),
    Column("count", Integer, nullable=False),
    Column("diamonds", Integer, nullable=False),
    Index(None, "stream_id", "at"),
)

leads = Table(
    "leads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _stream_fk(),
    Column("event_id", String(200), nullable=False),
    Column("at", Double, nullable=False),
    Column("kind", String(80), nullable=False),
    Column("user", String(200)),
    Column("text", Text),
    Column("item", String(40)),
)

#: Moderator commands as they reached the stream (the audit log), with what they changed.
commands = Table(
    "commands",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _stream_fk(),
    Column("command_id", String(200), nullable=False),
    Column("at", Double, nullable=False),
    Column("wall_at", Double, nullable=False),
    Column("action", String(40), nullable=False),
    Column("target", String(300), nullable=False),
    Column("by", String(80), nullable=False),
    Column("args", Text, nullable=False, default="{}"),
    #: What the stages made of it (``answered``, ``claimed`` …), if they said.
    Column("outcome", String(200)),
    Index(None, "stream_id", "at"),
)

#: Stretches the source heard nothing (``GapEvent``): numbers there may be missing.
gaps = Table(
    "gaps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _stream_fk(),
    Column("start", Double, nullable=False),
    Column("end", Double, nullable=False),
    Column("cause", String(80), nullable=False),
)

#: Connection state changes (connected, disconnected, paused, live ended …).
states = Table(
    "states",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _stream_fk(),
    Column("at", Double, nullable=False),
    Column("state", String(40), nullable=False),
    Column("detail", Text, nullable=False, default=""),
)

#: The server's audit log (``livepilot.server.audit``): every moderator action as it was
#: sent and as a stage applied it, across streams and restarts. ``at`` is wall time.
audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Double, nullable=False, index=True),
    Column("stream_name", String(200), nullable=False),
    Column("action", String(40), nullable=False),
    Column("target", String(300), nullable=False),
    Column("by", String(80), nullable=False),
    Column("args", Text, nullable=False, default="{}"),
    Column("role", String(40), nullable=False, default=""),
    Column("verified", Boolean, nullable=False, default=False),
    Column("command", String(200), nullable=False, default=""),
    Column("applied", Boolean, nullable=False, default=False),
    Column("previous", String(40)),
    Column("state", String(40)),
)

#: Strikes across streams, per platform and user: the decaying score as it stood (``at``
#: is stream time, which is wall time for a live stream), every hit so far, in how many
#: streams, and a local block. The moderation stage starts from these.
strikes = Table(
    "strikes",
    metadata,
    Column("platform", String(40), primary_key=True),
    Column("user_id", String(200), primary_key=True),
    Column("handle", String(200), nullable=False, default=""),
    Column("score", Double, nullable=False, default=0.0),
    Column("at", Double, nullable=False),
    Column("hits", Integer, nullable=False, default=0),
    Column("streams", Integer, nullable=False, default=0),
    Column("blocked_by", String(80)),
    Column("last_stream", String(200), nullable=False),
    Column("updated_at", Double, nullable=False, index=True),
)

#: Tables rows are appended to; the writer buffers these (bounded).
APPEND_TABLES = (prompts, chat, gifts, leads, commands, gaps, states)
#: Tables whose rows are rewritten by key; the writer keeps the newest row per key.
KEYED_TABLES = (streams, minutes, segments, alarms, questions)
