"""The first schema: streams and everything kept about them.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _stream_fk(name: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["stream_id"], ["streams.id"], name=op.f(name))


def upgrade() -> None:
    op.create_table(
        "streams",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("creator", sa.String(length=200), nullable=False),
        sa.Column("platform", sa.String(length=40), nullable=False),
        sa.Column("run_of_show", sa.String(length=300), nullable=True),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("last_at", sa.Double(), nullable=False),
        sa.Column("ended_at", sa.Double(), nullable=True),
        sa.Column("end_reason", sa.String(length=40), nullable=True),
        sa.Column("recorded_at", sa.Double(), nullable=False),
        sa.Column("peak_viewers", sa.Integer(), nullable=True),
        sa.Column("peak_at", sa.Double(), nullable=True),
        sa.Column("viewers_total", sa.Integer(), nullable=True),
        sa.Column("users_capped", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_streams")),
        sa.UniqueConstraint("key", name=op.f("uq_streams_key")),
    )
    op.create_index(op.f("ix_streams_name"), "streams", ["name"], unique=False)
    op.create_table(
        "alarms",
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("alarm_id", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=80), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("raised_at", sa.Double(), nullable=False),
        sa.Column("cleared_at", sa.Double(), nullable=True),
        _stream_fk("fk_alarms_stream_id_streams"),
        sa.PrimaryKeyConstraint("stream_id", "alarm_id", name=op.f("pk_alarms")),
    )
    op.create_table(
        "chat",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("user", sa.String(length=200), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=True),
        _stream_fk("fk_chat_stream_id_streams"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat")),
    )
    op.create_index(op.f("ix_chat_stream_id_at"), "chat", ["stream_id", "at"], unique=False)
    op.create_table(
        "commands",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("command_id", sa.String(length=200), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("wall_at", sa.Double(), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("by", sa.String(length=80), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=200), nullable=True),
        _stream_fk("fk_commands_stream_id_streams"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commands")),
    )
    op.create_index(op.f("ix_commands_stream_id_at"), "commands", ["stream_id", "at"], unique=False)
    op.create_table(
        "gaps",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("start", sa.Double(), nullable=False),
        sa.Column("end", sa.Double(), nullable=False),
        sa.Column("cause", sa.String(length=80), nullable=False),
        _stream_fk("fk_gaps_stream_id_streams"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gaps")),
    )
    op.create_table(
        "gifts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("handle", sa.String(length=200), nullable=False),
        sa.Column("gift_name", sa.String(length=200), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("diamonds", sa.Integer(), nullable=False),
        _stream_fk("fk_gifts_stream_id_streams"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gifts")),
    )
    op.create_index(op.f("ix_gifts_stream_id_at"), "gifts", ["stream_id", "at"], unique=False)
    op.create_table(
        "leads",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("kind", sa.String(length=80), nullable=False),
        sa.Column("user", sa.String(length=200), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("item", sa.String(length=40), nullable=True),
        _stream_fk("fk_leads_stream_id_streams"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leads")),
    )
    op.create_table(
        "minutes",
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("minute", sa.Integer(), nullable=False),
        sa.Column("viewer_seconds", sa.Double(), nullable=False),
        sa.Column("covered_s", sa.Double(), nullable=False),
        sa.Column("viewers_max", sa.Integer(), nullable=True),
        sa.Column("viewers_min", sa.Integer(), nullable=True),
        sa.Column("viewers_last", sa.Integer(), nullable=True),
        sa.Column("viewers_total", sa.Integer(), nullable=True),
        sa.Column("chat", sa.Integer(), nullable=False),
        sa.Column("chatters", sa.Integer(), nullable=False),
        sa.Column("new_chatters", sa.Integer(), nullable=False),
        sa.Column("interactors", sa.Integer(), nullable=False),
        sa.Column("new_interactors", sa.Integer(), nullable=False),
        sa.Column("new_users", sa.Integer(), nullable=False),
        sa.Column("questions", sa.Integer(), nullable=False),
        sa.Column("likes", sa.Integer(), nullable=False),
        sa.Column("shares", sa.Integer(), nullable=False),
        sa.Column("follows", sa.Integer(), nullable=False),
        sa.Column("joins", sa.Integer(), nullable=False),
        sa.Column("gifts", sa.Integer(), nullable=False),
        sa.Column("diamonds", sa.Integer(), nullable=False),
        sa.Column("subscribes", sa.Integer(), nullable=False),
        sa.Column("flagged", sa.Integer(), nullable=False),
        sa.Column("toxic", sa.Integer(), nullable=False),
        sa.Column("spam", sa.Integer(), nullable=False),
        sa.Column("hidden", sa.Integer(), nullable=False),
        sa.Column("positive", sa.Integer(), nullable=False),
        sa.Column("negative", sa.Integer(), nullable=False),
        sa.Column("tech_reports", sa.Integer(), nullable=False),
        sa.Column("leads", sa.Integer(), nullable=False),
        sa.Column("segment", sa.String(length=200), nullable=True),
        _stream_fk("fk_minutes_stream_id_streams"),
        sa.PrimaryKeyConstraint("stream_id", "minute", name=op.f("pk_minutes")),
    )
    op.create_table(
        "prompts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.String(length=300), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("alarm_id", sa.String(length=300), nullable=True),
        _stream_fk("fk_prompts_stream_id_streams"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompts")),
    )
    op.create_index(op.f("ix_prompts_stream_id_at"), "prompts", ["stream_id", "at"], unique=False)
    op.create_table(
        "questions",
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("item", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=80), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("asked_at", sa.Double(), nullable=False),
        sa.Column("last_at", sa.Double(), nullable=False),
        sa.Column("askers", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("claimed_by", sa.String(length=80), nullable=True),
        sa.Column("claimed_at", sa.Double(), nullable=True),
        sa.Column("closed_by", sa.String(length=80), nullable=True),
        sa.Column("closed_at", sa.Double(), nullable=True),
        sa.Column("response_s", sa.Double(), nullable=True),
        _stream_fk("fk_questions_stream_id_streams"),
        sa.PrimaryKeyConstraint("stream_id", "item", name=op.f("pk_questions")),
    )
    op.create_table(
        "segments",
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("ended_at", sa.Double(), nullable=True),
        _stream_fk("fk_segments_stream_id_streams"),
        sa.PrimaryKeyConstraint("stream_id", "seq", name=op.f("pk_segments")),
    )
    op.create_table(
        "states",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("state", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        _stream_fk("fk_states_stream_id_streams"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_states")),
    )


def downgrade() -> None:
    op.drop_table("states")
    op.drop_table("segments")
    op.drop_table("questions")
    op.drop_index(op.f("ix_prompts_stream_id_at"), table_name="prompts")
    op.drop_table("prompts")
    op.drop_table("minutes")
    op.drop_table("leads")
    op.drop_index(op.f("ix_gifts_stream_id_at"), table_name="gifts")
    op.drop_table("gifts")
    op.drop_table("gaps")
    op.drop_index(op.f("ix_commands_stream_id_at"), table_name="commands")
    op.drop_table("commands")
    op.drop_index(op.f("ix_chat_stream_id_at"), table_name="chat")
    op.drop_table("chat")
    op.drop_table("alarms")
    op.drop_index(op.f("ix_streams_name"), table_name="streams")
    op.drop_table("streams")
