"""Pack levels: a product's box or case with its own GTIN and how many eaches it holds.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "product_pack",
        sa.Column("gtin", sa.String(14), primary_key=True),
        sa.Column("product_gtin", sa.String(14), sa.ForeignKey("product.gtin"), nullable=False),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
    )
    op.create_index("ix_product_pack_product_gtin", "product_pack", ["product_gtin"])


def downgrade() -> None:
    op.drop_index("ix_product_pack_product_gtin", "product_pack")
    op.drop_table("product_pack")
