"""A person's bookings (returns, loss, scrap, adjustments) and stocktakes."""

from __future__ import annotations

from fastapi import APIRouter

from central.api.deps import Booker, Counter, Id, LedgerDep, Reader, in_scope
from central.schemas import (
    CONFLICT,
    ERRORS,
    INVALID,
    NOT_FOUND,
    Booked,
    BookingIn,
    StocktakeIn,
    StocktakeOut,
)

router = APIRouter(tags=["bookings and stocktakes"], responses=ERRORS | INVALID)


@router.post("/bookings", status_code=201)
def book(body: BookingIn, ledger: LedgerDep, user: Booker) -> Booked:
    in_scope(ledger, user, [body.location])
    n = ledger.book(
        body.kind, location=body.location, user=user.user, reason=body.reason,
        epcs=tuple(body.epcs), gtin=body.gtin, lot=body.lot, quantity=body.quantity,
        case_id=body.case_id,
    )  # fmt: skip
    return Booked(booked=n)


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
def confirm(stocktake_id: Id, ledger: LedgerDep, user: Counter) -> StocktakeOut:
    in_scope(ledger, user, [ledger.stocktake_report(stocktake_id)["location"]])
    return StocktakeOut.model_validate(ledger.confirm_stocktake(stocktake_id, user=user.user))
