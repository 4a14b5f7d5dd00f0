"""Replenishment proposals: new min/max levels (and, below the new minimum, an order) from
each location's own consumption, its forecast and error, and the lead time that supplies
it. A person accepts (possibly edited) or rejects each one; nothing changes by itself.

- Demand per (location, product) and day: what it consumed (cabinet takes and dispensing
  scans, less returns) and what it issued to others (a store's issues to wards).
- A store (a location that no `supply` entry supplies) orders from the supplier that sells
  the product cheapest; its lead time is the one measured from that supplier's deliveries
  (`supplier_kpis`), or the one it quotes while none is measured. A ward is supplied by its
  store within `internal_lead_time_days`.
- An accepted proposal writes the stock limit (the low-stock alerts and the automatic
  requisitions of wards follow it) and, for a store, a draft purchase order of the order
  quantity in the supplier's packs, to be approved like any other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.accounts import Principal
from central.errors import Conflict, Forbidden, Invalid, NotFound
from central.ledger.base import iso
from central.ledger.po_receiving import PoReceiving
from central.ledger.purchasing import OPEN_ORDERS, OrderLineIn
from central.models import (
    Batch,
    Location,
    Movement,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    ReplenishmentProposal,
    Stock,
    StockLimit,
    SupplierProduct,
)
from central.planning.forecast import forecast_all
from central.planning.history import DailySeries, SeriesKey, daily_series
from central.planning.policy import LeadTime, reorder_policy
from central.vocab import Permission

CONSUMED = ("cabinet_take", "dispense", "issue")  # leaving the location to be used or issued
RETURNED = ("cabinet_return", "return")
INTERNAL_LEAD_TIME_DAYS = 1.0
MIN_HISTORY_DAYS = 28


@dataclass(frozen=True, slots=True)
class ProposalEdit:
    """What the person accepts: the proposal as it is, or with other levels or quantity."""

    minimum: int | None = None
    maximum: int | None = None
    order_quantity: int | None = None


class Proposals(PoReceiving):
    # --- demand ---------------------------------------------------------------------------
    def consumption_history(
        self, s: Session, since: date, until: date
    ) -> dict[SeriesKey, DailySeries]:
        """Daily demand per (location code, gtin) from `since` to `until` (inclusive)."""
        start = datetime.combine(since, datetime.min.time(), UTC)
        end = datetime.combine(until + timedelta(days=1), datetime.min.time(), UTC)
        codes = dict(s.execute(select(Location.id, Location.code)).all())
        day = func.date(Movement.occurred_at)
        facts: list[tuple[date, SeriesKey, float]] = []
        for kinds, column, sign in (
            (CONSUMED, Movement.from_location_id, 1.0),
            (RETURNED, Movement.to_location_id, -1.0),
        ):
            rows = s.execute(
                select(day, column, Batch.gtin, func.sum(Movement.quantity))
                .join(Batch, Batch.id == Movement.batch_id)
                .where(
                    Movement.kind.in_(kinds),
                    Movement.occurred_at >= start,
                    Movement.occurred_at < end,
                    column.is_not(None),
                )
                .group_by(day, column, Batch.gtin)
            )
            for raw, loc, gtin, qty in rows:  # SQLite answers text, PostgreSQL a date
                when = raw if isinstance(raw, date) else date.fromisoformat(str(raw)[:10])
                if gtin and loc in codes:
                    facts.append((when, (codes[loc], gtin), sign * float(qty)))
        return daily_series(facts, end=until)

    # --- proposing ------------------------------------------------------------------------
    def propose_replenishment(self, today: date | None = None) -> int:
        """New proposals for every (location, product) with a limit or a history long enough
        to forecast; an open proposal of the same pair is replaced. Returns how many."""
        from central.supplier_kpis import measured_lead_times

        rules = self.purchasing_rules
        today = today or self.clock.today()
        since = today - timedelta(days=rules.forecast_history_days)
        now = self.clock.now()
        with self.session() as s:
            history = {
                k: v
                for k, v in self.consumption_history(s, since, today - timedelta(days=1)).items()
                if len(v.values) >= MIN_HISTORY_DAYS
            }
            measured = measured_lead_times(
                s, datetime.combine(since, datetime.min.time(), UTC), now
            )
        if not history:
            return 0
        horizon = rules.review_days + 14  # the demand of a review period and a lead time
        forecasts = forecast_all(history, horizon, holidays=rules.holidays)
        made = 0
        with self.transaction() as s:
            ids: dict[str, int] = dict(s.execute(select(Location.code, Location.id)).tuples().all())
            offers = _cheapest_offers(s)
            for (code, gtin), f in sorted(forecasts.items()):
                loc_id = ids.get(code)
                product = s.get(Product, gtin)
                if loc_id is None or product is None:
                    continue
                external = code not in self.supply
                offer = offers.get(gtin) if external else None
                if external and offer is None:
                    continue  # nobody sells it: nothing to order, levels stay by hand
                lead = (
                    self._lead_time(offer, measured)
                    if external
                    else LeadTime(INTERNAL_LEAD_TIME_DAYS)
                )
                level = rules.service_level(product.classes())
                policy = reorder_policy(f, lead, level, rules.review_days)
                limit = s.get(StockLimit, (loc_id, gtin))
                position = self._position(s, loc_id, gtin)
                order = max(policy.maximum - position, 0) if position <= policy.minimum else 0
                if external and order and offer is not None:
                    units = max(math.ceil(order / offer.pack), offer.min_order)
                    order = units * offer.pack
                same = limit is not None and (limit.min_quantity, limit.max_quantity) == (
                    policy.minimum,
                    policy.maximum,
                )
                if same and not order:
                    continue
                for old in s.scalars(
                    select(ReplenishmentProposal).where(
                        ReplenishmentProposal.location_id == loc_id,
                        ReplenishmentProposal.gtin == gtin,
                        ReplenishmentProposal.status == "open",
                    )
                ):
                    old.status = "superseded"
                s.add(
                    ReplenishmentProposal(
                        location_id=loc_id,
                        gtin=gtin,
                        status="open",
                        current_min=limit.min_quantity if limit else None,
                        current_max=limit.max_quantity if limit else None,
                        proposed_min=policy.minimum,
                        proposed_max=policy.maximum,
                        on_hand=position,
                        order_quantity=order,
                        supplier=offer.supplier if offer else None,
                        daily_demand=policy.daily_demand,
                        method=f.method,
                        backtest_mae=f.mae,
                        lead_time_days=lead.mean_days,
                        lead_time_measured=lead.measured,
                        service_level=level,
                        created_at=now,
                        comment="",
                    )
                )
                made += 1
        return made

    def _lead_time(
        self, offer: SupplierProduct | None, measured: dict[tuple[str, str], LeadTime]
    ) -> LeadTime:
        if offer is None:
            return LeadTime(INTERNAL_LEAD_TIME_DAYS)
        found = measured.get((offer.supplier, offer.gtin))
        if found is not None:
            return found
        return LeadTime(float(offer.lead_time_days or 7))  # quoted (7 days if not quoted)

    def _position(self, s: Session, loc_id: int, gtin: str) -> int:
        """Stock at the location plus what is on order for it (open purchase orders)."""
        stock = (
            s.scalar(
                select(func.coalesce(func.sum(Stock.quantity), 0))
                .join(Batch, Batch.id == Stock.batch_id)
                .where(Stock.location_id == loc_id, Batch.gtin == gtin)
            )
            or 0
        )
        on_order = (
            s.scalar(
                select(
                    func.coalesce(
                        func.sum(PurchaseOrderLine.quantity - PurchaseOrderLine.received), 0
                    )
                )
                .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.order_id)
                .where(
                    PurchaseOrder.location_id == loc_id,
                    PurchaseOrderLine.gtin == gtin,
                    PurchaseOrder.status.in_(OPEN_ORDERS),
                )
            )
            or 0
        )
        return int(stock) + max(int(on_order), 0)

    # --- reading and deciding -------------------------------------------------------------
    def proposals(self, who: Principal, status: str = "open") -> list[dict[str, Any]]:
        if not (who.may(Permission.PURCHASE) or who.may(Permission.ISSUE)):
            raise Forbidden(f"the {who.role} role may not see replenishment proposals")
        with self.session() as s:
            rows = s.execute(
                select(ReplenishmentProposal, Location.code, Location.department, Product.name)
                .join(Location, Location.id == ReplenishmentProposal.location_id)
                .join(Product, Product.gtin == ReplenishmentProposal.gtin, isouter=True)
                .where(ReplenishmentProposal.status == status)
                .order_by(Location.code, ReplenishmentProposal.gtin)
            ).all()
            return [
                _proposal_dict(p, code, name)
                for p, code, dept, name in rows
                if who.covers(code, dept)
            ]

    def decide_proposal(
        self,
        who: Principal,
        proposal_id: int,
        *,
        accept: bool,
        edit: ProposalEdit | None = None,
        comment: str = "",
    ) -> dict[str, Any]:
        """Accept (as proposed or edited: then `edited`) or reject a proposal. Accepting a
        store's order makes a draft purchase order (purchasing only)."""
        edit = edit or ProposalEdit()
        now = self.clock.now()
        order_id = None
        with self.transaction() as s:
            p = s.get(ReplenishmentProposal, proposal_id, with_for_update=self._pg)
            if p is None:
                raise NotFound(f"no proposal {proposal_id}")
            loc = s.get(Location, p.location_id)
            assert loc is not None
            if not (who.may(Permission.PURCHASE) or who.may(Permission.ISSUE)):
                raise Forbidden(f"the {who.role} role may not decide replenishment proposals")
            if not who.covers(loc.code, loc.department):
                raise Forbidden(f"{loc.code} is outside your scope")
            if p.status != "open":
                raise Conflict(f"proposal {proposal_id} is {p.status}")
            low = p.proposed_min if edit.minimum is None else edit.minimum
            high = p.proposed_max if edit.maximum is None else edit.maximum
            qty = p.order_quantity if edit.order_quantity is None else edit.order_quantity
            if not 0 <= low <= high <= 10_000_000 or not 0 <= qty <= 10_000_000:
                raise Invalid("min, max and order quantity: 0 <= min <= max, quantity >= 0")
            p.decided_by, p.decided_at, p.comment = who.user, now, comment[:2000]
            if not accept:
                p.status = "rejected"
            else:
                edited = (low, high, qty) != (p.proposed_min, p.proposed_max, p.order_quantity)
                p.status = "edited" if edited else "accepted"
                limit = s.get(StockLimit, (p.location_id, p.gtin)) or StockLimit(
                    location_id=p.location_id, gtin=p.gtin
                )
                limit.min_quantity, limit.max_quantity = low, high
                limit.changes = (limit.changes or 0) + 1  # the alert pass evaluates it again
                s.add(limit)
                if qty and p.supplier:
                    if not who.may(Permission.PURCHASE):
                        raise Forbidden("an order to a supplier needs the purchasing role")
                    offer = s.get(SupplierProduct, (p.supplier, p.gtin))
                    pack = offer.pack if offer else 1
                    least = offer.min_order if offer else 1
                    supplier, units, code = p.supplier, max(math.ceil(qty / pack), least), loc.code
        if accept and qty and p.supplier:
            order = self.new_purchase_order(
                who,
                supplier=supplier,
                location=code,
                lines=[OrderLineIn(p.gtin, units)],
                note=f"replenishment proposal {proposal_id}",
            )
            order_id = order["id"]
            with self.transaction() as s:
                stored = s.get(ReplenishmentProposal, proposal_id)
                assert stored is not None
                stored.purchase_order_id = order_id
        with self.session() as s:
            row = s.execute(
                select(ReplenishmentProposal, Location.code, Product.name)
                .join(Location, Location.id == ReplenishmentProposal.location_id)
                .join(Product, Product.gtin == ReplenishmentProposal.gtin, isouter=True)
                .where(ReplenishmentProposal.id == proposal_id)
            ).one()
            return _proposal_dict(row[0], row[1], row[2])


