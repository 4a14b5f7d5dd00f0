"""Content of each ingested event (a reused event id with other content is a conflict);
at most one open alert per (kind, key), enforced by a partial unique index.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OPEN = "state IN ('raised', 'acknowledged')"


def upgrade() -> None:
    with op.batch_alter_table("ingested_event") as b:
        b.add_column(sa.Column("content", sa.String(36), nullable=True))
    # two ledgers could race before this index existed: keep the oldest open alert of each
    # condition, clear the others
    op.execute(
        "UPDATE alert SET state = 'cleared', cleared_at = raised_at"
        f" WHERE {OPEN} AND id NOT IN"
        f" (SELECT min(id) FROM alert WHERE {OPEN} GROUP BY kind, key)"
    )
    op.create_index(
        "uq_alert_open",
        "alert",
        ["kind", "key"],
        unique=True,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )


def downgrade() -> None:
    op.drop_index("uq_alert_open", "alert")
    with op.batch_alter_table("ingested_event") as b:
        b.drop_column("content")
