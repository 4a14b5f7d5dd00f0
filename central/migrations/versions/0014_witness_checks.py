"""Two-person checks of issues and cabinet takes of high-value or controlled products, and
the second badges at cabinets that confirm takes.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "witness_check",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("requisition_id", sa.Integer(), sa.ForeignKey("requisition.id")),
        sa.Column("movement_id", sa.BigInteger(), unique=True),
        sa.Column("location_id", sa.Integer(), sa.ForeignKey("location.id"), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("witness", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_witness_check_confirmed_at", "witness_check", ["confirmed_at"])
    op.create_table(
        "cabinet_witness_badge",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("location_id", sa.Integer(), sa.ForeignKey("location.id"), nullable=False),
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("of_user", sa.String(200), nullable=False),
        sa.Column("session_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cabinet_witness_badge")
    op.drop_table("witness_check")
