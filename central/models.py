"""The ledger's tables (SQLAlchemy 2). Schema changes go through Alembic migrations in
`central/migrations/`; tests check that the migrations build exactly these tables.

Stock is kept per (location, batch). A batch is (GTIN, lot); a tag whose lot is unknown
belongs to the batch with lot "" of its GTIN (or of GTIN "" for non-GS1 tags), so nothing
is dropped. Every change is also an append-only `movement` row: the audit trail.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Location(Base):
    __tablename__ = "location"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(200), unique=True)  # "<site>/<zone>" for zones
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(
        String(40), default="zone"
    )  # warehouse, ward, cabinet, fridge
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    # the department whose location this is (a ward's nurses see their ward's stock)
    department: Mapped[str | None] = mapped_column(String(40))


class Product(Base):
    __tablename__ = "product"
    gtin: Mapped[str] = mapped_column(String(14), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    unit: Mapped[str] = mapped_column(String(20), default="EA")
    category: Mapped[str] = mapped_column(String(80), default="")
    cold_chain_class: Mapped[str] = mapped_column(String(40), default="")
    high_value: Mapped[bool] = mapped_column(Boolean, default=False)
    # a controlled drug (narcotics, psychotropics): issues and takes need a second person
    controlled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    unit_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))  # for value reports
    # the HIBC product identifier ("+" labeler, product number, unit) when labelled HIBC
    hibc: Mapped[str | None] = mapped_column(String(40), unique=True, index=True)
    # the first 7 digits (drug identification code) of its Chinese drug traceability codes
    trace_prefix: Mapped[str | None] = mapped_column(String(7), unique=True, index=True)

    def classes(self) -> set[str]:
        """What approval rules and two-person checks match it by: high_value, controlled,
        its category."""
        flags = (("high_value", self.high_value), ("controlled", self.controlled),
                 (self.category, bool(self.category)))  # fmt: skip
        return {name for name, on in flags if on}


class ProductPack(Base):
    """A pack level of a product with its own GTIN (a box of 10, a case of 120): a scan or
    a receipt line of the pack's GTIN is that many eaches of the product."""

    __tablename__ = "product_pack"
    gtin: Mapped[str] = mapped_column(String(14), primary_key=True)  # the pack's own GTIN
    product_gtin: Mapped[str] = mapped_column(ForeignKey("product.gtin"), index=True)
    level: Mapped[str] = mapped_column(String(20), default="box")
    quantity: Mapped[int] = mapped_column(Integer)  # eaches in one pack


class Department(Base):
    __tablename__ = "department"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")


