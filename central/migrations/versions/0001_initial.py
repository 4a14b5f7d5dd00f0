"""The ledger: locations, products, batches, tags, stock, ingest, journal, dead letters.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "location",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(200), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("parent_id", sa.Integer(), sa.ForeignKey("location.id"), nullable=True),
    )
    op.create_table(
        "product",
        sa.Column("gtin", sa.String(14), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("unit", sa.String(20), nullable=False),
        sa.Column("category", sa.String(80), nullable=False),
        sa.Column("cold_chain_class", sa.String(40), nullable=False),
        sa.Column("high_value", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "batch",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("gtin", sa.String(14), nullable=False),
        sa.Column("lot", sa.String(20), nullable=False),
        sa.Column("expiry", sa.Date(), nullable=True),
        sa.Column("supplier", sa.String(200), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("gtin", "lot", name="uq_batch_gtin_lot"),
    )
    op.create_table(
        "tag",
        sa.Column("epc", sa.String(200), primary_key=True),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("batch.id"), nullable=False),
        sa.Column("location_id", sa.Integer(), sa.ForeignKey("location.id"), nullable=True),
        sa.Column("last_event_at", TS, nullable=True),
    )
    op.create_table(
        "stock",
        sa.Column("location_id", sa.Integer(), sa.ForeignKey("location.id"), primary_key=True),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("batch.id"), primary_key=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
    )
    op.create_table(
        "ingested_event",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("gateway", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("received_at", TS, nullable=False),
    )
    op.create_table(
        "movement",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("event_id", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("batch.id"), nullable=False),
        sa.Column("from_location_id", sa.Integer(), sa.ForeignKey("location.id"), nullable=True),
        sa.Column("to_location_id", sa.Integer(), sa.ForeignKey("location.id"), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("biz_step", sa.String(80), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("case_id", sa.String(120), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
    )
    op.create_index("ix_movement_event_id", "movement", ["event_id"])
    op.create_index("ix_movement_batch_id", "movement", ["batch_id"])
    op.create_table(
        "discrepancy",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("epc", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "dead_letter",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("topic", sa.String(400), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("received_at", TS, nullable=False),
    )


def downgrade() -> None:
    tables = ("dead_letter", "discrepancy", "movement", "ingested_event", "stock", "tag")
    for table in (*tables, "batch", "product", "location"):
        op.drop_table(table)
