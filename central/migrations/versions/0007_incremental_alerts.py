"""Incremental alert evaluation: stock rows and stock limits count their changes and the
alert pass what it evaluated; the state of the last pass; indexes for expiry horizons,
traces and counts.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UNEVALUATED = "changes <> evaluated"


def upgrade() -> None:
    # existing rows start unevaluated: the first pass after the upgrade covers them all
    with op.batch_alter_table("stock") as b:
        b.add_column(sa.Column("changes", sa.Integer(), nullable=False, server_default="1"))
        b.add_column(sa.Column("evaluated", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("stock_limit") as b:
        b.add_column(sa.Column("changes", sa.Integer(), nullable=False, server_default="1"))
        b.add_column(sa.Column("evaluated", sa.Integer(), nullable=False, server_default="0"))
    op.create_index(
        "ix_stock_unevaluated",
        "stock",
        ["location_id", "batch_id"],
        sqlite_where=sa.text(UNEVALUATED),
        postgresql_where=sa.text(UNEVALUATED),
    )
    op.create_index(
        "ix_stock_limit_unevaluated",
        "stock_limit",
        ["location_id", "gtin"],
        sqlite_where=sa.text(UNEVALUATED),
        postgresql_where=sa.text(UNEVALUATED),
    )
    op.create_table(
        "evaluation_state",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("horizons", sa.String(200), nullable=False),
    )
    op.create_index("ix_batch_expiry", "batch", ["expiry"])
    op.create_index("ix_tag_batch_id", "tag", ["batch_id"])
    op.create_index("ix_tag_location_id", "tag", ["location_id"])


def downgrade() -> None:
    op.drop_index("ix_tag_location_id", "tag")
    op.drop_index("ix_tag_batch_id", "tag")
    op.drop_index("ix_batch_expiry", "batch")
    op.drop_table("evaluation_state")
    op.drop_index("ix_stock_limit_unevaluated", "stock_limit")
    op.drop_index("ix_stock_unevaluated", "stock")
    with op.batch_alter_table("stock_limit") as b:
        b.drop_column("evaluated")
        b.drop_column("changes")
    with op.batch_alter_table("stock") as b:
        b.drop_column("evaluated")
        b.drop_column("changes")