def _cheapest_offers(s: Session) -> dict[str, SupplierProduct]:
    best: dict[str, SupplierProduct] = {}
    for offer in s.scalars(select(SupplierProduct).order_by(SupplierProduct.supplier)):
        known = best.get(offer.gtin)
        price = offer.unit_price if offer.unit_price is not None else math.inf
        if known is None or price < (
            known.unit_price if known.unit_price is not None else math.inf
        ):
            best[offer.gtin] = offer
    return best


def _proposal_dict(p: ReplenishmentProposal, code: str, name: str | None) -> dict[str, Any]:
    return {
        "id": p.id,
        "location": code,
        "gtin": p.gtin,
        "name": name or "",
        "status": p.status,
        "current_min": p.current_min,
        "current_max": p.current_max,
        "proposed_min": p.proposed_min,
        "proposed_max": p.proposed_max,
        "on_hand": p.on_hand,
        "order_quantity": p.order_quantity,
        "supplier": p.supplier,
        "daily_demand": round(p.daily_demand, 3),
        "method": p.method,
        "backtest_mae": None if p.backtest_mae is None else round(p.backtest_mae, 3),
        "lead_time_days": round(p.lead_time_days, 2),
        "lead_time_measured": p.lead_time_measured,
        "service_level": p.service_level,
        "created_at": iso(p.created_at),
        "decided_by": p.decided_by,
        "decided_at": iso(p.decided_at),
        "comment": p.comment,
        "purchase_order_id": p.purchase_order_id,
    }