class AppUser(Base):
    """A person who badges at cabinets or books in the ledger (the badge id is what the
    cabinet's reader sends; consumption is reported by the user's department). With a role
    and a password hash, also someone who logs in: scoped to `sites` and `departments`
    (comma-separated codes; empty: all)."""

    __tablename__ = "app_user"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    badge: Mapped[str | None] = mapped_column(String(200), unique=True)
    department: Mapped[str | None] = mapped_column(ForeignKey("department.code"))
    role: Mapped[str | None] = mapped_column(String(20))  # None: badges only, no login
    password_hash: Mapped[str | None] = mapped_column(String(200))  # argon2id
    sites: Mapped[str] = mapped_column(Text, default="", server_default="")
    departments: Mapped[str] = mapped_column(Text, default="", server_default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # a supplier's user (role supplier): the supplier whose orders they see
    supplier: Mapped[str | None] = mapped_column(ForeignKey("supplier.code"))
    # login throttling, kept in the database so that every web process sees it
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AppSecret(Base):
    """Secrets every ledger/web process shares (the session cookies' signing key), made
    once by the first process that needs one."""

    __tablename__ = "app_secret"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class ApiToken(Base):
    """A machine's bearer token, issued to a user: it acts with that user's role and scope.
    Only its SHA-256 is kept (the token is printed once)."""

    __tablename__ = "api_token"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("app_user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Batch(Base):
    __tablename__ = "batch"
    __table_args__ = (UniqueConstraint("gtin", "lot", name="uq_batch_gtin_lot"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gtin: Mapped[str] = mapped_column(String(14))  # "" for non-GS1 tags
    lot: Mapped[str] = mapped_column(String(20))  # "" when unknown (uncommissioned)
    # indexed: the daily alert pass finds the batches that crossed an expiry horizon
    expiry: Mapped[date | None] = mapped_column(Date, index=True)
    supplier: Mapped[str] = mapped_column(String(200), default="")
    locked: Mapped[bool] = mapped_column(Boolean, default=False)  # recall lock


class Tag(Base):
    __tablename__ = "tag"
    epc: Mapped[str] = mapped_column(String(200), primary_key=True)  # pure-identity or raw URI
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"), index=True)  # a batch's trace
    # None: not in stock; indexed for a location's count (stocktake)
    location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"), index=True)
    last_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


UNEVALUATED = "changes <> evaluated"


class Stock(Base):
    """Quantity per location and batch. Every write counts up `changes`; the alert pass
    evaluates the rows whose `evaluated` lags behind and sets it (incremental evaluation:
    a partial index holds just those rows)."""

    __tablename__ = "stock"
    __table_args__ = (
        Index(
            "ix_stock_unevaluated",
            "location_id",
            "batch_id",
            sqlite_where=text(UNEVALUATED),
            postgresql_where=text(UNEVALUATED),
        ),
    )
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"), primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer, default=0)
    changes: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    evaluated: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class EvaluationState(Base):
    """What the last alert pass covered: its day (expiry horizons crossed since then are
    evaluated) and its horizons (other horizons: a full pass)."""

    __tablename__ = "evaluation_state"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_day: Mapped[date] = mapped_column(Date)
    horizons: Mapped[str] = mapped_column(String(200))


class IngestedEvent(Base):
    """One row per applied event: the unique key that makes ingest idempotent."""

    __tablename__ = "ingested_event"
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    site: Mapped[str] = mapped_column(String(64))
    gateway: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # what the event said (`rules.events.content_id`, seq excluded): an event id that comes
    # again with other content is a conflict, not a duplicate (None: applied before 0005)
    content: Mapped[str | None] = mapped_column(String(36))


class GatewayProgress(Base):
    """What the ledger has committed of a gateway's sequence numbers (`rules.progress`):
    published to the edge as its acknowledgement; a hole that stays raises an alert."""

    __tablename__ = "gateway_progress"
    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    gateway: Mapped[str] = mapped_column(String(64), primary_key=True)
    committed_seq: Mapped[int] = mapped_column(BigInteger)
    above: Mapped[str] = mapped_column(Text)  # JSON [[first, last], ...] past the first hole
    hole_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Movement(Base):
    """Append-only journal of every stock change: what, from where, to where, why, who."""

    __tablename__ = "movement"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    event_id: Mapped[str | None] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(40))  # batch_movement, cabinet_take, adjustment...
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"), index=True)
    from_location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    to_location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    biz_step: Mapped[str] = mapped_column(String(80), default="")
    actor: Mapped[str] = mapped_column(String(200), default="")  # gateway or user
    case_id: Mapped[str] = mapped_column(String(120), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # indexed: today's movements on the dashboard, a receipt's lines on its goods-received note
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Discrepancy(Base):
    """An item left a place it was not known to be in, or similar: reviewed by a person."""

    __tablename__ = "discrepancy"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64))
    epc: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)


class DeadLetter(Base):
    __tablename__ = "dead_letter"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    topic: Mapped[str] = mapped_column(String(400))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StockLimit(Base):
    """Min/max per product and location; the reorder quantity suggested when low. Like
    stock rows, a limit written counts up `changes` for the incremental alert pass."""

    __tablename__ = "stock_limit"
    __table_args__ = (
        Index(
            "ix_stock_limit_unevaluated",
            "location_id",
            "gtin",
            sqlite_where=text(UNEVALUATED),
            postgresql_where=text(UNEVALUATED),
        ),
    )
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"), primary_key=True)
    gtin: Mapped[str] = mapped_column(String(14), primary_key=True)
    min_quantity: Mapped[int] = mapped_column(Integer)
    max_quantity: Mapped[int] = mapped_column(Integer)
    reorder_quantity: Mapped[int | None] = mapped_column(Integer)
    changes: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    evaluated: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


OPEN_ALERT = "state IN ('raised', 'acknowledged')"  # the predicate of uq_alert_open


class Alert(Base):
    """raised -> acknowledged (who, when, comment) -> cleared. One open alert per (kind, key);
    an acknowledgement does not clear it, only the condition going away does."""

    __tablename__ = "alert"
    # at most one open alert per condition, enforced by the database: several ledgers may
    # raise the same alert at once (INSERT ... ON CONFLICT DO NOTHING on this index)
    __table_args__ = (
        Index(
            "uq_alert_open",
            "kind",
            "key",
            unique=True,
            sqlite_where=text(OPEN_ALERT),
            postgresql_where=text(OPEN_ALERT),
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    key: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(20))  # info, warning, critical
    state: Mapped[str] = mapped_column(String(20))  # raised, acknowledged, cleared
    message: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ack_comment: Mapped[str | None] = mapped_column(Text)
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # what was last notified (MQTT, webhook): a change of state or severity notifies again,
    # and so does time: re-notify until acknowledged, escalating by tier
    notified_state: Mapped[str | None] = mapped_column(String(20))
    notified_severity: Mapped[str | None] = mapped_column(String(20))
    notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    notify_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    tier: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class TransportOrder(Base):
    """An AGV (or porter) run ordered by the replenishment rule; delivered when a gate or
    area read point sees the product arrive at the destination."""

    __tablename__ = "transport_order"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)  # the adapter's order id
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alert.id"), unique=True)
    source: Mapped[str] = mapped_column(String(200))  # location codes
    destination: Mapped[str] = mapped_column(String(200))
    gtin: Mapped[str] = mapped_column(String(14))
    quantity: Mapped[int] = mapped_column(Integer)
    adapter: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(20))  # sent, running, delivered, failed, cancelled
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the requisition whose goods it carries
    requisition_id: Mapped[int | None] = mapped_column(ForeignKey("requisition.id"), unique=True)


