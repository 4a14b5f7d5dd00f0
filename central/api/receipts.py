"""Receiving: a delivery's lines, or the commissioning events of an EPCIS 2.0 document."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from central.api.deps import LedgerDep, Receiver, in_scope
from central.ledger import ReceiptLine, epcis_receipt, new_receipt_number
from central.schemas import CONFLICT, ERRORS, INVALID, MAX_LIST, ReceiptIn, Received

router = APIRouter(tags=["receiving"], responses=ERRORS | INVALID | CONFLICT)

RECEIPT_NUMBER = r"^[A-Za-z0-9][A-Za-z0-9 ._/#-]{0,79}$"


@router.post("/receipts", status_code=201)
def receive(
    lines: Annotated[list[ReceiptIn], Body(min_length=1, max_length=MAX_LIST)],
    ledger: LedgerDep,
    user: Receiver,
    number: Annotated[str | None, Query(pattern=RECEIPT_NUMBER)] = None,
) -> Received:
    """Book a delivery; `number` is its delivery note (generated when not given; a
    number already booked is a 409)."""
    number = number or new_receipt_number(ledger.clock.now())
    rows = [ReceiptLine(**line.model_dump()) for line in lines]
    in_scope(ledger, user, [r.location for r in rows])
    n = ledger.receive(rows, actor=user.user, today=ledger.clock.today(), number=number)
    return Received(received=n, number=number)


@router.post("/receipts/epcis", status_code=201)
def receive_epcis(
    doc: dict[str, Any],
    location: Annotated[str, Query(max_length=200)],
    ledger: LedgerDep,
    user: Receiver,
) -> Received:
    """Book the commissioning ObjectEvents of an EPCIS 2.0 document at `location`."""
    number = new_receipt_number(ledger.clock.now())
    lines = epcis_receipt(doc, location)
    in_scope(ledger, user, [location])
    n = ledger.receive(lines, actor=user.user, today=ledger.clock.today(), number=number)
    return Received(received=n, number=number)
