"""Purchase orders: made and approved by purchasing, sent to the supplier (e-mail, FHIR, or
downloaded as PDF and CSV), confirmed and announced (ship notices) by the supplier's own
users, received against their lines. A refusal of the person is 403 (a supplier's user sees
another's order as 404), of the order's status 409, of differences above the tolerance 409
with the `variances` listed."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import Response

from central.api.deps import Id, LedgerDep, User
from central.errors import Forbidden
from central.ledger import DeliveredLine, NoticeLineIn, OrderLineIn, ProposalEdit, epcis_receipt
from central.ledger.po_receiving import delivered_from_receipt, parse_delivery_csv
from central.purchase_documents import download
from central.purchase_sending import send_order
from central.schemas import (
    CONFLICT,
    ERRORS,
    INVALID,
    NOT_FOUND,
    AcceptIn,
    ConfirmIn,
    Day,
    PoReceiptIn,
    ProposalDecisionIn,
    ProposalOut,
    ProposalsMade,
    PurchaseOrderIn,
    PurchaseOrderOut,
    PurchaseOrderSummary,
    ReasonIn,
    SendIn,
    ShipNoticeIn,
    SupplierKpiOut,
)
from central.supplier_kpis import supplier_kpis
from central.vocab import Permission
from rules.purchasing import PoAction

router = APIRouter(prefix="/purchase-orders", tags=["purchasing"], responses=ERRORS | INVALID)
ACTION = NOT_FOUND | CONFLICT
Status = Annotated[
    str | None,
    Query(pattern="^(draft|approved|sent|confirmed|partially_received|received|closed|cancelled)$"),
]


def _out(order: dict[str, Any]) -> PurchaseOrderOut:
    return PurchaseOrderOut.model_validate(order)


@router.post("", status_code=201)
def create(body: PurchaseOrderIn, ledger: LedgerDep, user: User) -> PurchaseOrderOut:
    """A draft order in the supplier's order units (role purchasing)."""
    lines = [OrderLineIn(ln.gtin, ln.order_units) for ln in body.lines]
    return _out(
        ledger.new_purchase_order(
            user, supplier=body.supplier, lines=lines, location=body.location, note=body.note
        )
    )