class Stocktake(Base):
    """A count of one location (cabinet scan or handheld) compared with the ledger."""

    __tablename__ = "stocktake"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    source: Mapped[str] = mapped_column(String(40))  # handheld, cabinet
    counted_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expected: Mapped[int] = mapped_column(Integer)  # tags the ledger had there
    counted: Mapped[int] = mapped_column(Integer)
    matched: Mapped[int] = mapped_column(Integer)
    accuracy: Mapped[float] = mapped_column(Float)  # matched / (expected + unexpected)
    state: Mapped[str] = mapped_column(String(20))  # open, confirmed
    confirmed_by: Mapped[str | None] = mapped_column(String(200))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StocktakeLine(Base):
    __tablename__ = "stocktake_line"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stocktake_id: Mapped[int] = mapped_column(ForeignKey("stocktake.id"), index=True)
    epc: Mapped[str] = mapped_column(String(200))
    finding: Mapped[str] = mapped_column(String(20))  # missing, unexpected, short, over
    ledger_location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    # an untagged batch counted by scan: `epc` is "", the quantities say the difference
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batch.id"))
    expected_quantity: Mapped[int | None] = mapped_column(Integer)
    counted_quantity: Mapped[int | None] = mapped_column(Integer)


class TagHistory(Base):
    """Per item: every move the ledger applied to it (the EPC's own audit trail; `movement`
    is the same per batch and event)."""

    __tablename__ = "tag_history"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    epc: Mapped[str] = mapped_column(String(200), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(40))
    # location ids without foreign keys: an append-only log of ids that are never deleted,
    # written at ingest speed (a foreign-key check per row costs a third of the insert)
    from_location_id: Mapped[int | None] = mapped_column(Integer)
    to_location_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(200))
    case_id: Mapped[str] = mapped_column(String(120))
    ref: Mapped[str | None] = mapped_column(String(64))  # event id; None for a person's booking


