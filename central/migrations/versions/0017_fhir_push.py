"""FHIR resources pushed to subscribed systems, with their retries and dead letters.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fhir_push",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("url", sa.String(400), nullable=False),
        sa.Column("resource_type", sa.String(40), nullable=False),
        sa.Column("resource_id", sa.String(80), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.Column("dead_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.UniqueConstraint("url", "resource_type", "resource_id", name="uq_fhir_push_resource"),
    )
    op.create_index("ix_fhir_push_next_at", "fhir_push", ["next_at"])


def downgrade() -> None:
    op.drop_table("fhir_push")
