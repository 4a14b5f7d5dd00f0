"""A person's bookings (returns, loss, scrap, adjustments) and stocktakes."""

from __future__ import annotations

from fastapi import APIRouter

from central import signatures
from central.api.deps import Booker, Counter, Id, LedgerDep, Reader, in_scope, signature
from central.schemas import (
    CONFLICT,
    ERRORS,
    INVALID,
    NOT_FOUND,
    ApproveIn,
    Booked,
    BookingIn,
    PendingBookingOut,
    RejectIn,
    SignIn,
    StocktakeIn,
    StocktakeOut,
)

router = APIRouter(tags=["bookings and stocktakes"], responses=ERRORS | INVALID)


@router.post("/bookings", status_code=201)
def book(body: BookingIn, ledger: LedgerDep, user: Booker) -> Booked:
    in_scope(ledger, user, [body.location])
    """Book at once, or (when a rule of the configuration asks for it) keep the booking
    for its approval: `pending` is then its id and nothing moves until it is approved."""
    out = ledger.request_booking(
        user, body.kind, location=body.location, reason=body.reason, epcs=tuple(body.epcs),
        gtin=body.gtin, lot=body.lot, quantity=body.quantity, case_id=body.case_id,
    )  # fmt: skip
    return Booked.model_validate(out)


@router.get("/bookings/pending")
def pending(ledger: LedgerDep, user: Reader) -> list[PendingBookingOut]:
    """Bookings waiting for an approval, in the user's scope."""
    return [PendingBookingOut.model_validate(b) for b in ledger.pending_bookings(user)]


@router.post("/bookings/{booking_id}/approve", responses=NOT_FOUND | CONFLICT)
def approve(
    booking_id: Id, ledger: LedgerDep, user: Reader, body: ApproveIn | None = None
) -> PendingBookingOut:
    """Approve: the stock moves now (by the role the rule names, not the one who asked).
    Scrap and losses are approved with a signature: `password` again, `comment` the
    reason."""
    body = body or ApproveIn()
    signed = signature(ledger, user, body.password, body.comment)
    out = ledger.decide_booking(user, booking_id, approve=True, comment=body.comment,
                                signed=signed)  # fmt: skip
    return PendingBookingOut.model_validate(out)


@router.post("/bookings/{booking_id}/reject", responses=NOT_FOUND | CONFLICT)
def reject(booking_id: Id, body: RejectIn, ledger: LedgerDep, user: Reader) -> PendingBookingOut:
    out = ledger.decide_booking(user, booking_id, approve=False, comment=body.reason)
    return PendingBookingOut.model_validate(out)


@router.post("/stocktakes", status_code=201)
def stocktake(body: StocktakeIn, ledger: LedgerDep, user: Counter) -> StocktakeOut:
    """Compare a count of a location with the ledger; confirm it to book the differences."""
    in_scope(ledger, user, [body.location])
    report = ledger.stocktake(body.location, body.epcs, user=user.user, source=body.source)
    return StocktakeOut.model_validate(report)


@router.get("/stocktakes/{stocktake_id}", responses=NOT_FOUND)
def stocktake_report(stocktake_id: Id, ledger: LedgerDep, user: Reader) -> StocktakeOut:
    report = ledger.stocktake_report(stocktake_id)
    in_scope(ledger, user, [report["location"]])
    return StocktakeOut.model_validate(report)


@router.post("/stocktakes/{stocktake_id}/confirm", responses=NOT_FOUND | CONFLICT)
def confirm(stocktake_id: Id, body: SignIn, ledger: LedgerDep, user: Counter) -> StocktakeOut:
    """Book the count, signed: the password again and a reason."""
    in_scope(ledger, user, [ledger.stocktake_report(stocktake_id)["location"]])
    signed = signatures.sign(ledger.session.begin, user, body.password, body.reason,
                             ledger.clock.now())  # fmt: skip
    return StocktakeOut.model_validate(ledger.confirm_stocktake(stocktake_id, signed=signed))
