"""Alert notification bookkeeping and transport orders.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("alert") as b:
        b.add_column(sa.Column("notified_state", sa.String(20), nullable=True))
        b.add_column(sa.Column("notified_severity", sa.String(20), nullable=True))
        b.add_column(sa.Column("notified_at", TS, nullable=True))
        b.add_column(sa.Column("notify_count", sa.Integer(), nullable=False, server_default="0"))
        b.add_column(sa.Column("tier", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "transport_order",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alert.id"), nullable=True, unique=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("destination", sa.String(200), nullable=False),
        sa.Column("gtin", sa.String(14), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("adapter", sa.String(40), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("transport_order")
    with op.batch_alter_table("alert") as b:
        for col in ("tier", "notify_count", "notified_at", "notified_severity", "notified_state"):
            b.drop_column(col)