class AuditLog(Base):
    """Changes that are not stock movements: master data imports, limits, recalls by whom."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(80))
    detail: Mapped[str] = mapped_column(Text)


class Receipt(Base):
    """A delivery booked at receiving, by its unique number (the delivery note)."""

    __tablename__ = "receipt"
    number: Mapped[str] = mapped_column(String(80), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    lines: Mapped[int] = mapped_column(Integer)
    items: Mapped[int] = mapped_column(Integer)
    # the purchase order it delivers (its lines' `received` count it), when it is one's
    purchase_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("purchase_order.id"), index=True
    )


class ColdSensor(Base):
    """A temperature sensor of a monitored unit, as its gateway reports it; its latest
    minute is kept here so that the cold-chain screen lists units without scanning a year."""

    __tablename__ = "cold_sensor"
    __table_args__ = (UniqueConstraint("site", "sensor", name="uq_cold_sensor_site_sensor"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site: Mapped[str] = mapped_column(String(64))
    sensor: Mapped[str] = mapped_column(String(120))
    unit: Mapped[str] = mapped_column(String(120))
    gateway: Mapped[str] = mapped_column(String(64))
    low_c: Mapped[float | None] = mapped_column(Float)  # the profile's alarm limits
    high_c: Mapped[float | None] = mapped_column(Float)
    last_minute: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_mean_c: Mapped[float | None] = mapped_column(Float)


class SensorMinute(Base):
    """One sensor's minute: a year of 500 sensors is 2.6e8 narrow rows. The primary key
    serves a sensor's period (and makes a re-sent minute a no-op); on PostgreSQL a BRIN
    index on the minute (rows arrive in time order) serves retention at a few pages' size."""

    __tablename__ = "temperature_minute"
    __table_args__ = (Index("ix_temperature_minute_minute", "minute", postgresql_using="brin"),)
    sensor_id: Mapped[int] = mapped_column(ForeignKey("cold_sensor.id"), primary_key=True)
    minute: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    samples: Mapped[int] = mapped_column(Integer)
    faults: Mapped[int] = mapped_column(Integer)
    min_c: Mapped[float | None] = mapped_column(Float)
    mean_c: Mapped[float | None] = mapped_column(Float)
    max_c: Mapped[float | None] = mapped_column(Float)


class SensorHour(Base):
    """One sensor's hour, rolled up from its minutes as they arrive (each minute once):
    what a chart of weeks and the daily min/max/MKT read instead of 60 times the rows.
    `exp_sum` is the sum over valid minutes of exp(-dH/R / T) of the minute means (MKT's
    sum), `outside` the minutes whose min or max crossed the unit's alarm limits."""

    __tablename__ = "temperature_hour"
    sensor_id: Mapped[int] = mapped_column(ForeignKey("cold_sensor.id"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    minutes: Mapped[int] = mapped_column(Integer)
    valid: Mapped[int] = mapped_column(Integer)  # minutes with a temperature
    samples: Mapped[int] = mapped_column(Integer)
    faults: Mapped[int] = mapped_column(Integer)
    min_c: Mapped[float | None] = mapped_column(Float)
    max_c: Mapped[float | None] = mapped_column(Float)
    mean_sum: Mapped[float] = mapped_column(Float)  # sum of mean x samples
    exp_sum: Mapped[float] = mapped_column(Float)
    outside: Mapped[int] = mapped_column(Integer)


class Requisition(Base):
    """Internal demand: a department asks for goods at one of its locations; approved by
    the levels it needs, issued by the store, received at the destination
    (`rules/requisitions.py` has the statuses)."""

    __tablename__ = "requisition"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department: Mapped[str | None] = mapped_column(String(40))
    to_location_id: Mapped[int] = mapped_column(ForeignKey("location.id"), index=True)
    from_location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    priority: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    requester: Mapped[str] = mapped_column(String(200))  # a user id, or "system"
    status: Mapped[str] = mapped_column(String(20), index=True)
    levels: Mapped[str] = mapped_column(String(400), default="")  # approval levels, in order
    approved: Mapped[str] = mapped_column(String(400), default="")  # the levels done so far
    value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    transport: Mapped[str] = mapped_column(String(20), default="")  # "" a porter, "agv"
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)  # an emergency's
    # the low-stock alert a system requisition answers (one requisition per alert)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alert.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    issued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RequisitionLine(Base):
    __tablename__ = "requisition_line"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    requisition_id: Mapped[int] = mapped_column(ForeignKey("requisition.id"), index=True)
    # the product (eaches); no foreign key: a stock limit's product may not be on file
    gtin: Mapped[str] = mapped_column(String(14))
    ordered_gtin: Mapped[str] = mapped_column(String(14))  # as asked: the product or a pack
    ordered_quantity: Mapped[int] = mapped_column(Integer)  # in that unit
    quantity: Mapped[int] = mapped_column(Integer)  # eaches
    issued: Mapped[int] = mapped_column(Integer, default=0)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)  # its back-order given up


