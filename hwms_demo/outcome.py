"""How the day ended (stock, open alerts, transport orders, requisitions, purchase orders,
replenishment proposals) against what the script expects."""

from __future__ import annotations

import re
from typing import Any, TextIO

from hwms_demo.day import Day


def outcome(db_url: str, day: Day) -> dict[str, list[list[Any]]]:
    """Stock, open alerts, transport orders and requisitions in the day's own terms (names,
    not ids)."""
    from sqlalchemy import select

    from central import alerts, db
    from central.ledger import Ledger
    from central.models import (
        Batch,
        Location,
        PurchaseOrder,
        PurchaseOrderLine,
        ReplenishmentProposal,
        Requisition,
        RequisitionLine,
        TransportOrder,
    )

    lg = Ledger(db.engine(db_url))
    prefix = f"{day.site}/"

    def loc(code: str) -> str:
        return code.removeprefix(prefix)

    stock = sorted(
        [loc(r["location"]), day.names.get(r["gtin"], r["gtin"]), r["lot"], r["quantity"]]
        for r in lg.stock()
    )
    with lg.session() as s:
        codes = dict(s.execute(select(Location.id, Location.code)).all())
        batches = {b.id: b for b in s.scalars(select(Batch))}

        def subject(kind: str, key: str, message: str) -> str:
            left, _, right = key.partition("@")
            if kind in ("expiry", "expired"):
                b = batches[int(left)]
                return f"{day.names.get(b.gtin, b.gtin)} {b.lot} @ {loc(codes[int(right)])}"
            if kind in ("low_stock", "stockout", "overstock"):
                return f"{day.names.get(left, left)} @ {loc(codes[int(right)])}"
            if kind == "recall":
                b = batches[int(key)]
                return f"{day.names.get(b.gtin, b.gtin)} {b.lot}"
            if kind == "locked_batch_moved":
                m = re.search(r"batch (\d{14}) lot (\S+)", message)
                return f"{day.names.get(m[1], m[1])} {m[2]}" if m else message
            if kind == "coldchain":
                return " ".join(key.split("/")[1:])
            return key.removeprefix(prefix) if "/" in key else message

        open_alerts = sorted(
            [a.kind, a.severity, subject(a.kind, a.key, a.message)] for a in alerts.open_alerts(s)
        )
        orders = sorted(
            [loc(o.source), loc(o.destination), day.names.get(o.gtin, o.gtin), o.quantity, o.state]
            for o in s.scalars(select(TransportOrder))
        )
        requisitions = sorted(
            [loc(codes[r.to_location_id]), day.names.get(ln.gtin, ln.gtin), ln.quantity,
             r.requester, r.status]
            for r, ln in s.execute(select(Requisition, RequisitionLine).join(
                RequisitionLine, RequisitionLine.requisition_id == Requisition.id))
        )  # fmt: skip
        purchase_orders = sorted(
            [o.supplier, loc(codes[o.location_id]), day.names.get(ln.gtin, ln.gtin), ln.quantity,
             ln.received, o.status]
            for o, ln in s.execute(select(PurchaseOrder, PurchaseOrderLine).join(
                PurchaseOrderLine, PurchaseOrderLine.order_id == PurchaseOrder.id))
        )  # fmt: skip
        proposals = sorted(
            [loc(codes[p.location_id]), day.names.get(p.gtin, p.gtin), p.status]
            for p in s.scalars(select(ReplenishmentProposal))
        )
    return {"stock": stock, "open_alerts": open_alerts, "transport_orders": orders,
            "requisitions": requisitions, "purchase_orders": purchase_orders,
            "proposals": proposals}  # fmt: skip


PARTS = ("stock", "open_alerts", "transport_orders", "requisitions", "purchase_orders",
         "proposals", "fhir_pushed")  # fmt: skip


def resolve(expected: dict[str, Any], ordered: int) -> dict[str, Any]:
    """The script's expectations with `ordered` (the overnight proposal's order quantity,
    known only once the ledger forecast it) as the number."""
    return {part: [[ordered if x == "ordered" else x for x in row] for row in rows]
            for part, rows in expected.items()}  # fmt: skip


def compare(got: dict[str, list[list[Any]]], expected: dict[str, Any]) -> list[str]:
    problems = []
    for part in PARTS:
        want = sorted(list(x) for x in expected.get(part, []))
        have = got[part]
        for x in want:
            if x not in have:
                problems.append(f"{part}: missing {x}")
        for x in have:
            if x not in want:
                problems.append(f"{part}: unexpected {x}")
    return problems


def summary(out: TextIO, got: dict[str, list[list[Any]]], problems: list[str]) -> None:
    w = out.write
    w("\nEnd of the day.\nStock:\n")
    for loc, product, lot, qty in got["stock"]:
        w(f"  {loc:<15} {product:<10} {lot or '(no lot)':<8} {qty:>4}\n")
    w("Open alerts:\n")
    for kind, severity, subject in got["open_alerts"]:
        w(f"  {severity:<8} {kind:<19} {subject}\n")
    w("Transport orders:\n")
    for src, dst, product, qty, state in got["transport_orders"]:
        w(f"  {src} -> {dst}: {qty} x {product} ({state})\n")
    w("Requisitions:\n")
    for dst, product, qty, requester, status in got["requisitions"]:
        w(f"  {requester} -> {dst}: {qty} x {product} ({status})\n")
    w("Purchase orders:\n")
    for supplier, dst, product, qty, received, status in got["purchase_orders"]:
        w(f"  {supplier} -> {dst}: {qty} x {product}, {received} received ({status})\n")
    w("FHIR resources the HIS received:\n")
    for kind, rid, status in got.get("fhir_pushed", []):
        w(f"  {kind}/{rid} ({status})\n")
    w("Replenishment proposals:\n")
    for where, product, status in got["proposals"]:
        w(f"  {product} @ {where}: {status}\n")
    if problems:
        w("The day did NOT end as expected:\n" + "".join(f"  {p}\n" for p in problems))
    else:
        w("The day ended exactly as expected.\n")
