"""Bookings that wait for an approval: a person's return, loss, scrap or adjustment that
the configuration's rules (`requisitions.bookings`: kind, value, reason) send to a user of
a role moves stock only once that user approves it; pending ones are listed in scope."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.accounts import Principal
from central.config import RequisitionConfig
from central.errors import Conflict, Forbidden, NotFound
from central.ledger.base import iso, location_problem, tag_column
from central.ledger.bookings import BOOKING_KINDS, BookingError, Bookings
from central.models import Batch, Location, PendingBooking, Product, Tag
from central.signatures import Signed
from central.vocab import Permission, Role

PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"


class BookingApprovals(Bookings):
    requisition_rules: RequisitionConfig

    def request_booking(
        self, who: Principal, kind: str, *, location: str, reason: str,
        epcs: tuple[str, ...] = (), gtin: str = "", lot: str = "", quantity: int = 0,
        case_id: str = "",
    ) -> dict[str, Any]:  # fmt: skip
        """A person's booking: made at once, or kept for the approval a rule asks for.
        Returns `booked` (items moved now) and `pending` (the waiting booking's id)."""
        if kind not in BOOKING_KINDS:
            raise BookingError(f"unknown booking kind {kind!r} (one of {', '.join(BOOKING_KINDS)})")
        if problem := location_problem(location):
            raise BookingError(problem)
        with self.transaction() as s:
            value = self._value(s, epcs, gtin, quantity)
            rule = next((r for r in self.requisition_rules.bookings
                         if r.applies(kind, value, reason)), None)  # fmt: skip
            if rule is None:
                n = self._book(s, kind, location, who.user, reason, epcs, gtin, lot, quantity,
                               case_id)  # fmt: skip
                return {"booked": n, "pending": None, "approver_role": None}
            if not reason.strip() or bool(epcs) == bool(quantity):
                raise BookingError("a booking needs a reason, and either EPCs or a quantity")
            row = PendingBooking(
                kind=kind, location=location, requester=who.user, reason=reason[:2000],
                epcs="\n".join(epcs), gtin=gtin, lot=lot, quantity=quantity, case_id=case_id,
                value=value, role=rule.role, status=PENDING, created_at=self.clock.now(),
                comment="",
            )  # fmt: skip
            s.add(row)
            s.flush()
            return {"booked": 0, "pending": row.id, "approver_role": rule.role}

    def _value(self, s: Session, epcs: tuple[str, ...], gtin: str, quantity: int) -> Decimal:
        """What the booking is worth at the products' unit prices (unpriced: 0)."""
        prices = {
            g: p or Decimal(0) for g, p in s.execute(select(Product.gtin, Product.unit_price))
        }
        if not epcs:
            return prices.get(gtin, Decimal(0)) * abs(quantity)
        batches = tag_column(s, Tag.batch_id, epcs)
        gtins = dict(s.execute(select(Batch.id, Batch.gtin).where(
            Batch.id.in_(set(batches.values())))).all())  # fmt: skip
        return sum((prices.get(gtins.get(b, ""), Decimal(0)) for b in batches.values()),
                   Decimal(0))  # fmt: skip

    def needs_signature(self, kind: str, value: Decimal | None) -> bool:
        """Whether approving a booking of `kind` and `value` must be signed."""
        least = self.requisition_rules.signed_bookings_min_value
        return kind in ("scrap", "loss") and least is not None and (value or 0) >= least

    def _pending_in_scope(self, s: Session, who: Principal, row: PendingBooking) -> bool:
        dept = s.scalar(select(Location.department).where(Location.code == row.location))
        return who.covers(row.location, dept)

    def pending_bookings(self, who: Principal) -> list[dict[str, Any]]:
        """Bookings waiting for an approval, in the user's scope, oldest first."""
        if not who.may(Permission.READ):
            raise Forbidden(f"the {who.role} role may not read bookings")
        with self.session() as s:
            rows = s.scalars(select(PendingBooking).where(PendingBooking.status == PENDING)
                             .order_by(PendingBooking.id))  # fmt: skip
            return [_as_dict(r) for r in rows if self._pending_in_scope(s, who, r)]

    def decide_booking(
        self, who: Principal, booking_id: int, *, approve: bool, comment: str = "",
        signed: Signed | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Approve (the stock moves now) or reject a waiting booking: by a user of the role
        its rule names (or an admin), in scope, not the one who asked. Approving scrap or a
        loss worth `requisitions.signed_bookings_min_value` or more needs `signed`."""
        with self.transaction() as s:
            row = s.get(PendingBooking, booking_id, with_for_update=self._pg)
            if row is None:
                raise NotFound(f"no booking #{booking_id}")
            if who.role not in (row.role, Role.ADMIN):
                raise Forbidden(f"booking #{booking_id} needs the {row.role} role's approval")
            if who.user == row.requester:
                raise Forbidden("nobody approves their own booking")
            if not self._pending_in_scope(s, who, row):
                raise Forbidden(f"booking #{booking_id} is outside your scope")
            if row.status != PENDING:
                raise Conflict(f"booking #{booking_id} is already {row.status}")
            if approve and self.needs_signature(row.kind, row.value):
                if signed is None or signed.who.user != who.user:
                    raise Forbidden(f"approving booking #{booking_id} needs your signature: "
                                    "your password and a reason")  # fmt: skip
                signed.record(s, action=f"{row.kind}_approval", subject=f"booking {row.id}",
                              now=self.clock.now())  # fmt: skip
            if approve:
                self._book(s, row.kind, row.location, row.requester,
                           f"{row.reason} (approved by {who.user})",
                           tuple(filter(None, row.epcs.split("\n"))), row.gtin, row.lot,
                           row.quantity, row.case_id)  # fmt: skip
            row.status = APPROVED if approve else REJECTED
            row.decided_by, row.decided_at, row.comment = who.user, self.clock.now(), comment
            return _as_dict(row)


def _as_dict(r: PendingBooking) -> dict[str, Any]:
    return {
        "id": r.id, "kind": r.kind, "location": r.location, "requester": r.requester,
        "reason": r.reason, "epcs": list(filter(None, r.epcs.split("\n"))), "gtin": r.gtin,
        "lot": r.lot, "quantity": r.quantity, "value": str(r.value), "approver_role": r.role,
        "status": r.status, "created_at": iso(r.created_at), "decided_by": r.decided_by,
        "decided_at": iso(r.decided_at), "comment": r.comment,
    }  # fmt: skip
