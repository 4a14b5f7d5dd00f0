"""Alerts and stock limits.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "stock_limit",
        sa.Column("location_id", sa.Integer(), sa.ForeignKey("location.id"), primary_key=True),
        sa.Column("gtin", sa.String(14), primary_key=True),
        sa.Column("min_quantity", sa.Integer(), nullable=False),
        sa.Column("max_quantity", sa.Integer(), nullable=False),
        sa.Column("reorder_quantity", sa.Integer(), nullable=True),
    )
    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("raised_at", TS, nullable=False),
        sa.Column("acknowledged_by", sa.String(200), nullable=True),
        sa.Column("acknowledged_at", TS, nullable=True),
        sa.Column("ack_comment", sa.Text(), nullable=True),
        sa.Column("cleared_at", TS, nullable=True),
    )
    op.create_index("ix_alert_kind", "alert", ["kind"])


def downgrade() -> None:
    op.drop_index("ix_alert_kind", "alert")
    op.drop_table("alert")
    op.drop_table("stock_limit")