class RequisitionPick(Base):
    """What was issued for a line: a batch and a quantity, or one tagged item."""

    __tablename__ = "requisition_pick"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    requisition_id: Mapped[int] = mapped_column(ForeignKey("requisition.id"), index=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("requisition_line.id"))
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"))
    epc: Mapped[str | None] = mapped_column(String(200), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")  # why not the first-expiry lot
    received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_by: Mapped[str | None] = mapped_column(String(200))  # a user or a read point


class RequisitionStep(Base):
    """Every transition of a requisition: who, when, what, the status after, a comment."""

    __tablename__ = "requisition_step"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    requisition_id: Mapped[int] = mapped_column(ForeignKey("requisition.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    level: Mapped[str] = mapped_column(String(40), default="")
    comment: Mapped[str] = mapped_column(Text, default="")


class PendingBooking(Base):
    """A return, loss, scrap or adjustment waiting for its approval: it moves stock only
    once approved (`requisitions.bookings` in the configuration says which)."""

    __tablename__ = "pending_booking"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    location: Mapped[str] = mapped_column(String(200), index=True)
    requester: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    epcs: Mapped[str] = mapped_column(Text, default="")  # one per line
    gtin: Mapped[str] = mapped_column(String(14), default="")
    lot: Mapped[str] = mapped_column(String(20), default="")
    quantity: Mapped[int] = mapped_column(Integer, default=0)
    case_id: Mapped[str] = mapped_column(String(64), default="")
    value: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    role: Mapped[str] = mapped_column(String(20))  # who approves
    status: Mapped[str] = mapped_column(String(20), index=True)  # pending, approved, rejected
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    comment: Mapped[str] = mapped_column(Text, default="")


class WitnessCheck(Base):
    """A second person's confirmation of an issue or a cabinet take of a high-value or
    controlled product: given with the issue, or afterwards for a take (alerted when it
    does not come within the configured time)."""

    __tablename__ = "witness_check"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # issue, cabinet_take
    requisition_id: Mapped[int | None] = mapped_column(ForeignKey("requisition.id"))
    movement_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    actor: Mapped[str] = mapped_column(String(200))  # who issued or took
    what: Mapped[str] = mapped_column(Text, default="")  # e.g. "2 x Morphine 10 mg/ml"
    witness: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)


class CabinetWitnessBadge(Base):
    """A second person's badge at a cabinet soon after another's (a `cabinet_witness`
    event): it confirms the two-person checks of what that person took there then."""

    __tablename__ = "cabinet_witness_badge"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    user: Mapped[str] = mapped_column(String(200))  # the witness (a user id when known)
    of_user: Mapped[str] = mapped_column(String(200))  # whose session
    session_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Supplier(Base):
    """Who the hospital buys from, and how a purchase order reaches them: by e-mail to
    `email` (PDF and CSV attached) and, when `fhir_url` is set, as a FHIR R5 SupplyRequest
    bundle posted there."""

    __tablename__ = "supplier"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    contact: Mapped[str] = mapped_column(String(200), default="")  # the person to ask
    email: Mapped[str] = mapped_column(String(200), default="")  # where orders are sent
    phone: Mapped[str] = mapped_column(String(40), default="")
    fhir_url: Mapped[str | None] = mapped_column(String(400))  # takes SupplyRequest bundles


class SupplierProduct(Base):
    """A product a supplier sells: its price per each, the pack it ships in (eaches per
    order unit), the smallest order (in order units) and the lead time it quotes."""

    __tablename__ = "supplier_product"
    supplier: Mapped[str] = mapped_column(ForeignKey("supplier.code"), primary_key=True)
    gtin: Mapped[str] = mapped_column(ForeignKey("product.gtin"), primary_key=True)
    reference: Mapped[str] = mapped_column(String(80), default="")  # the supplier's article no.
    unit_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))  # per each
    pack: Mapped[int] = mapped_column(Integer, default=1)
    min_order: Mapped[int] = mapped_column(Integer, default=1)  # order units
    lead_time_days: Mapped[int | None] = mapped_column(Integer)  # quoted


