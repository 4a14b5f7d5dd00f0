"""Getting data into the ledger: master data from CSV and commissioning from EPCIS 2.0.

Master data (all-or-nothing per file; existing rows are updated, nothing is deleted):
- products: gtin, name, unit, category, cold_chain_class, high_value, unit_price
- locations: code, name, kind, parent (a location code, or empty)
- departments: code, name
- users: id, name, badge, department
- limits: location, gtin, min, max, reorder (min/max stock per product and location; the
  location is created when new)

EPCIS: ObjectEvents with `action: ADD` and bizStep commissioning bind their `epcList` to the
lot and expiry of their `ilmd` (`cbvmda:lotNumber`, `cbvmda:itemExpirationDate`); the
result is ordinary receipt lines, booked by `Ledger.receive` with all its checks.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.clock import SYSTEM_CLOCK, Clock
from central.ledger import ReceiptError, ReceiptLine
from central.models import AppUser, AuditLog, Department, Location, Product, StockLimit
from rules.epc import gs1_check_digit
from rules.identity import ident_from_uri

COLUMNS = {
    "products": ("gtin", "name"),
    "locations": ("code", "name"),
    "departments": ("code", "name"),
    "users": ("id", "name"),
    "limits": ("location", "gtin", "min", "max"),
}
CBVMDA = "urn:epcglobal:cbv:mda:"


class MasterDataError(ValueError):
    """The file cannot be imported; the message lists every bad line."""


def import_master_data(
    s: Session, kind: str, text: str, actor: str = "import", *, clock: Clock = SYSTEM_CLOCK
) -> int:
    """Upsert the rows of one CSV file (and write who did it to the audit log); returns how
    many rows were imported."""
    if kind not in COLUMNS:
        raise MasterDataError(f"unknown master data {kind!r} (one of {', '.join(COLUMNS)})")
    reader = csv.DictReader(io.StringIO(text))
    missing = set(COLUMNS[kind]) - set(reader.fieldnames or [])
    if missing:
        raise MasterDataError(f"{kind}: CSV lacks columns {sorted(missing)}")
    rows = [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]
    problems: list[str] = []
    for i, row in enumerate(rows):
        problem = _check(s, kind, row, rows)
        if problem:
            problems.append(f"line {i + 2}: {problem}")
    if problems:
        raise MasterDataError(f"{kind}: " + "; ".join(problems))
    for row in rows:
        _upsert(s, kind, row)
        s.flush()
    s.add(AuditLog(at=clock.now(), actor=actor, action=f"import {kind}",
                   detail=f"{len(rows)} row(s)"))  # fmt: skip
    return len(rows)


def _check(s: Session, kind: str, row: dict[str, str], rows: list[dict[str, str]]) -> str:
    if kind == "products":
        g = row["gtin"].zfill(14)
        if len(g) != 14 or not g.isdigit() or gs1_check_digit(g[:13]) != g[13]:
            return f"GTIN {row['gtin']!r} is not a valid GTIN"
        if row.get("unit_price"):
            try:
                if Decimal(row["unit_price"]) < 0:
                    return "unit_price is negative"
            except InvalidOperation:
                return f"unit_price {row['unit_price']!r} is not a number"
    if kind == "locations" and row.get("parent"):
        in_file = any(r["code"] == row["parent"] for r in rows)
        if (
            not in_file
            and s.scalar(select(Location.id).where(Location.code == row["parent"])) is None
        ):
            return f"parent {row['parent']!r} is not a known location"
    if kind == "limits":
        try:
            low, high = int(row["min"]), int(row["max"])
            reorder = int(row["reorder"]) if row.get("reorder") else None
        except ValueError:
            return "min, max and reorder must be whole numbers"
        if not 0 <= low <= high or (reorder is not None and reorder < 1):
            return f"min {low} / max {high} / reorder {reorder} do not make sense"
        if "/" not in row["location"]:
            return f"location {row['location']!r} is not a site/zone code"
    if kind == "users" and row.get("department"):
        in_db = s.get(Department, row["department"]) is not None
        if not in_db:
            return f"department {row['department']!r} is not known (import departments first)"
    key = COLUMNS[kind][0]
    if not row.get(key):
        return f"{key} is empty"
    return ""


def _upsert(s: Session, kind: str, row: dict[str, str]) -> None:
    if kind == "products":
        gtin = row["gtin"].zfill(14)
        p = s.get(Product, gtin) or Product(gtin=gtin)
        p.name = row["name"]
        p.unit = row.get("unit") or p.unit or "EA"
        p.category = row.get("category", p.category or "")
        p.cold_chain_class = row.get("cold_chain_class", p.cold_chain_class or "")
        p.high_value = row.get("high_value", "").lower() in ("1", "true", "yes")
        p.unit_price = Decimal(row["unit_price"]) if row.get("unit_price") else p.unit_price
        s.add(p)
    elif kind == "locations":
        loc = s.scalars(select(Location).where(Location.code == row["code"])).one_or_none()
        loc = loc or Location(code=row["code"])
        loc.name = row["name"]
        loc.kind = row.get("kind") or loc.kind or "zone"
        if row.get("parent"):
            loc.parent_id = s.scalar(select(Location.id).where(Location.code == row["parent"]))
        s.add(loc)
    elif kind == "departments":
        d = s.get(Department, row["code"]) or Department(code=row["code"])
        d.name = row["name"]
        s.add(d)
    elif kind == "limits":
        code = row["location"]
        loc_id = s.scalar(select(Location.id).where(Location.code == code))
        if loc_id is None:
            loc = Location(code=code, name=code.rpartition("/")[2], kind="zone")
            s.add(loc)
            s.flush()
            loc_id = loc.id
        gtin = row["gtin"].zfill(14)
        lim = s.get(StockLimit, (loc_id, gtin)) or StockLimit(location_id=loc_id, gtin=gtin)
        lim.min_quantity, lim.max_quantity = int(row["min"]), int(row["max"])
        lim.reorder_quantity = int(row["reorder"]) if row.get("reorder") else None
        s.add(lim)
    else:
        u = s.get(AppUser, row["id"]) or AppUser(id=row["id"])
        u.name = row["name"]
        u.badge = row.get("badge") or None
        u.department = row.get("department") or None
        s.add(u)


def epcis_receipt(doc: dict[str, Any], location: str) -> list[ReceiptLine]:
    """Receipt lines from the commissioning ObjectEvents of an EPCIS 2.0 document."""
    if doc.get("type") != "EPCISDocument":
        raise ReceiptError("not an EPCISDocument")
    events = (doc.get("epcisBody") or {}).get("eventList") or []
    lines: list[ReceiptLine] = []
    problems: list[str] = []
    for i, ev in enumerate(events):
        step = str(ev.get("bizStep", ""))
        if ev.get("type") != "ObjectEvent" or ev.get("action") != "ADD":
            continue
        if step not in ("commissioning", "urn:epcglobal:cbv:bizstep:commissioning"):
            continue
        ilmd = {k.replace("cbvmda:", CBVMDA): v for k, v in (ev.get("ilmd") or {}).items()}
        lot = str(ilmd.get(CBVMDA + "lotNumber", "")).strip()
        expiry_text = str(ilmd.get(CBVMDA + "itemExpirationDate", "")).strip()
        try:
            expiry = date.fromisoformat(expiry_text)
        except ValueError:
            problems.append(f"event {i + 1}: itemExpirationDate {expiry_text!r} is not a date")
            continue
        if ev.get("quantityList"):
            problems.append(f"event {i + 1}: quantityList (untagged goods) is not imported")
        for epc in ev.get("epcList") or []:
            ident = ident_from_uri(str(epc))
            if ident.gtin is None:
                problems.append(f"event {i + 1}: {epc} is not an SGTIN")
                continue
            lines.append(
                ReceiptLine(epc=str(epc), gtin=ident.gtin, lot=lot, expiry=expiry,
                            location=location)
            )  # fmt: skip
    if problems:
        raise ReceiptError("; ".join(problems))
    if not lines:
        raise ReceiptError("no commissioning ObjectEvent (action ADD) with an epcList")
    return lines
