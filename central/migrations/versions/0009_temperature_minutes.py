"""Cold-chain record: the sensors of monitored units, their per-minute summaries (min,
mean, max, samples, faults) and the hourly roll-up of those, kept for the configured
retention (a year by default); an index on movement.recorded_at; on PostgreSQL, a
notification on channel `hwms_change` after each statement writing alerts or movements.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cold_sensor",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("sensor", sa.String(120), nullable=False),
        sa.Column("unit", sa.String(120), nullable=False),
        sa.Column("gateway", sa.String(64), nullable=False),
        sa.Column("low_c", sa.Float(), nullable=True),
        sa.Column("high_c", sa.Float(), nullable=True),
        sa.Column("last_minute", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_mean_c", sa.Float(), nullable=True),
        sa.UniqueConstraint("site", "sensor", name="uq_cold_sensor_site_sensor"),
    )
    op.create_table(
        "temperature_minute",
        sa.Column("sensor_id", sa.Integer(), sa.ForeignKey("cold_sensor.id"), primary_key=True),
        sa.Column("minute", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("faults", sa.Integer(), nullable=False),
        sa.Column("min_c", sa.Float(), nullable=True),
        sa.Column("mean_c", sa.Float(), nullable=True),
        sa.Column("max_c", sa.Float(), nullable=True),
    )
    op.create_index("ix_temperature_minute_minute", "temperature_minute", ["minute"],
                    postgresql_using="brin")  # fmt: skip
    op.create_table(
        "temperature_hour",
        sa.Column("sensor_id", sa.Integer(), sa.ForeignKey("cold_sensor.id"), primary_key=True),
        sa.Column("hour", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("valid", sa.Integer(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("faults", sa.Integer(), nullable=False),
        sa.Column("min_c", sa.Float(), nullable=True),
        sa.Column("max_c", sa.Float(), nullable=True),
        sa.Column("mean_sum", sa.Float(), nullable=False),
        sa.Column("exp_sum", sa.Float(), nullable=False),
        sa.Column("outside", sa.Integer(), nullable=False),
    )

    # today's movements (dashboard) and a receipt's lines (goods-received note)
    op.create_index("ix_movement_recorded_at", "movement", ["recorded_at"])
    if op.get_bind().dialect.name == "postgresql":
        # live screens LISTEN for this instead of polling (central/web/live.py): one
        # notification per statement that writes alerts or movements, whoever writes
        op.execute(
            "CREATE FUNCTION hwms_notify_change() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN PERFORM pg_notify('hwms_change', TG_TABLE_NAME); RETURN NULL; END $$"
        )
        for table, events in (("alert", "INSERT OR UPDATE OR DELETE"), ("movement", "INSERT")):
            op.execute(
                f"CREATE TRIGGER {table}_notify_change AFTER {events} ON {table}"
                " FOR EACH STATEMENT EXECUTE FUNCTION hwms_notify_change()"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER movement_notify_change ON movement")
        op.execute("DROP TRIGGER alert_notify_change ON alert")
        op.execute("DROP FUNCTION hwms_notify_change()")
    op.drop_index("ix_movement_recorded_at", "movement")
    op.drop_table("temperature_hour")
    op.drop_index("ix_temperature_minute_minute", "temperature_minute")
    op.drop_table("temperature_minute")
    op.drop_table("cold_sensor")