class PurchaseOrder(Base):
    """External demand: goods ordered from a supplier for delivery to a store
    (`rules/purchasing.py` has the statuses)."""

    __tablename__ = "purchase_order"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    supplier: Mapped[str] = mapped_column(ForeignKey("supplier.code"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))  # deliver to
    status: Mapped[str] = mapped_column(String(20), index=True)
    levels: Mapped[str] = mapped_column(String(400), default="")  # approval levels, in order
    approved: Mapped[str] = mapped_column(String(400), default="")  # the levels done so far
    value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivery_date: Mapped[date | None] = mapped_column(Date)  # as the supplier confirmed
    received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # all of it


class PurchaseOrderLine(Base):
    __tablename__ = "purchase_order_line"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id"), index=True)
    gtin: Mapped[str] = mapped_column(String(14))  # the product (eaches)
    order_units: Mapped[int] = mapped_column(Integer)  # in the supplier's packs
    quantity: Mapped[int] = mapped_column(Integer)  # eaches
    unit_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))  # per each
    received: Mapped[int] = mapped_column(Integer, default=0)  # eaches


class PurchaseOrderStep(Base):
    """Every transition of a purchase order: who, when, what, the status after, a comment
    (a receipt's accepted variances are its comment)."""

    __tablename__ = "purchase_order_step"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    level: Mapped[str] = mapped_column(String(40), default="")
    comment: Mapped[str] = mapped_column(Text, default="")


class ShipNotice(Base):
    """A supplier's advance ship notice (despatch advice) for a purchase order: what is on
    the way, lot by lot, with the SSCC of its pallet or parcel. The delivery matches it line
    by line when it is scanned or crosses the receiving gate."""

    __tablename__ = "ship_notice"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id"), index=True)
    number: Mapped[str] = mapped_column(String(80))  # the supplier's despatch note
    sscc: Mapped[str | None] = mapped_column(String(18), index=True)
    expected_on: Mapped[date | None] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    receipt: Mapped[str | None] = mapped_column(String(80))  # the receipt that booked it


class ShipNoticeLine(Base):
    __tablename__ = "ship_notice_line"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("ship_notice.id"), index=True)
    gtin: Mapped[str] = mapped_column(String(14))
    lot: Mapped[str] = mapped_column(String(80))
    expiry: Mapped[date] = mapped_column(Date)
    quantity: Mapped[int] = mapped_column(Integer)  # eaches
    serials: Mapped[str] = mapped_column(Text, default="")  # comma-separated, when given


class ShipNoticeTag(Base):
    """An announced tagged item: its EPC, read at the gate, books the line it is on."""

    __tablename__ = "ship_notice_tag"
    epc: Mapped[str] = mapped_column(String(200), primary_key=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("ship_notice_line.id"), index=True)


class ReplenishmentProposal(Base):
    """A proposed new min/max of a product at a location, with the forecast it rests on and,
    when stock is below the proposed minimum, an order quantity. A person accepts (possibly
    edited) or rejects it; an accepted one changes the stock limit and feeds a requisition
    (supplied internally) or a purchase order (from a supplier)."""

    __tablename__ = "replenishment_proposal"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"), index=True)
    gtin: Mapped[str] = mapped_column(String(14))
    status: Mapped[str] = mapped_column(String(20), index=True)  # open, accepted, rejected
    current_min: Mapped[int | None] = mapped_column(Integer)
    current_max: Mapped[int | None] = mapped_column(Integer)
    proposed_min: Mapped[int] = mapped_column(Integer)
    proposed_max: Mapped[int] = mapped_column(Integer)
    on_hand: Mapped[int] = mapped_column(Integer)  # eaches, with what is on order
    order_quantity: Mapped[int] = mapped_column(Integer)  # eaches (0: no order now)
    supplier: Mapped[str | None] = mapped_column(ForeignKey("supplier.code"))
    daily_demand: Mapped[float] = mapped_column(Float)
    method: Mapped[str] = mapped_column(String(40))
    backtest_mae: Mapped[float | None] = mapped_column(Float)
    lead_time_days: Mapped[float] = mapped_column(Float)
    lead_time_measured: Mapped[bool] = mapped_column(Boolean)
    service_level: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    comment: Mapped[str] = mapped_column(Text, default="")
    requisition_id: Mapped[int | None] = mapped_column(ForeignKey("requisition.id"))
    purchase_order_id: Mapped[int | None] = mapped_column(ForeignKey("purchase_order.id"))


