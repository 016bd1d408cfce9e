"""The audit log and strikes outlive the process; questions count withdrawn asks.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("stream_name", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("by", sa.String(length=80), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("command", sa.String(length=200), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("previous", sa.String(length=40), nullable=True),
        sa.Column("state", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit")),
    )
    op.create_index(op.f("ix_audit_at"), "audit", ["at"], unique=False)
    op.create_table(
        "strikes",
        sa.Column("platform", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("handle", sa.String(length=200), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("streams", sa.Integer(), nullable=False),
        sa.Column("blocked_by", sa.String(length=80), nullable=True),
        sa.Column("last_stream", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("platform", "user_id", name=op.f("pk_strikes")),
    )
    op.create_index(op.f("ix_strikes_updated_at"), "strikes", ["updated_at"], unique=False)
    with op.batch_alter_table("questions") as batch:
        batch.add_column(
            sa.Column("withdrawn", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("questions") as batch:
        batch.drop_column("withdrawn")
    op.drop_index(op.f("ix_strikes_updated_at"), table_name="strikes")
    op.drop_table("strikes")
    op.drop_index(op.f("ix_audit_at"), table_name="audit")
    op.drop_table("audit")
