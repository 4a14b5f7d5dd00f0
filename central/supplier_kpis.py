"""Supplier KPIs, measured from the ledger rather than reported by the supplier.

For the purchase orders sent in a period, per supplier and per (supplier, product):
- lead time: from the order's `sent` to its first delivery (the receipt's time: for a
  delivery booked at the receiving gate, when its last tag was read), in days, mean and
  standard deviation;
- on time: the first delivery by the day the supplier confirmed (without a confirmation, by
  the lead time it quotes for the products); in full: the first delivery brought every line
  (per product: that line) complete; OTIF: both;
- variance rate: the share of deliveries (receipts) with a quantity, lot, expiry, price or
  product difference, in all and per kind.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.clock import as_utc
from central.models import (
    Batch,
    Movement,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseVariance,
    Receipt,
    Supplier,
    SupplierProduct,
)
from central.planning.policy import LeadTime

VARIANCE_KINDS = ("quantity", "lot", "expiry", "price", "shelf_life", "product")


@dataclass
class _Tally:
    lead_days: list[float] = field(default_factory=list)
    delivered: int = 0  # orders (or lines) with a first delivery
    on_time: int = 0
    in_full: int = 0
    otif: int = 0
    receipts: set[str] = field(default_factory=set)
    with_variance: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def add(self, lead: float, on_time: bool, in_full: bool) -> None:
        self.lead_days.append(lead)
        self.delivered += 1
        self.on_time += on_time
        self.in_full += in_full
        self.otif += on_time and in_full

    def figures(self, orders: int) -> dict[str, Any]:
        lead = self.lead_days
        varied = set().union(*self.with_variance.values()) if self.with_variance else set()
        receipts = len(self.receipts)
        return {
            "orders": orders,
            "delivered": self.delivered,
            "lead_time_days_mean": round(statistics.fmean(lead), 2) if lead else None,
            "lead_time_days_sd": round(statistics.stdev(lead), 2) if len(lead) > 1 else None,
            "on_time_rate": _rate(self.on_time, self.delivered),
            "in_full_rate": _rate(self.in_full, self.delivered),
            "otif_rate": _rate(self.otif, self.delivered),
            "receipts": receipts,
            "variance_rate": _rate(len(varied), receipts),
            "variance_rate_by_kind": {
                k: _rate(len(self.with_variance.get(k, ())), receipts) for k in VARIANCE_KINDS
            },
        }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _aware(at: datetime) -> datetime:
    aware = as_utc(at)
    assert aware is not None
    return aware


def supplier_kpis(s: Session, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per supplier (with its products under `products`), for orders sent in [start, end)."""
    orders = list(s.scalars(select(PurchaseOrder).where(
        PurchaseOrder.sent_at >= start, PurchaseOrder.sent_at < end)))  # fmt: skip
    ids = [o.id for o in orders]
    lines: dict[int, list[PurchaseOrderLine]] = defaultdict(list)
    for ln in s.scalars(select(PurchaseOrderLine).where(PurchaseOrderLine.order_id.in_(ids))):
        lines[ln.order_id].append(ln)
    receipts: dict[int, list[Receipt]] = defaultdict(list)
    for r in s.scalars(select(Receipt).where(Receipt.purchase_order_id.in_(ids))
                       .order_by(Receipt.received_at)):  # fmt: skip
        assert r.purchase_order_id is not None
        receipts[r.purchase_order_id].append(r)
    numbers = [r.number for rs in receipts.values() for r in rs]
    delivered = _delivered(s, numbers)
    varied: dict[str, list[tuple[str, str]]] = defaultdict(list)  # receipt -> (gtin, kind)
    for number, gtin, kind in s.execute(select(PurchaseVariance.receipt, PurchaseVariance.gtin,
                                               PurchaseVariance.kind)
                                        .where(PurchaseVariance.order_id.in_(ids))):  # fmt: skip
        varied[number].append((gtin, kind))
    quoted = {
        (sp.supplier, sp.gtin): sp.lead_time_days for sp in s.scalars(select(SupplierProduct))
    }
    names = dict(s.execute(select(Supplier.code, Supplier.name)).all())
    products = dict(s.execute(select(Product.gtin, Product.name)).all())
    per_supplier: dict[str, _Tally] = defaultdict(_Tally)
    per_product: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    counts: dict[str, int] = defaultdict(int)
    line_counts: dict[tuple[str, str], int] = defaultdict(int)
    for order in orders:
        counts[order.supplier] += 1
        for ln in lines[order.id]:
            line_counts[(order.supplier, ln.gtin)] += 1
        got = receipts.get(order.id)
        if not got or order.sent_at is None:
            continue
        sent = _aware(order.sent_at)
        promised = order.delivery_date or _quoted_day(sent, [
            quoted.get((order.supplier, ln.gtin)) for ln in lines[order.id]])  # fmt: skip
        tally = per_supplier[order.supplier]
        for r in got:
            tally.receipts.add(r.number)
            for gtin, kind in varied.get(r.number, []):
                tally.with_variance[kind].add(r.number)
                per_product[(order.supplier, gtin)].with_variance[kind].add(r.number)
        first = got[0]
        arrived = _aware(first.received_at)
        lead = (arrived - sent).total_seconds() / 86400
        on_time = promised is None or arrived.date() <= promised
        first_qty = delivered.get(first.number, {})
        complete = all(first_qty.get(ln.gtin, 0) >= ln.quantity for ln in lines[order.id])
        tally.add(lead, on_time, complete)
        for ln in lines[order.id]:
            product = per_product[(order.supplier, ln.gtin)]
            for r in got:
                if delivered.get(r.number, {}).get(ln.gtin):
                    product.receipts.add(r.number)
            first_line = next((r for r in got if delivered.get(r.number, {}).get(ln.gtin)), None)
            if first_line is None:
                continue
            line_arrived = _aware(first_line.received_at)
            product.add((line_arrived - sent).total_seconds() / 86400,
                        promised is None or line_arrived.date() <= promised,
                        delivered[first_line.number].get(ln.gtin, 0) >= ln.quantity)  # fmt: skip
    out = []
    for code in sorted(counts):
        row = {"supplier": code, "name": names.get(code, "")} | per_supplier[code].figures(
            counts[code]
        )
        row["products"] = [
            {"gtin": gtin, "name": products.get(gtin, "")} | per_product[(sup, gtin)].figures(n)
            for (sup, gtin), n in sorted(line_counts.items()) if sup == code
        ]  # fmt: skip
        out.append(row)
    return out