class PurchaseVariance(Base):
    """How a receipt differed from its purchase order (and its ship notice): the record the
    supplier KPIs count, with who accepted it when it was above the tolerance."""

    __tablename__ = "purchase_variance"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id"), index=True)
    receipt: Mapped[str] = mapped_column(String(80))
    gtin: Mapped[str] = mapped_column(String(14))
    kind: Mapped[str] = mapped_column(String(20))  # quantity, price, lot, expiry, ...
    expected: Mapped[str] = mapped_column(String(200))
    got: Mapped[str] = mapped_column(String(200))
    needs_acceptance: Mapped[bool] = mapped_column(Boolean)
    accepted_by: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Signature(Base):
    """An electronic signature of a critical action: the user re-entered their password at
    the moment of the action and said why (in the spirit of 21 CFR Part 11)."""

    __tablename__ = "signature"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(40))  # what was signed, e.g. coldchain_report
    subject: Mapped[str] = mapped_column(String(400))  # which one
    reason: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(20))  # "password"
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ColdChainReport(Base):
    """A unit's cold-chain record for a period as it was reviewed: its content (days,
    excursions and their acknowledgements) kept as signed, so the report stays what the
    reviewer saw after the minutes are pruned."""

    __tablename__ = "coldchain_report"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sensor_id: Mapped[int] = mapped_column(ForeignKey("cold_sensor.id"), index=True)
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)  # exclusive
    content: Mapped[str] = mapped_column(Text)  # canonical JSON
    digest: Mapped[str] = mapped_column(String(64))  # SHA-256 of the content
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    signature_id: Mapped[int | None] = mapped_column(ForeignKey("signature.id"))


class FhirPush(Base):
    """A FHIR resource on its way to a subscribed system: tried until it is taken, then
    waiting in the dead letters after `fhir.max_attempts` (an operator retries it)."""

    __tablename__ = "fhir_push"
    __table_args__ = (UniqueConstraint("url", "resource_type", "resource_id",
                                       name="uq_fhir_push_resource"),)  # fmt: skip
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(400))
    resource_type: Mapped[str] = mapped_column(String(40))
    resource_id: Mapped[str] = mapped_column(String(80))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dead_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str] = mapped_column(Text, default="")


class AuditHead(Base):
    """The last record of each chain of the tamper-evident ledger (`rules/audit_chain.py`):
    locked while a transaction numbers its records, so a chain never forks."""

    __tablename__ = "audit_head"
    chain: Mapped[str] = mapped_column(String(64), primary_key=True)  # a site, or "-"
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class AuditRecord(Base):
    """One chained write of a ledger row: its content as hwms wrote it, hashed onto the
    record before it in its site's chain."""

    __tablename__ = "audit_record"
    chain: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    table_name: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(400))  # the row's primary key, canonical JSON
    op: Mapped[str] = mapped_column(String(10))  # put, delete
    at: Mapped[str] = mapped_column(String(32), index=True)  # UTC ISO 8601, as hashed
    content: Mapped[str] = mapped_column(Text)  # the row, canonical JSON ("" when deleted)
    prev: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A chain head signed with the ledger's Ed25519 key, also published (retained MQTT) so
    that an outside party holds a copy: a chain rewritten behind it no longer matches."""

    __tablename__ = "audit_checkpoint"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain: Mapped[str] = mapped_column(String(64), index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[str] = mapped_column(String(32))
    public_key: Mapped[str] = mapped_column(String(64))  # hex
    signature: Mapped[str] = mapped_column(String(128))  # hex
