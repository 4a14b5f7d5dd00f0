"""Purchase orders: purchasing orders goods from a supplier for a store; the approval levels
its value needs approve it; it is sent (PDF, CSV, e-mail, FHIR: `central/purchasing/`), the
supplier confirms a delivery date (in the portal, or purchasing on its word), and receipts
against it (`po_receiving.py`) complete it.

Who may act is checked here (`Forbidden`): purchasing creates, approves at its level and
sends; nobody approves an order they made; a supplier's user sees and confirms only its
own orders, and only once they were sent. Whether the status allows it is
`rules/purchasing.py` (`Conflict`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.accounts import Principal
from central.config import PurchasingConfig
from central.errors import Conflict, Forbidden, Invalid, NotFound
from central.ledger.base import iso, location_problem
from central.ledger.receiving import Receiving
from central.ledger.requisitions import pending_levels
from central.models import (
    Location,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderStep,
    PurchaseVariance,
    ShipNotice,
    ShipNoticeLine,
    Supplier,
    SupplierProduct,
)
from central.vocab import Permission, Role
from rules.purchasing import PoAction, PoStatus, PoStatusRefused, po_after
from rules.requisitions import Priority

MAX_LINES, MAX_UNITS = 500, 1_000_000
OPEN_ORDERS = (
    PoStatus.DRAFT,
    PoStatus.APPROVED,
    PoStatus.SENT,
    PoStatus.CONFIRMED,
    PoStatus.PARTIALLY_RECEIVED,
)


@dataclass(frozen=True, slots=True)
class OrderLineIn:
    """An ordered line: a product's GTIN and how many of the supplier's order units."""

    gtin: str
    order_units: int


def po_number(order_id: int) -> str:
    return f"PO-{order_id:06d}"


class Purchasing(Receiving):
    purchasing_rules: PurchasingConfig

    # --- ordering -------------------------------------------------------------------------
    def new_purchase_order(
        self,
        who: Principal,
        *,
        supplier: str,
        lines: list[OrderLineIn],
        location: str | None = None,
        note: str = "",
    ) -> dict[str, Any]:
        """A draft order of products the supplier sells, in its order units, to `location`
        (default: the configured store)."""
        if not who.may(Permission.PURCHASE):
            raise Forbidden(f"the {who.role} role may not order from suppliers")
        if not lines or len(lines) > MAX_LINES:
            raise Invalid(f"lines: between 1 and {MAX_LINES} lines are needed")
        code = location or self.purchasing_rules.store
        if not code:
            raise Invalid("location: name the store to deliver to (or configure purchasing.store)")
        if problem := location_problem(code):
            raise Invalid(f"location: {problem}")
        now = self.clock.now()
        with self.transaction() as s:
            if s.get(Supplier, supplier) is None:
                raise Invalid(f"supplier: no supplier {supplier[:40]!r}")
            rows, value, classes = self._ordered(s, supplier, lines)
            dest = s.scalars(select(Location).where(Location.code == code)).one_or_none()
            if dest is None or dest.kind == "transit":  # a typo must not make a new place
                raise Invalid(f"location: no location {code[:80]!r}")
            loc_id = dest.id
            if not who.covers(dest.code, dest.department):
                raise Forbidden(f"location: {dest.code} is not in your scope")
            levels = self.purchasing_rules.policy().required(value, classes, Priority.ROUTINE)
            order = PurchaseOrder(
                supplier=supplier,
                location_id=loc_id,
                status=PoStatus.DRAFT,
                levels=",".join(f"{lvl.name}:{lvl.role}" for lvl in levels),
                approved="",
                value=value,
                note=note[:2000],
                created_by=who.user,
                created_at=now,
                updated_at=now,
            )
            s.add(order)
            s.flush()
            for row in rows:
                row.order_id = order.id
                s.add(row)
            self._step(s, order, "create", who.user, now, comment=note)
            if not levels:  # nothing to approve (a configuration without levels)
                order.status = PoStatus.APPROVED
            order_id = order.id
        return self.purchase_order(who, order_id)

    def _ordered(
        self, s: Session, supplier: str, lines: list[OrderLineIn]
    ) -> tuple[list[PurchaseOrderLine], Decimal, set[str]]:
        rows, value, classes, problems = [], Decimal(0), set(), []
        seen: set[str] = set()
        for i, line in enumerate(lines):
            gtin = line.gtin.zfill(14)
            offer = s.get(SupplierProduct, (supplier, gtin))
            product = s.get(Product, gtin)
            if offer is None or product is None:
                problems.append(f"lines[{i}].gtin: {supplier} does not sell {gtin[:14]!r}")
                continue
            if gtin in seen:
                problems.append(f"lines[{i}].gtin: {gtin} is ordered twice; one line each")
                continue
            seen.add(gtin)
            if not offer.min_order <= line.order_units <= MAX_UNITS:
                problems.append(
                    f"lines[{i}].order_units: at least the minimum order of "
                    f"{offer.min_order}, at most {MAX_UNITS}"
                )
                continue
            price = offer.unit_price if offer.unit_price is not None else product.unit_price
            eaches = line.order_units * offer.pack
            value += (price or Decimal(0)) * eaches
            classes |= product.classes()
            rows.append(
                PurchaseOrderLine(
                    gtin=gtin,
                    order_units=line.order_units,
                    quantity=eaches,
                    unit_price=price,
                    received=0,
                )
            )
        if problems:
            raise Invalid("; ".join(problems[:20]))
        return rows, value, classes

    def _step(
        self,
        s: Session,
        order: PurchaseOrder,
        action: str,
        actor: str,
        now: datetime,
        *,
        level: str = "",
        comment: str = "",
    ) -> None:
        order.updated_at = now
        s.add(
            PurchaseOrderStep(
                order_id=order.id,
                action=action,
                status=order.status,
                actor=actor,
                at=now,
                level=level,
                comment=comment[:2000],
            )
        )

    def _next(self, order: PurchaseOrder, action: PoAction, **facts: Any) -> PoStatus:
        try:
            return po_after(PoStatus(order.status), action, **facts)
        except PoStatusRefused as exc:
            raise Conflict(f"{po_number(order.id)}: {exc}") from None

    # --- reading --------------------------------------------------------------------------
    def _load_order(
        self, s: Session, who: Principal, order_id: int, lock: bool = True
    ) -> PurchaseOrder:
        """The order if the user may see it: a supplier's user their supplier's sent orders
        (any other does not exist for them), purchasing and storekeepers (and readers) those
        delivered into their scope."""
        order = s.get(PurchaseOrder, order_id, with_for_update=lock and self._pg)
        if order is None:
            raise NotFound(f"no purchase order {po_number(order_id)}")
        if not self._sees(s, who, order):
            if who.role == Role.SUPPLIER:  # another supplier's order, or one not yet sent
                raise NotFound(f"no purchase order {po_number(order_id)}")
            raise Forbidden(f"{po_number(order_id)} is outside your scope")
        return order

    def _sees(self, s: Session, who: Principal, order: PurchaseOrder) -> bool:
        if who.role == Role.SUPPLIER:
            return who.supplier == order.supplier and order.sent_at is not None
        if not who.may(Permission.READ):
            return False
        dest = s.get(Location, order.location_id)
        return dest is not None and who.covers(dest.code, dest.department)

    def purchase_order(self, who: Principal, order_id: int) -> dict[str, Any]:
        with self.session() as s:
            return self._order_dict(s, self._load_order(s, who, order_id, lock=False), who)

    def purchase_orders(
        self,
        who: Principal,
        *,
        status: str | None = None,
        supplier: str | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        """The orders the user may see, open ones first, newest first."""
        if not (who.may(Permission.READ) or who.may(Permission.SUPPLY)):
            raise Forbidden(f"the {who.role} role may not read purchase orders")
        with self.session() as s:
            q = select(PurchaseOrder).order_by(PurchaseOrder.id.desc()).limit(limit * 5)
            if who.role == Role.SUPPLIER:
                q = q.where(PurchaseOrder.supplier == (who.supplier or ""))
            elif supplier:
                q = q.where(PurchaseOrder.supplier == supplier)
            if status:
                q = q.where(PurchaseOrder.status == status)
            found = [o for o in s.scalars(q) if self._sees(s, who, o)][:limit]
            found.sort(key=lambda o: o.status not in OPEN_ORDERS)
            return [self._order_summary(s, o) for o in found]

    def _order_summary(self, s: Session, order: PurchaseOrder) -> dict[str, Any]:
        sup = s.get(Supplier, order.supplier)
        loc = s.get(Location, order.location_id)
        pending = pending_levels(order) if order.status == PoStatus.DRAFT else []
        return {
            "id": order.id,
            "number": po_number(order.id),
            "status": order.status,
            "supplier": order.supplier,
            "supplier_name": sup.name if sup else "",
            "location": loc.code if loc else "",
            "value": None if order.value is None else str(order.value),
            "note": order.note,
            "created_by": order.created_by,
            "waiting_for": [{"level": lvl.name, "role": lvl.role} for lvl in pending[:1]],
            "created_at": iso(order.created_at),
            "updated_at": iso(order.updated_at),
            "sent_at": iso(order.sent_at),
            "delivery_date": order.delivery_date.isoformat() if order.delivery_date else None,
            "received_at": iso(order.received_at),
        }

    def _order_dict(self, s: Session, order: PurchaseOrder, who: Principal) -> dict[str, Any]:
        lines = s.scalars(
            select(PurchaseOrderLine)
            .where(PurchaseOrderLine.order_id == order.id)
            .order_by(PurchaseOrderLine.id)
        ).all()
        names = dict(
            s.execute(
                select(Product.gtin, Product.name).where(
                    Product.gtin.in_([ln.gtin for ln in lines])
                )
            ).all()
        )
        refs = dict(
            s.execute(
                select(SupplierProduct.gtin, SupplierProduct.reference).where(
                    SupplierProduct.supplier == order.supplier
                )
            ).all()
        )
        steps = s.scalars(
            select(PurchaseOrderStep)
            .where(PurchaseOrderStep.order_id == order.id)
            .order_by(PurchaseOrderStep.id)
        ).all()
        notices = s.scalars(
            select(ShipNotice).where(ShipNotice.order_id == order.id).order_by(ShipNotice.id)
        ).all()
        variances = s.scalars(
            select(PurchaseVariance)
            .where(PurchaseVariance.order_id == order.id)
            .order_by(PurchaseVariance.id)
        ).all()
        hospital_only = who.role != Role.SUPPLIER
        return self._order_summary(s, order) | {
            "lines": [
                {
                    "id": ln.id,
                    "gtin": ln.gtin,
                    "name": names.get(ln.gtin, ""),
                    "reference": refs.get(ln.gtin, ""),
                    "order_units": ln.order_units,
                    "quantity": ln.quantity,
                    "unit_price": None if ln.unit_price is None else str(ln.unit_price),
                    "received": ln.received,
                    "open": max(ln.quantity - ln.received, 0),
                }
                for ln in lines
            ],
            "ship_notices": [self._notice_dict(s, n) for n in notices],
            "variances": [
                {
                    "receipt": v.receipt,
                    "gtin": v.gtin,
                    "kind": v.kind,
                    "expected": v.expected,
                    "got": v.got,
                    "needs_acceptance": v.needs_acceptance,
                    "accepted_by": v.accepted_by,
                    "at": iso(v.at),
                }
                for v in variances
            ],
            "history": [
                {
                    "action": st.action,
                    "status": st.status,
                    "actor": st.actor,
                    "at": iso(st.at),
                    "level": st.level,
                    "comment": st.comment,
                }
                for st in steps
                if hospital_only
                or st.action in ("send", "confirm", "ship", "receive", "close", "cancel")
            ],
        }

    def _notice_dict(self, s: Session, n: ShipNotice) -> dict[str, Any]:
        lines = s.scalars(
            select(ShipNoticeLine)
            .where(ShipNoticeLine.notice_id == n.id)
            .order_by(ShipNoticeLine.id)
        ).all()
        return {
            "id": n.id,
            "number": n.number,
            "sscc": n.sscc,
            "expected_on": n.expected_on.isoformat() if n.expected_on else None,
            "created_by": n.created_by,
            "created_at": iso(n.created_at),
            "received_at": iso(n.received_at),
            "receipt": n.receipt,
            "lines": [
                {
                    "gtin": ln.gtin,
                    "lot": ln.lot,
                    "expiry": ln.expiry.isoformat(),
                    "quantity": ln.quantity,
                    "serials": [x for x in ln.serials.split(",") if x],
                }
                for ln in lines
            ],
        }

    # --- deciding -------------------------------------------------------------------------
    def approve_purchase_order(
        self, who: Principal, order_id: int, comment: str = ""
    ) -> dict[str, Any]:
        """One approval: the first waiting level, by a user of its role (an admin may act
        for any level); never by whoever made the order."""
        now = self.clock.now()
        with self.transaction() as s:
            order = self._load_order(s, who, order_id)
            if not who.may(Permission.APPROVE):
                raise Forbidden(f"the {who.role} role may not approve purchase orders")
            if who.user == order.created_by:
                raise Forbidden("nobody may approve a purchase order they made")
            waiting = pending_levels(order)
            status = self._next(order, PoAction.APPROVE, levels_left=len(waiting))
            level = waiting[0] if waiting else None
            if level is not None and who.role not in (Role(level.role), Role.ADMIN):
                raise Forbidden(
                    f"{po_number(order.id)} waits for the {level.name} level (role {level.role})"
                )
            if level is not None:
                order.approved = ",".join(filter(None, [order.approved, level.name]))
            order.status = status
            self._step(
                s,
                order,
                "approve",
                who.user,
                now,
                level=level.name if level else "",
                comment=comment,
            )
        return self.purchase_order(who, order_id)

    def mark_purchase_order_sent(
        self, who: Principal, order_id: int, channels: list[str]
    ) -> dict[str, Any]:
        """Record that the order left (after the e-mail or FHIR post went through, or after
        purchasing downloaded it to send by hand): `channels` say how."""
        now = self.clock.now()
        with self.transaction() as s:
            order = self._load_order(s, who, order_id)
            if not who.may(Permission.PURCHASE):
                raise Forbidden(f"the {who.role} role may not send purchase orders")
            order.status = self._next(order, PoAction.SEND)
            order.sent_at = now
            self._step(s, order, "send", who.user, now, comment=", ".join(channels))
        return self.purchase_order(who, order_id)

    def confirm_purchase_order(
        self, who: Principal, order_id: int, delivery_date: date, comment: str = ""
    ) -> dict[str, Any]:
        """The supplier's delivery date: from its user in the portal, or from purchasing on
        its word. A later confirmation moves the date (both are kept)."""
        now = self.clock.now()
        with self.transaction() as s:
            order = self._load_order(s, who, order_id)
            if not (who.may(Permission.SUPPLY) or who.may(Permission.PURCHASE)):
                raise Forbidden(f"the {who.role} role may not confirm purchase orders")
            sent = order.sent_at.date() if order.sent_at else now.date()
            if delivery_date < sent:
                raise Invalid(f"delivery_date: {delivery_date} is before the order was sent")
            order.status = self._next(order, PoAction.CONFIRM)
            order.delivery_date = delivery_date
            self._step(
                s,
                order,
                "confirm",
                who.user,
                now,
                comment=f"delivery {delivery_date.isoformat()}"
                + (f": {comment}" if comment else ""),
            )
        return self.purchase_order(who, order_id)

    def end_purchase_order(
        self, who: Principal, order_id: int, action: PoAction, reason: str
    ) -> dict[str, Any]:
        """Cancel (nothing received yet) or close (the rest will not come), with a reason."""
        if action not in (PoAction.CANCEL, PoAction.CLOSE):
            raise Invalid("action: cancel or close")
        if not reason.strip():
            raise Invalid("reason: say why the order ends")
        now = self.clock.now()
        with self.transaction() as s:
            order = self._load_order(s, who, order_id)
            if not who.may(Permission.PURCHASE):
                raise Forbidden(f"the {who.role} role may not {action} purchase orders")
            order.status = self._next(order, action)
            self._step(s, order, str(action), who.user, now, comment=reason)
        return self.purchase_order(who, order_id)
