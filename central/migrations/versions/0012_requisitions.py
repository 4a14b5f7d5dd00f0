"""Requisitions: internal demand with its lines, picks and steps; controlled products; the
requisition a transport order carries.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "requisition",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("department", sa.String(40)),
        sa.Column("to_location_id", sa.Integer(), sa.ForeignKey("location.id"), nullable=False),
        sa.Column("from_location_id", sa.Integer(), sa.ForeignKey("location.id")),
        sa.Column("priority", sa.String(20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("requester", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("levels", sa.String(400), nullable=False),
        sa.Column("approved", sa.String(400), nullable=False),
        sa.Column("value", sa.Numeric(14, 2)),
        sa.Column("transport", sa.String(20), nullable=False),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alert.id"), unique=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("issued_at", WHEN),
        sa.Column("received_at", WHEN),
    )
    op.create_index("ix_requisition_to_location_id", "requisition", ["to_location_id"])
    op.create_index("ix_requisition_status", "requisition", ["status"])
    op.create_table(
        "requisition_line",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("requisition_id", sa.Integer(), sa.ForeignKey("requisition.id"), nullable=False),
        sa.Column("gtin", sa.String(14), nullable=False),
        sa.Column("ordered_gtin", sa.String(14), nullable=False),
        sa.Column("ordered_quantity", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_requisition_line_requisition_id", "requisition_line", ["requisition_id"])
    op.create_table(
        "requisition_pick",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("requisition_id", sa.Integer(), sa.ForeignKey("requisition.id"), nullable=False),
        sa.Column("line_id", sa.Integer(), sa.ForeignKey("requisition_line.id"), nullable=False),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("batch.id"), nullable=False),
        sa.Column("epc", sa.String(200)),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("received_at", WHEN),
        sa.Column("received_by", sa.String(200)),
    )
    op.create_index("ix_requisition_pick_requisition_id", "requisition_pick", ["requisition_id"])
    op.create_index("ix_requisition_pick_epc", "requisition_pick", ["epc"])
    op.create_table(
        "requisition_step",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("requisition_id", sa.Integer(), sa.ForeignKey("requisition.id"), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("level", sa.String(40), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
    )
    op.create_index("ix_requisition_step_requisition_id", "requisition_step", ["requisition_id"])
    with op.batch_alter_table("product") as t:
        t.add_column(
            sa.Column("controlled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("transport_order") as t:
        t.add_column(sa.Column("requisition_id", sa.Integer()))
        t.create_foreign_key(
            "fk_transport_order_requisition", "requisition", ["requisition_id"], ["id"]
        )
        t.create_unique_constraint("uq_transport_order_requisition_id", ["requisition_id"])


def downgrade() -> None:
    with op.batch_alter_table("transport_order") as t:
        t.drop_constraint("uq_transport_order_requisition_id", type_="unique")
        t.drop_constraint("fk_transport_order_requisition", type_="foreignkey")
        t.drop_column("requisition_id")
    with op.batch_alter_table("product") as t:
        t.drop_column("controlled")
    for table in ("requisition_step", "requisition_pick", "requisition_line", "requisition"):
        op.drop_table(table)
