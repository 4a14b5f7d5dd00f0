"""Accounts: users who log in (role, argon2 password hash, scope of sites and departments,
disabled, login throttling), per-user API tokens (their SHA-256 only) and shared secrets.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("app_user") as b:
        b.add_column(sa.Column("role", sa.String(20), nullable=True))
        b.add_column(sa.Column("password_hash", sa.String(200), nullable=True))
        b.add_column(sa.Column("sites", sa.Text(), nullable=False, server_default=""))
        b.add_column(sa.Column("departments", sa.Text(), nullable=False, server_default=""))
        b.add_column(sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()))
        b.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        b.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("location") as b:
        b.add_column(sa.Column("department", sa.String(40), nullable=True))
    op.create_table(
        "app_secret",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )
    op.create_table(
        "api_token",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(200), sa.ForeignKey("app_user.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_api_token_user_id", "api_token", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_api_token_user_id", "api_token")
    op.drop_table("api_token")
    op.drop_table("app_secret")
    with op.batch_alter_table("location") as b:
        b.drop_column("department")
    with op.batch_alter_table("app_user") as b:
        for column in ("locked_until", "failed_logins", "disabled", "departments", "sites",
                       "password_hash", "role"):  # fmt: skip
            b.drop_column(column)
