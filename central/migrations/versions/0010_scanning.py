"""Scanning: a product's HIBC identifier (the UDI-DI of an HIBC label: `+`, labeler code,
product number, unit of measure) and the 7-digit product prefix of its Chinese drug
traceability codes, so those scans resolve to the product; stocktake lines for untagged
goods (a batch's quantity expected and counted).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("product") as b:
        b.add_column(sa.Column("hibc", sa.String(40), nullable=True))
        b.create_index("ix_product_hibc", ["hibc"], unique=True)
        b.add_column(sa.Column("trace_prefix", sa.String(7), nullable=True))
        b.create_index("ix_product_trace_prefix", ["trace_prefix"], unique=True)
    with op.batch_alter_table("stocktake_line") as b:
        b.add_column(
            sa.Column(
                "batch_id",
                sa.Integer(),
                sa.ForeignKey("batch.id", name="fk_stocktake_line_batch_id"),
                nullable=True,
            )
        )
        b.add_column(sa.Column("expected_quantity", sa.Integer(), nullable=True))
        b.add_column(sa.Column("counted_quantity", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stocktake_line") as b:
        for column in ("counted_quantity", "expected_quantity", "batch_id"):
            b.drop_column(column)
    with op.batch_alter_table("product") as b:
        b.drop_index("ix_product_trace_prefix")
        b.drop_column("trace_prefix")
        b.drop_index("ix_product_hibc")
        b.drop_column("hibc")