def _quoted_day(sent: datetime, days: list[int | None]) -> date | None:
    """Without a confirmed date: the latest lead time the supplier quotes for the lines."""
    known = [d for d in days if d is not None]
    return (sent + timedelta(days=max(known))).date() if known else None


def _delivered(s: Session, numbers: list[str]) -> dict[str, dict[str, int]]:
    """receipt -> gtin -> eaches it brought (its receiving movements)."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    reasons = {f"receipt {n}{tail}": n for n in numbers for tail in ("", " (untagged)")}
    for i in range(0, len(reasons), 5000):
        chunk = list(reasons)[i : i + 5000]
        for reason, gtin, qty in s.execute(
            select(Movement.reason, Batch.gtin, Movement.quantity)
            .join(Batch, Batch.id == Movement.batch_id)
            .where(Movement.kind == "receiving", Movement.reason.in_(chunk))
        ):
            out[reasons[reason]][gtin] += int(qty)
    return out


def measured_lead_times(
    s: Session, since: datetime, until: datetime
) -> dict[tuple[str, str], LeadTime]:
    """(supplier, gtin) -> the lead time its orders of the product sent in the window took
    (mean and standard deviation), for reorder policies; absent while none was delivered."""
    out = {}
    for row in supplier_kpis(s, since, until):
        for product in row["products"]:
            if product["lead_time_days_mean"] is not None:
                out[(row["supplier"], product["gtin"])] = LeadTime(
                    product["lead_time_days_mean"],
                    product["lead_time_days_sd"] or 0.0,
                    measured=True,
                )
    return out
