"""Suppliers, the products they sell, purchase orders with their lines and steps, advance
ship notices, supplier users, receipts of purchase orders and replenishment proposals.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supplier",
        sa.Column("code", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("contact", sa.String(200), nullable=False),
        sa.Column("email", sa.String(200), nullable=False),
        sa.Column("phone", sa.String(40), nullable=False),
        sa.Column("fhir_url", sa.String(400)),
    )
    op.create_table(
        "supplier_product",
        sa.Column("supplier", sa.String(40), sa.ForeignKey("supplier.code"), primary_key=True),
        sa.Column("gtin", sa.String(14), sa.ForeignKey("product.gtin"), primary_key=True),
        sa.Column("reference", sa.String(80), nullable=False),
        sa.Column("unit_price", sa.Numeric(12, 2)),
        sa.Column("pack", sa.Integer(), nullable=False),
        sa.Column("min_order", sa.Integer(), nullable=False),
        sa.Column("lead_time_days", sa.Integer()),
    )
    op.create_table(
        "purchase_order",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("supplier", sa.String(40), sa.ForeignKey("supplier.code"), nullable=False),
        sa.Column("location_id", sa.Integer(), sa.ForeignKey("location.id"), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("levels", sa.String(400), nullable=False),
        sa.Column("approved", sa.String(400), nullable=False),
        sa.Column("value", sa.Numeric(14, 2)),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("delivery_date", sa.Date()),
        sa.Column("received_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_purchase_order_supplier", "purchase_order", ["supplier"])
    op.create_index("ix_purchase_order_status", "purchase_order", ["status"])
    op.create_table(
        "purchase_order_line",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("purchase_order.id"), nullable=False),
        sa.Column("gtin", sa.String(14), nullable=False),
        sa.Column("order_units", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.Numeric(12, 2)),
        sa.Column("received", sa.Integer(), nullable=False),
    )
    op.create_index("ix_purchase_order_line_order_id", "purchase_order_line", ["order_id"])
    op.create_table(
        "purchase_order_step",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("purchase_order.id"), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("level", sa.String(40), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
    )
    op.create_index("ix_purchase_order_step_order_id", "purchase_order_step", ["order_id"])
    with op.batch_alter_table("receipt") as t:
        t.add_column(sa.Column("purchase_order_id", sa.Integer()))
        t.create_foreign_key("fk_receipt_purchase_order", "purchase_order",
                             ["purchase_order_id"], ["id"])  # fmt: skip
        t.create_index("ix_receipt_purchase_order_id", ["purchase_order_id"])
    with op.batch_alter_table("app_user") as t:
        t.add_column(sa.Column("supplier", sa.String(40)))
        t.create_foreign_key("fk_app_user_supplier", "supplier", ["supplier"], ["code"])
    op.create_table(
        "ship_notice",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("purchase_order.id"), nullable=False),
        sa.Column("number", sa.String(80), nullable=False),
        sa.Column("sscc", sa.String(18)),
        sa.Column("expected_on", sa.Date()),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True)),
        sa.Column("receipt", sa.String(80)),
    )
    op.create_index("ix_ship_notice_order_id", "ship_notice", ["order_id"])
    op.create_index("ix_ship_notice_sscc", "ship_notice", ["sscc"])
    op.create_table(
        "ship_notice_line",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("notice_id", sa.Integer(), sa.ForeignKey("ship_notice.id"), nullable=False),
        sa.Column("gtin", sa.String(14), nullable=False),
        sa.Column("lot", sa.String(80), nullable=False),
        sa.Column("expiry", sa.Date(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("serials", sa.Text(), nullable=False),
    )
    op.create_index("ix_ship_notice_line_notice_id", "ship_notice_line", ["notice_id"])
    op.create_table(
        "ship_notice_tag",
        sa.Column("epc", sa.String(200), primary_key=True),
        sa.Column("line_id", sa.Integer(), sa.ForeignKey("ship_notice_line.id"), nullable=False),
    )
    op.create_index("ix_ship_notice_tag_line_id", "ship_notice_tag", ["line_id"])
    op.create_table(
        "replenishment_proposal",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("location_id", sa.Integer(), sa.ForeignKey("location.id"), nullable=False),
        sa.Column("gtin", sa.String(14), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("current_min", sa.Integer()),
        sa.Column("current_max", sa.Integer()),
        sa.Column("proposed_min", sa.Integer(), nullable=False),
        sa.Column("proposed_max", sa.Integer(), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("order_quantity", sa.Integer(), nullable=False),
        sa.Column("supplier", sa.String(40), sa.ForeignKey("supplier.code")),
        sa.Column("daily_demand", sa.Float(), nullable=False),
        sa.Column("method", sa.String(40), nullable=False),
        sa.Column("backtest_mae", sa.Float()),
        sa.Column("lead_time_days", sa.Float(), nullable=False),
        sa.Column("lead_time_measured", sa.Boolean(), nullable=False),
        sa.Column("service_level", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("requisition_id", sa.Integer(), sa.ForeignKey("requisition.id")),
        sa.Column("purchase_order_id", sa.Integer(), sa.ForeignKey("purchase_order.id")),
    )
    op.create_index("ix_replenishment_proposal_location_id", "replenishment_proposal",
                    ["location_id"])  # fmt: skip
    op.create_index("ix_replenishment_proposal_status", "replenishment_proposal", ["status"])
    op.create_table(
        "purchase_variance",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("purchase_order.id"), nullable=False),
        sa.Column("receipt", sa.String(80), nullable=False),
        sa.Column("gtin", sa.String(14), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("expected", sa.String(200), nullable=False),
        sa.Column("got", sa.String(200), nullable=False),
        sa.Column("needs_acceptance", sa.Boolean(), nullable=False),
        sa.Column("accepted_by", sa.String(200)),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_purchase_variance_order_id", "purchase_variance", ["order_id"])


def downgrade() -> None:
    op.drop_table("purchase_variance")
    op.drop_table("replenishment_proposal")
    op.drop_table("ship_notice_tag")
    op.drop_table("ship_notice_line")
    op.drop_table("ship_notice")
    with op.batch_alter_table("app_user") as t:
        t.drop_constraint("fk_app_user_supplier", type_="foreignkey")
        t.drop_column("supplier")
    with op.batch_alter_table("receipt") as t:
        t.drop_index("ix_receipt_purchase_order_id")
        t.drop_constraint("fk_receipt_purchase_order", type_="foreignkey")
        t.drop_column("purchase_order_id")
    op.drop_table("purchase_order_step")
    op.drop_table("purchase_order_line")
    op.drop_table("purchase_order")
    op.drop_table("supplier_product")
    op.drop_table("supplier")
