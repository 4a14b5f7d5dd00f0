"""The HTTP API's request and response models: every input bounded, every answer documented.

Bounds are what a hospital's data can be (a GTIN-14, a GS1 lot of at most 20 characters,
a location code `<site>/<zone>`, ids that fit their INTEGER columns), so an out-of-range value is
a 422 naming the field, never a database error turned into a 500.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from central.ledger import location_problem
from central.vocab import BookingKind
from rules.epc import check_epc_uri

MAX_ID = 2**31 - 1  # ids are INTEGER columns (PostgreSQL refuses a larger value)
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2199, 12, 31)
MAX_LIST = 200_000  # EPCs in one stocktake or receipt: a large warehouse count

GTIN_PATTERN = r"^[0-9]{14}$"
LOT_PATTERN = r"^[!-~]{1,20}$"  # GS1 AI (10): up to 20 printable characters


def _epc(value: str) -> str:
    problem = check_epc_uri(value)
    if problem:
        raise ValueError(problem)
    return value


def _location(value: str) -> str:
    problem = location_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _day(value: date) -> date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"must be between {FIRST_DAY} and {LAST_DAY}")
    return value


Epc = Annotated[str, Field(max_length=300), AfterValidator(_epc)]
LocationCode = Annotated[str, Field(max_length=200), AfterValidator(_location)]
Gtin = Annotated[str, Field(pattern=GTIN_PATTERN)]
Lot = Annotated[str, Field(pattern=LOT_PATTERN)]
Day = Annotated[date, AfterValidator(_day)]
Text = Annotated[str, Field(max_length=2000)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReceiptIn(_In):
    epc: Epc
    gtin: Gtin
    lot: Lot
    expiry: Day
    location: LocationCode


class AckIn(_In):
    comment: Text = ""
    # a cold-chain excursion's acknowledgement is signed: the password again (the comment
    # is the signature's reason)
    password: Annotated[str, Field(min_length=1, max_length=1000)] | None = None


class ApproveIn(_In):
    comment: Text = ""
    # approving scrap or a loss is signed (from a configured value): the password again
    # (the comment is the signature's reason)
    password: Annotated[str, Field(min_length=1, max_length=1000)] | None = None


class BookingIn(_In):
    kind: BookingKind
    location: LocationCode
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    epcs: Annotated[list[Epc], Field(max_length=MAX_LIST)] = []
    gtin: Annotated[str, Field(pattern=r"^([0-9]{14})?$")] = ""
    lot: Annotated[str, Field(pattern=r"^([!-~]{1,20})?$")] = ""
    quantity: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    case_id: Annotated[str, Field(max_length=64)] = ""


class StocktakeIn(_In):
    location: LocationCode
    epcs: Annotated[list[Epc], Field(max_length=MAX_LIST)]
    source: Annotated[str, Field(min_length=1, max_length=32)] = "handheld"


def _any_gtin(value: str) -> str:
    """A GTIN-8, -12, -13 or -14 as its 14 digits (a GTIN's own zero padding)."""
    return value.zfill(14)


AnyGtin = Annotated[str, Field(pattern=r"^([0-9]{8}|[0-9]{12,14})$"), AfterValidator(_any_gtin)]


class RequisitionLineIn(_In):
    gtin: AnyGtin  # the product's, or one of its packs' (a box of 10: 10 eaches each)
    quantity: Annotated[int, Field(ge=1, le=1_000_000)]


class RequisitionIn(_In):
    to_location: LocationCode
    lines: Annotated[list[RequisitionLineIn], Field(min_length=1, max_length=200)]
    priority: Literal["routine", "urgent", "emergency"] = "routine"
    note: Text = ""
    transport: Literal["", "agv"] = ""  # "agv": an AGV carries it once approved


class CommentIn(_In):
    comment: Text = ""


class RejectIn(_In):
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class PickLineIn(_In):
    gtin: AnyGtin
    lot: Lot
    quantity: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    epcs: Annotated[list[Epc], Field(max_length=10_000)] = []
    reason: Text = ""  # why, when not the first lot to expire


class WitnessIn(_In):
    """The second person of a two-person check, by their own login."""

    user: Annotated[str, Field(min_length=1, max_length=200)]
    password: Annotated[str, Field(min_length=1, max_length=1000)]


class IssueIn(_In):
    """Without lines: first-expiry-first-out, as much as the store has. High-value and
    controlled products need `witness`, a second authorised person's login."""

    lines: Annotated[list[PickLineIn], Field(max_length=1000)] | None = None
    from_location: LocationCode | None = None
    close: bool = False  # give up the back-order of what could not be issued
    witness: WitnessIn | None = None


# --- responses --------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"]


class CheckpointOut(BaseModel):
    """A chain head signed with the ledger's Ed25519 key: the signature covers the canonical
    JSON of chain, seq, hash and at (`rules.audit_chain.checkpoint_payload`)."""

    chain: str
    seq: int
    hash: str
    at: str
    public_key: str
    signature: str
    alg: Literal["Ed25519"] = "Ed25519"


class StockLine(BaseModel):
    location: str
    gtin: str
    lot: str
    expiry: str | None
    quantity: int


class Unit(BaseModel):
    epc: str
    location: str | None


class _Move(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    at: str | None
    kind: str
    from_: str | None = Field(alias="from")
    to: str | None
    actor: str | None
    case: str | None


class BatchMove(_Move):
    quantity: int


class Trace(BaseModel):
    gtin: str
    lot: str
    found: bool
    expiry: str | None = None
    locked: bool | None = None
    units: list[Unit]
    movements: list[BatchMove]


class BatchLock(BaseModel):
    gtin: str
    lot: str
    locked: bool


class Received(BaseModel):
    received: int
    number: str = Field(description="the receipt's number (its delivery note)")


class AlertOut(BaseModel):
    id: int
    kind: str
    key: str
    severity: str
    state: str
    message: str
    raised_at: str | None
    acknowledged_by: str | None
    acknowledged_at: str | None
    ack_comment: str | None
    cleared_at: str | None


class AlertState(BaseModel):
    id: int
    state: str


class ItemMove(_Move):
    event_id: str | None


class EpcHistory(BaseModel):
    epc: str
    found: bool
    gtin: str | None = None
    lot: str | None = None
    location: str | None = None
    last_event_at: str | None = None
    movements: list[ItemMove]


class Booked(BaseModel):
    booked: int  # items moved now
    pending: int | None = None  # the booking waiting for its approval (nothing moved yet)
    approver_role: str | None = None


class PendingBookingOut(BaseModel):
    id: int
    kind: str
    location: str
    requester: str
    reason: str
    epcs: list[str]
    gtin: str
    lot: str
    quantity: int
    value: str
    approver_role: str
    status: str
    created_at: str | None
    decided_by: str | None
    decided_at: str | None
    comment: str


class StocktakeLineOut(BaseModel):
    epc: str
    finding: str
    ledger_location: str | None


class StocktakeOut(BaseModel):
    id: int
    location: str
    source: str
    counted_by: str
    expected: int
    counted: int
    matched: int
    accuracy: float
    state: str
    lines: list[StocktakeLineOut]


class ImportJob(BaseModel):
    id: int
    kind: str
    state: Literal["queued", "running", "done", "failed"]
    phase: str
    rows_total: int
    rows_done: int
    imported: int | None
    error: str | None


class ConsumptionLine(BaseModel):
    department: str
    gtin: str
    product: str
    quantity: int
    value: str


class TopConsumer(BaseModel):
    user: str
    items: int
    cases: int


class SlowMover(BaseModel):
    location: str
    gtin: str
    lot: str
    quantity: int
    last_moved: str | None


class NearExpiryLine(BaseModel):
    location: str
    gtin: str
    lot: str
    expiry: str
    days_left: int
    quantity: int
    value: str
    priced: bool


class NearExpiry(BaseModel):
    days: int
    total_value: str
    lines: list[NearExpiryLine]


class Period(BaseModel):
    start: str
    end: str


class ItemsValue(BaseModel):
    items: int
    value: str


class Kpis(BaseModel):
    period: Period
    stock_accuracy: float | None
    stockouts: int
    scrap: ItemsValue
    loss: ItemsValue
    expired_on_hand: ItemsValue
    consumed_items: int
    on_hand_items: int
    inventory_turnover: float | None


class DeadLetterOut(BaseModel):
    id: int
    topic: str
    reason: str
    received_at: str
    size: int = Field(description="payload size in bytes")
    prefix: str = Field(description="the payload's first 256 bytes as text")


class Approval(BaseModel):
    level: str
    role: str


class RequisitionSummary(BaseModel):
    id: int
    status: str
    priority: str
    department: str | None
    to_location: str
    from_location: str | None
    requester: str
    note: str
    value: str | None  # decimal, as text
    transport: str
    needs_review: bool
    waiting_for: list[Approval]
    created_at: str | None
    updated_at: str | None
    issued_at: str | None
    received_at: str | None


class RequisitionLineOut(BaseModel):
    id: int
    gtin: str
    name: str
    ordered_gtin: str
    ordered_quantity: int
    quantity: int  # eaches
    issued: int
    received: int
    back_order: int
    closed: bool


class PickOut(BaseModel):
    line_id: int
    lot: str
    expiry: str | None
    epc: str | None
    quantity: int
    reason: str
    received_at: str | None
    received_by: str | None


class StepOut(BaseModel):
    action: str
    status: str
    actor: str
    at: str | None
    level: str
    comment: str


class RequisitionOut(RequisitionSummary):
    lines: list[RequisitionLineOut]
    picks: list[PickOut]
    history: list[StepOut]


class PickBatch(BaseModel):
    lot: str
    expiry: str | None
    available: int
    tagged: int
    suggested: int


class PickListLine(BaseModel):
    line_id: int
    gtin: str
    open: int
    short: int
    batches: list[PickBatch]


class PickListOut(RequisitionSummary):
    lines: list[PickListLine]


class WitnessCheckOut(BaseModel):
    id: int
    kind: str
    location: str
    actor: str
    what: str
    witness: str | None
    created_at: str | None
    confirmed_at: str | None


# --- purchasing ----------------------------------------------------------------------------
SupplierCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")]
Price = Annotated[Decimal, Field(ge=0, lt=10**10, max_digits=12, decimal_places=2)]


class OrderLineModel(_In):
    gtin: AnyGtin
    order_units: Annotated[int, Field(ge=1, le=1_000_000)]  # in the supplier's packs


class PurchaseOrderIn(_In):
    supplier: SupplierCode
    lines: Annotated[list[OrderLineModel], Field(min_length=1, max_length=500)]
    location: LocationCode | None = None  # default: the configured store
    note: Text = ""


class SendIn(_In):
    # how: by e-mail, to the supplier's FHIR server, or by hand (downloaded); default: the
    # e-mail and the FHIR server the supplier has
    channels: Annotated[list[Literal["email", "fhir", "manual"]], Field(max_length=3)] = []


class ConfirmIn(_In):
    delivery_date: Day
    comment: Text = ""


class ReasonIn(_In):
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class AcceptIn(_In):
    comment: Annotated[str, Field(min_length=1, max_length=2000)]


class DeliveredLineModel(_In):
    gtin: AnyGtin  # the product's or one of its packs'
    lot: Lot
    expiry: Day
    quantity: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    unit_price: Price | None = None  # per each, as invoiced
    epcs: Annotated[list[Epc], Field(max_length=10_000)] = []  # tagged items


class PoReceiptIn(_In):
    lines: Annotated[list[DeliveredLineModel], Field(min_length=1, max_length=500)]
    accept: bool = False  # accept the differences above the tolerance (with a comment)
    comment: Text = ""
    number: Annotated[str, Field(pattern=r"^[!-~]{1,80}$")] | None = None  # the delivery note


class NoticeLineModel(_In):
    gtin: AnyGtin
    lot: Lot
    expiry: Day
    quantity: Annotated[int, Field(ge=1, le=1_000_000)]
    serials: Annotated[list[Annotated[str, Field(pattern=r"^[!-~]{1,20}$")]],
                       Field(max_length=20_000)] = []  # fmt: skip
    epcs: Annotated[list[Epc], Field(max_length=20_000)] = []


class ShipNoticeIn(_In):
    number: Annotated[str, Field(min_length=1, max_length=80)]  # the despatch note
    sscc: Annotated[str, Field(pattern=r"^[0-9]{18}$")] | None = None
    expected_on: Day | None = None
    lines: Annotated[list[NoticeLineModel], Field(min_length=1, max_length=500)]


class PurchaseOrderSummary(BaseModel):
    id: int
    number: str
    status: str
    supplier: str
    supplier_name: str
    location: str
    value: str | None
    note: str
    created_by: str
    waiting_for: list[Approval]
    created_at: str | None
    updated_at: str | None
    sent_at: str | None
    delivery_date: str | None
    received_at: str | None


class PoLineOut(BaseModel):
    id: int
    gtin: str
    name: str
    reference: str
    order_units: int
    quantity: int
    unit_price: str | None
    received: int
    open: int


class NoticeLineOut(BaseModel):
    gtin: str
    lot: str
    expiry: str
    quantity: int
    serials: list[str]


class ShipNoticeOut(BaseModel):
    id: int
    number: str
    sscc: str | None
    expected_on: str | None
    created_by: str
    created_at: str | None
    received_at: str | None
    receipt: str | None
    lines: list[NoticeLineOut]


class VarianceOut(BaseModel):
    receipt: str
    gtin: str
    kind: str
    expected: str
    got: str
    needs_acceptance: bool
    accepted_by: str | None
    at: str | None


class PurchaseOrderOut(PurchaseOrderSummary):
    lines: list[PoLineOut]
    ship_notices: list[ShipNoticeOut]
    variances: list[VarianceOut]
    history: list[StepOut]


class ProposalDecisionIn(_In):
    minimum: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    maximum: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    order_quantity: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    comment: Text = ""


class ProposalOut(BaseModel):
    id: int
    location: str
    gtin: str
    name: str
    status: str
    current_min: int | None
    current_max: int | None
    proposed_min: int
    proposed_max: int
    on_hand: int
    order_quantity: int
    supplier: str | None
    daily_demand: float
    method: str
    backtest_mae: float | None
    lead_time_days: float
    lead_time_measured: bool
    service_level: float
    created_at: str | None
    decided_by: str | None
    decided_at: str | None
    comment: str
    purchase_order_id: int | None


class ProposalsMade(BaseModel):
    made: int


class KpiFigures(BaseModel):
    orders: int
    delivered: int
    lead_time_days_mean: float | None
    lead_time_days_sd: float | None
    on_time_rate: float | None
    in_full_rate: float | None
    otif_rate: float | None
    receipts: int
    variance_rate: float | None
    variance_rate_by_kind: dict[str, float | None]


class ProductKpiOut(KpiFigures):
    gtin: str
    name: str


class SupplierKpiOut(KpiFigures):
    supplier: str
    name: str
    products: list[ProductKpiOut]


class SignIn(_In):
    password: Annotated[str, Field(min_length=1, max_length=1000)]  # the signer's, again
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class SignedReportIn(SignIn):
    start: Day
    end: Day  # exclusive


class Problem(BaseModel):
    detail: Any


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "no valid bearer token"},
    403: {"model": Problem, "description": "the token's role or scope does not allow it"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "not found"}}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "the state does not allow it"}
}
INVALID: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "a body that cannot be parsed"},
    422: {"model": Problem, "description": "invalid input; the message names the field or line"},
}
