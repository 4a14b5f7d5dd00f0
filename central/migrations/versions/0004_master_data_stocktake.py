"""Master data (departments, users and badges, product prices), stocktakes, item history.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("product") as b:
        b.add_column(sa.Column("unit_price", sa.Numeric(12, 2), nullable=True))
    op.create_table(
        "department",
        sa.Column("code", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
    )
    op.create_table(
        "app_user",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("badge", sa.String(200), nullable=True, unique=True),
        sa.Column("department", sa.String(40), sa.ForeignKey("department.code"), nullable=True),
    )
    op.create_table(
        "stocktake",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("location_id", sa.Integer(), sa.ForeignKey("location.id"), nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("counted_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expected", sa.Integer(), nullable=False),
        sa.Column("counted", sa.Integer(), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("accuracy", sa.Float(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("confirmed_by", sa.String(200), nullable=True),
        sa.Column("confirmed_at", TS, nullable=True),
    )
    op.create_table(
        "stocktake_line",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("stocktake_id", sa.Integer(), sa.ForeignKey("stocktake.id"), nullable=False),
        sa.Column("epc", sa.String(200), nullable=False),
        sa.Column("finding", sa.String(20), nullable=False),
        sa.Column("ledger_location_id", sa.Integer(), sa.ForeignKey("location.id"), nullable=True),
    )
    op.create_index("ix_stocktake_line_stocktake_id", "stocktake_line", ["stocktake_id"])
    op.create_table(
        "tag_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("epc", sa.String(200), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("from_location_id", sa.Integer(), nullable=True),
        sa.Column("to_location_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("case_id", sa.String(120), nullable=False),
        sa.Column("ref", sa.String(64), nullable=True),
    )
    op.create_index("ix_tag_history_epc", "tag_history", ["epc"])
    op.create_table(
        "receipt",
        sa.Column("number", sa.String(80), primary_key=True),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(80), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("receipt")
    op.drop_index("ix_tag_history_epc", "tag_history")
    op.drop_table("tag_history")
    op.drop_index("ix_stocktake_line_stocktake_id", "stocktake_line")
    op.drop_table("stocktake_line")
    op.drop_table("stocktake")
    op.drop_table("app_user")
    op.drop_table("department")
    with op.batch_alter_table("product") as b:
        b.drop_column("unit_price")