@router.get("")
def listing(
    ledger: LedgerDep,
    user: User,
    status: Status = None,
    supplier: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[PurchaseOrderSummary]:
    """The orders the user may see (a supplier's user: its own sent ones), open first."""
    found = ledger.purchase_orders(user, status=status, supplier=supplier, limit=limit)
    return [PurchaseOrderSummary.model_validate(o) for o in found]


@router.get("/{order_id}", responses=NOT_FOUND)
def one(order_id: Id, ledger: LedgerDep, user: User) -> PurchaseOrderOut:
    return _out(ledger.purchase_order(user, order_id))


@router.post("/{order_id}/approve", responses=ACTION)
def approve(order_id: Id, ledger: LedgerDep, user: User) -> PurchaseOrderOut:
    """The waiting approval level, by its role; never by whoever made the order."""
    return _out(ledger.approve_purchase_order(user, order_id))


@router.post("/{order_id}/send", responses=ACTION | {502: {"description": "nobody took it"}})
def send(
    order_id: Id, ledger: LedgerDep, user: User, body: SendIn | None = None
) -> PurchaseOrderOut:
    """E-mail the PDF and CSV and/or POST the FHIR SupplyRequest bundle; `manual`: it was
    downloaded and sent by hand. The order is sent once at least one channel took it."""
    channels = (body or SendIn()).channels
    if channels == ["manual"]:
        return _out(ledger.mark_purchase_order_sent(user, order_id, ["manual"]))
    return _out(send_order(ledger, user, order_id, [c for c in channels if c != "manual"]))


@router.post("/{order_id}/confirm", responses=ACTION)
def confirm(order_id: Id, body: ConfirmIn, ledger: LedgerDep, user: User) -> PurchaseOrderOut:
    """The supplier's delivery date (its user, or purchasing on its word)."""
    return _out(ledger.confirm_purchase_order(user, order_id, body.delivery_date, body.comment))


@router.post("/{order_id}/ship-notices", status_code=201, responses=ACTION)
def ship_notice(
    order_id: Id, body: ShipNoticeIn, ledger: LedgerDep, user: User
) -> PurchaseOrderOut:
    """An advance ship notice: lots, expiries, serials or EPCs, the SSCC of the unit."""
    lines = [
        NoticeLineIn(ln.gtin, ln.lot, ln.expiry, ln.quantity, tuple(ln.serials), tuple(ln.epcs))
        for ln in body.lines
    ]
    return _out(
        ledger.submit_ship_notice(
            user,
            order_id,
            number=body.number,
            sscc=body.sscc,
            expected_on=body.expected_on,
            lines=lines,
        )
    )


@router.post("/{order_id}/receipts", responses=ACTION)
def receive(order_id: Id, body: PoReceiptIn, ledger: LedgerDep, user: User) -> PurchaseOrderOut:
    """A delivery against the order's lines (role storekeeper); differences above the
    tolerance are refused (409, listed) until `accept` with a `comment`."""
    lines = [
        DeliveredLine(
            ln.gtin, ln.lot, ln.expiry, len(ln.epcs) or ln.quantity, ln.unit_price, tuple(ln.epcs)
        )
        for ln in body.lines
    ]
    return _out(
        ledger.receive_purchase_order(
            user, order_id, lines, accept=body.accept, comment=body.comment, number=body.number
        )
    )


@router.post("/{order_id}/receipts/csv", responses=ACTION)
def receive_csv(
    order_id: Id, ledger: LedgerDep, user: User,
    text: Annotated[str, Body(media_type="text/csv", max_length=5_000_000)],
    accept: bool = False, comment: Annotated[str, Query(max_length=2000)] = "",
) -> PurchaseOrderOut:  # fmt: skip
    """A delivery note as CSV (gtin, lot, expiry, quantity[, unit_price][, epc])."""
    return _out(ledger.receive_purchase_order(user, order_id, parse_delivery_csv(text),
                                              accept=accept, comment=comment))  # fmt: skip


@router.post("/{order_id}/receipts/epcis", responses=ACTION)
def receive_epcis(
    order_id: Id, doc: dict[str, Any], ledger: LedgerDep, user: User, accept: bool = False,
    comment: Annotated[str, Query(max_length=2000)] = "",
) -> PurchaseOrderOut:  # fmt: skip
    """The supplier's EPCIS 2.0 commissioning events (lots, expiries, EPCs) as the delivery."""
    store = ledger.purchase_order(user, order_id)["location"]
    lines = delivered_from_receipt(epcis_receipt(doc, store))
    return _out(ledger.receive_purchase_order(user, order_id, lines, accept=accept,
                                              comment=comment))  # fmt: skip


@router.post("/ship-notices/{notice_id}/receive", responses=ACTION)
def receive_notice(
    notice_id: Id, ledger: LedgerDep, user: User, body: AcceptIn | None = None
) -> PurchaseOrderOut:
    """The notice received as announced (its SSCC scanned at receiving)."""
    return _out(
        ledger.receive_ship_notice(
            user, notice_id, accept=body is not None, comment=body.comment if body else ""
        )
    )


@router.post("/{order_id}/accept-variances", responses=ACTION)
def accept(order_id: Id, body: AcceptIn, ledger: LedgerDep, user: User) -> PurchaseOrderOut:
    """Purchasing accepts the differences a gate booked."""
    return _out(ledger.accept_variances(user, order_id, body.comment))


@router.post("/{order_id}/{action}", responses=ACTION)
def end(
    order_id: Id,
    action: Annotated[Literal["cancel", "close"], Path()],
    body: ReasonIn,
    ledger: LedgerDep,
    user: User,
) -> PurchaseOrderOut:
    """Cancel (nothing received) or close (the rest will not come), with a reason."""
    return _out(ledger.end_purchase_order(user, order_id, PoAction(action), body.reason))


@router.get("/{order_id}/document", responses=NOT_FOUND, response_class=Response)
def document(
    order_id: Id,
    ledger: LedgerDep,
    user: User,
    format: Annotated[str, Query(pattern="^(pdf|csv|fhir)$")] = "pdf",
) -> Response:
    """The order as the supplier gets it: PDF, CSV or the FHIR R5 SupplyRequest bundle."""
    order = ledger.purchase_order(user, order_id)
    body, media, disposition = download(order, format, ledger.purchasing_rules.buyer)
    return Response(body, media_type=media, headers={"Content-Disposition": disposition})


proposals_router = APIRouter(prefix="/proposals", tags=["purchasing"], responses=ERRORS | INVALID)


@proposals_router.get("")
def proposals(ledger: LedgerDep, user: User) -> list[ProposalOut]:
    """Open min/max and order proposals of the user's scope (purchasing, storekeepers)."""
    return [ProposalOut.model_validate(p) for p in ledger.proposals(user)]


@proposals_router.post("/run")
def propose(ledger: LedgerDep, user: User) -> ProposalsMade:
    """Forecast every series and propose again now (purchasing; it also runs daily)."""
    if not user.may(Permission.PURCHASE):
        raise Forbidden(f"the {user.role} role may not run the proposals")
    return ProposalsMade(made=ledger.propose_replenishment())


@proposals_router.post("/{proposal_id}/{decision}", responses=ACTION)
def decide(
    proposal_id: Id, decision: Annotated[Literal["accept", "reject"], Path()], ledger: LedgerDep,
    user: User, body: ProposalDecisionIn | None = None,
) -> ProposalOut:  # fmt: skip
    """Accept (as proposed, or with other levels or quantity) or reject; an accepted order
    of a store is a draft purchase order."""
    body = body or ProposalDecisionIn()
    edit = ProposalEdit(body.minimum, body.maximum, body.order_quantity)
    return ProposalOut.model_validate(
        ledger.decide_proposal(
            user, proposal_id, accept=decision == "accept", edit=edit, comment=body.comment
        )
    )


kpi_router = APIRouter(tags=["purchasing"], responses=ERRORS | INVALID)


@kpi_router.get("/reports/supplier-kpis")
def kpis(
    ledger: LedgerDep, user: User, start: Annotated[Day | None, Query()] = None,
    end: Annotated[Day | None, Query()] = None,
) -> list[SupplierKpiOut]:  # fmt: skip
    """Per supplier and product, for the orders sent from `start` (default: 90 days before
    `end`) to `end` (exclusive; default: tomorrow): lead time, on time, in full, OTIF,
    variance rates (purchasing)."""
    if not user.may(Permission.PURCHASE):
        raise Forbidden(f"the {user.role} role may not read supplier KPIs")
    until = end or ledger.clock.today() + timedelta(days=1)
    since = start or until - timedelta(days=90)
    with ledger.session() as s:
        rows = supplier_kpis(s, datetime.combine(since, time(), UTC),
                             datetime.combine(until, time(), UTC))  # fmt: skip
    return [SupplierKpiOut.model_validate(r) for r in rows]
