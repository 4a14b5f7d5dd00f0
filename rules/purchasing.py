"""A purchase order's life and a delivery's differences, without the database: the statuses
and the actions each allows, and the variances of a delivered line against its order
(quantity, price, lot, expiry) with the tolerance above which a person must accept them.

Approval levels by value reuse the requisitions' `ApprovalPolicy` (`rules/requisitions.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum


class PoStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"  # every required level approved
    SENT = "sent"  # to the supplier (PDF, CSV, e-mail, FHIR)
    CONFIRMED = "confirmed"  # the supplier gave its delivery date
    PARTIALLY_RECEIVED = "partially_received"
    RECEIVED = "received"  # everything ordered arrived
    CLOSED = "closed"  # ended short: the rest will not come
    CANCELLED = "cancelled"


class PoAction(StrEnum):
    APPROVE = "approve"
    SEND = "send"
    CONFIRM = "confirm"
    RECEIVE = "receive"
    CLOSE = "close"
    CANCEL = "cancel"


class PoStatusRefused(Exception):  # noqa: N818 (read as "refused by the status")
    """The action is not allowed in the order's status (whoever asks)."""


_RECEIVABLE = (PoStatus.SENT, PoStatus.CONFIRMED, PoStatus.PARTIALLY_RECEIVED)
_CANCELLABLE = (PoStatus.DRAFT, PoStatus.APPROVED, PoStatus.SENT, PoStatus.CONFIRMED)


def po_after(
    status: PoStatus, action: PoAction, *, levels_left: int = 0, complete: bool = False
) -> PoStatus:
    """The status after `action`: `levels_left` approvals still needed before this one;
    `complete`: after this receipt everything ordered has arrived. A delivery may come
    before the supplier confirmed; nothing received can be cancelled, only closed."""
    if action == PoAction.APPROVE and status == PoStatus.DRAFT:
        return PoStatus.APPROVED if levels_left <= 1 else PoStatus.DRAFT
    if action == PoAction.SEND and status == PoStatus.APPROVED:
        return PoStatus.SENT
    if action == PoAction.CONFIRM and status in (PoStatus.SENT, PoStatus.CONFIRMED):
        return PoStatus.CONFIRMED  # a new delivery date confirms again
    if action == PoAction.RECEIVE and status in _RECEIVABLE:
        return PoStatus.RECEIVED if complete else PoStatus.PARTIALLY_RECEIVED
    if action == PoAction.CLOSE and status == PoStatus.PARTIALLY_RECEIVED:
        return PoStatus.CLOSED
    if action == PoAction.CANCEL and status in _CANCELLABLE:
        return PoStatus.CANCELLED
    raise PoStatusRefused(f"a {status} purchase order cannot be {_DONE[action]}")


_DONE = {
    PoAction.APPROVE: "approved", PoAction.SEND: "sent", PoAction.CONFIRM: "confirmed",
    PoAction.RECEIVE: "received", PoAction.CLOSE: "closed", PoAction.CANCEL: "cancelled",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How far a delivered line may differ from its order without a person's acceptance:
    quantity and unit price in percent of the order, and the shortest remaining shelf life
    accepted at receipt."""

    quantity_pct: Decimal = Decimal(0)
    price_pct: Decimal = Decimal(0)
    min_shelf_life_days: int = 0


@dataclass(frozen=True, slots=True)
class Ordered:
    quantity: int  # eaches
    unit_price: Decimal | None
    lot: str | None = None  # as announced in the advance ship notice, when there is one
    expiry: date | None = None  # likewise


@dataclass(frozen=True, slots=True)
class Delivered:
    quantity: int
    unit_price: Decimal | None
    lot: str
    expiry: date | None


@dataclass(frozen=True, slots=True)
class Variance:
    kind: str  # quantity, price, lot, expiry, shelf_life
    expected: str
    got: str
    needs_acceptance: bool  # above the tolerance: a person accepts it before it books


def variances(ordered: Ordered, got: Delivered, tol: Tolerance, today: date) -> list[Variance]:
    """How a delivered line differs from its order line (and its ship notice)."""
    out = []
    if got.quantity != ordered.quantity:
        allowed = Decimal(ordered.quantity) * tol.quantity_pct / 100
        out.append(Variance("quantity", str(ordered.quantity), str(got.quantity),
                            abs(Decimal(got.quantity - ordered.quantity)) > allowed))  # fmt: skip
    if (
        ordered.unit_price is not None
        and got.unit_price is not None
        and got.unit_price != ordered.unit_price
    ):
        allowed = ordered.unit_price * tol.price_pct / 100
        out.append(Variance("price", str(ordered.unit_price), str(got.unit_price),
                            abs(got.unit_price - ordered.unit_price) > allowed))  # fmt: skip
    if ordered.lot is not None and got.lot != ordered.lot:
        out.append(Variance("lot", ordered.lot, got.lot, True))
    if ordered.expiry is not None and got.expiry != ordered.expiry:
        out.append(Variance("expiry", ordered.expiry.isoformat(),
                            got.expiry.isoformat() if got.expiry else "", True))  # fmt: skip
    if got.expiry is not None and (got.expiry - today).days < tol.min_shelf_life_days:
        out.append(Variance("shelf_life", f">= {tol.min_shelf_life_days} days",
                            f"{(got.expiry - today).days} days", True))  # fmt: skip
    return out
