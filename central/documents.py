"""Printed documents: a receipt's goods-received note and the pick list of the open
transport orders (what to take from which store for which ward, oldest expiry first)."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.errors import NotFound
from central.models import Batch, Location, Movement, Product, Receipt, Stock, TransportOrder

OPEN_ORDERS = ("sent", "running")


def goods_received(s: Session, number: str) -> dict[str, Any]:
    """A receipt and its lines per batch and location (tagged and untagged items)."""
    receipt = s.get(Receipt, number)
    if receipt is None:
        raise NotFound(f"no receipt {number}")
    reasons = [f"{what} {number}{tail}" for what in ("receipt", "opening balance")
               for tail in ("", " (untagged)")]  # fmt: skip
    rows = s.execute(
        select(Location.code, Batch.gtin, Product.name, Batch.lot, Batch.expiry, Batch.supplier,
               func.sum(Movement.quantity))
        .join(Batch, Batch.id == Movement.batch_id)
        .join(Location, Location.id == Movement.to_location_id)
        .outerjoin(Product, Product.gtin == Batch.gtin)
        .where(Movement.recorded_at >= receipt.received_at,  # written in its transaction
               Movement.recorded_at < receipt.received_at + timedelta(minutes=10),
               Movement.reason.in_(reasons))
        .group_by(Location.code, Batch.gtin, Product.name, Batch.lot, Batch.expiry,
                  Batch.supplier)
        .order_by(Location.code, Batch.gtin, Batch.lot)
    ).all()  # fmt: skip
    lines = [{"location": code, "gtin": gtin, "product": name or "", "lot": lot,
              "expiry": expiry, "supplier": supplier, "quantity": int(qty)}
             for code, gtin, name, lot, expiry, supplier, qty in rows]  # fmt: skip
    return {"receipt": receipt, "lines": lines}


def pick_list(s: Session, sources: set[str] | None = None) -> list[dict[str, Any]]:
    """Per open transport order (oldest first): what to take, and from which batches of the
    source store, first expiring first (FEFO), as far as its stock covers the order."""
    query = select(TransportOrder).where(TransportOrder.state.in_(OPEN_ORDERS))
    if sources is not None:
        query = query.where(TransportOrder.source.in_(sources))
    orders = list(s.scalars(query.order_by(TransportOrder.created_at, TransportOrder.id)))
    names = dict(s.execute(select(Product.gtin, Product.name)).all())
    wanted = {(o.source, o.gtin) for o in orders}
    on_hand: dict[tuple[str, str], list[list[Any]]] = defaultdict(list)
    if wanted:
        for code, gtin, lot, expiry, qty in s.execute(
            select(Location.code, Batch.gtin, Batch.lot, Batch.expiry, Stock.quantity)
            .join(Location, Location.id == Stock.location_id)
            .join(Batch, Batch.id == Stock.batch_id)
            .where(Stock.quantity > 0, Location.code.in_({c for c, _ in wanted}),
                   Batch.gtin.in_({g for _, g in wanted}), Batch.locked.is_(False))
            .order_by(Batch.expiry.asc().nulls_last(), Batch.lot)
        ):  # fmt: skip
            on_hand[(code, gtin)].append([lot, expiry, qty])
    out = []
    for o in orders:
        left, picks = o.quantity, []
        for batch in on_hand[(o.source, o.gtin)]:
            if left <= 0:
                break
            take = min(left, batch[2])
            if take:
                picks.append({"lot": batch[0], "expiry": batch[1], "quantity": take})
                batch[2] -= take  # the next order picks from what is left
                left -= take
        out.append({"order": o.id, "source": o.source, "destination": o.destination,
                    "gtin": o.gtin, "product": names.get(o.gtin, ""), "quantity": o.quantity,
                    "created_at": o.created_at, "picks": picks, "short": left})  # fmt: skip
    return out
