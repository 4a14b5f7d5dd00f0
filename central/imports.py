"""Master data from CSV files.

Master data (all-or-nothing per file; existing rows are updated, nothing is deleted):
- products: gtin, name, unit, category, cold_chain_class, high_value, controlled, unit_price, hibc
  (the HIBC product identifier: `+`, labeler code, product number, unit of measure),
  trace_prefix (the 7-digit drug identification code that begins its Chinese drug
  traceability codes)
- locations: code, name, kind, parent (a location code, or empty), department (whose
  location it is: the scope of that department's people)
- departments: code, name
- users: id, name, badge, department
- packs: gtin (the pack's own), product (the GTIN of its each), level (box, case...),
  quantity (eaches in one pack): a receipt or a scan of the pack's GTIN is that many eaches
- limits: location, gtin, min, max, reorder (min/max stock per product and location; the
  location is created when new)
- suppliers: code, name, contact, email (where purchase orders are sent), phone, fhir_url
  (a FHIR R5 base URL when the supplier takes SupplyRequest bundles)
- supplier-products: supplier, gtin (the product's), reference (the supplier's article
  number), unit_price (per each), pack (eaches per order unit), min_order (order units),
  lead_time_days (quoted)
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.clock import SYSTEM_CLOCK, Clock
from central.errors import Invalid, listed
from central.ledger import location_problem
from central.models import (
    AppUser,
    AuditLog,
    Department,
    Location,
    Product,
    ProductPack,
    StockLimit,
    Supplier,
    SupplierProduct,
)
from rules.epc import gs1_check_digit

COLUMNS = {
    "products": ("gtin", "name"),
    "locations": ("code", "name"),
    "departments": ("code", "name"),
    "users": ("id", "name"),
    "limits": ("location", "gtin", "min", "max"),
    "packs": ("gtin", "product", "level", "quantity"),
    "suppliers": ("code", "name"),
    "supplier-products": ("supplier", "gtin"),
}


class MasterDataError(Invalid):
    """The file cannot be imported; the message lists every bad line."""


TABLES = {"products": Product, "locations": Location, "departments": Department,
          "users": AppUser, "limits": StockLimit, "packs": ProductPack, "suppliers": Supplier,
          "supplier-products": SupplierProduct}  # fmt: skip
MAX_INT = 2**31 - 1  # an INTEGER column
# a product's codes that name it alone: (column, form, what the form is)
UNIQUE_CODES = (
    ("hibc", re.compile(r"\+[A-Z][A-Z0-9]{3}[A-Z0-9]{1,18}[0-9]"),  # no check character
     "an HIBC product identifier (+LIC PCN U)"),
    ("trace_prefix", re.compile(r"8\d{6}"), "a 7-digit drug identification code (8...)"),
)  # fmt: skip
MAX_PRICE = Decimal(10) ** 10  # NUMERIC(12, 2)
Progress = Callable[[str, int, int], None]  # phase, rows done, rows in the file


def import_master_data(
    s: Session,
    kind: str,
    text: str,
    actor: str = "import",
    *,
    clock: Clock = SYSTEM_CLOCK,
    progress: Progress | None = None,
) -> int:
    """Upsert the rows of one CSV file (and write who did it to the audit log); returns how
    many rows were imported. `progress` hears how far checking and writing have come."""
    if kind not in COLUMNS:
        raise MasterDataError(f"unknown master data {kind!r} (one of {', '.join(COLUMNS)})")
    reader = csv.DictReader(io.StringIO(text))
    try:
        check_header(kind, reader.fieldnames)
        rows = [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]
    except csv.Error as exc:  # a field over the CSV module's limit, a NUL byte, ...
        raise MasterDataError(f"{kind}: line {reader.line_num}: {exc}") from None
    report = progress or (lambda _phase, _done, _total: None)
    problems: list[str] = []
    badges = _badges(s, rows) if kind == "users" else {}
    for i, row in enumerate(rows):
        problem = _check(s, kind, row, rows) or _sizes(kind, row) or _badge(row, badges)
        if problem:
            problems.append(f"line {i + 2}: {problem}")
        if i % 1000 == 999:
            report("checking", i + 1, len(rows))
    if problems:
        raise MasterDataError(f"{kind}: {listed(problems)}")
    for i, row in enumerate(rows):
        _upsert(s, kind, row)
        s.flush()
        if i % 1000 == 999:
            report("writing", i + 1, len(rows))
    report("writing", len(rows), len(rows))
    s.add(AuditLog(at=clock.now(), actor=actor, action=f"import {kind}",
                   detail=f"{len(rows)} row(s)"))  # fmt: skip
    return len(rows)


def check_header(kind: str, header: Sequence[str] | str | None) -> None:
    """Refuse a file (or its first line, as text) without the columns `kind` needs."""
    if isinstance(header, str):
        try:
            header = next(csv.reader([header]), [])
        except csv.Error as exc:
            raise MasterDataError(f"{kind}: line 1: {exc}") from None
    missing = set(COLUMNS[kind]) - set(header or [])
    if missing:
        raise MasterDataError(f"{kind}: CSV lacks columns {sorted(missing)}")


def _sizes(kind: str, row: dict[str, str]) -> str:
    """Values that fit their columns (PostgreSQL refuses what SQLite would store)."""
    columns = TABLES[kind].__table__.c
    for name, value in row.items():
        length = getattr(columns[name].type, "length", None) if name in columns else None
        if length is not None and len(value) > length:
            return f"{name} is longer than {length} characters"
    if kind == "limits":
        for name in ("min", "max", "reorder"):
            if row.get(name) and abs(int(row[name])) > MAX_INT:
                return f"{name} {row[name]} is too large"
    return ""


def _badges(s: Session, rows: list[dict[str, str]]) -> dict[str, str]:
    """Badge -> user id, as it will be after the import: the database's, then the file's."""
    in_file = {row.get("id") for row in rows}
    return {b: u for u, b in s.execute(select(AppUser.id, AppUser.badge)) if b and u not in in_file}


def _badge(row: dict[str, str], owners: dict[str, str]) -> str:
    badge = row.get("badge")
    if not badge:
        return ""
    owner = owners.setdefault(badge, row["id"])
    if owner != row["id"]:
        return f"badge {badge!r} belongs to user {owner!r} already"
    return ""


def _check(s: Session, kind: str, row: dict[str, str], rows: list[dict[str, str]]) -> str:
    if kind == "products":
        if not _valid_gtin(row["gtin"]):
            return f"GTIN {row['gtin'][:40]!r} is not a valid GTIN"
        if s.get(ProductPack, row["gtin"].zfill(14)) is not None:
            return f"GTIN {row['gtin'].zfill(14)} is a pack's GTIN (see packs), not a product's"
        if problem := _price_problem(row.get("unit_price", "")):
            return problem
        for column, pattern, what in UNIQUE_CODES:
            value = row.get(column)
            if not value:
                continue
            if not pattern.fullmatch(value):
                return f"{column} {value[:40]!r} is not {what}"
            owners = {r["gtin"].zfill(14) for r in rows if r.get(column) == value}
            on_file = s.scalar(select(Product.gtin).where(getattr(Product, column) == value))
            if len(owners | ({on_file} if on_file else set())) > 1:
                return f"{column} {value} belongs to another product"
    if kind == "locations" and row.get("parent"):
        in_file = any(r["code"] == row["parent"] for r in rows)
        if (
            not in_file
            and s.scalar(select(Location.id).where(Location.code == row["parent"])) is None
        ):
            return f"parent {row['parent'][:80]!r} is not a known location"
    if kind == "limits":
        try:
            low, high = int(row["min"]), int(row["max"])
            reorder = int(row["reorder"]) if row.get("reorder") else None
        except ValueError:
            return "min, max and reorder must be whole numbers"
        if not 0 <= low <= high or (reorder is not None and reorder < 1):
            return f"min {low} / max {high} / reorder {reorder} do not make sense"
        if problem := location_problem(row["location"]):
            return problem
        if not _valid_gtin(row["gtin"]):
            return f"GTIN {row['gtin'][:40]!r} is not a valid GTIN"
    if kind == "packs":
        return _check_pack(s, row)
    if kind == "supplier-products":
        return _check_supplier_product(s, row, rows)
    if kind == "suppliers" and (problem := _supplier_problem(row)):
        return problem
    if kind == "users" and row.get("department"):
        in_db = s.get(Department, row["department"]) is not None
        if not in_db:
            return f"department {row['department'][:80]!r} is not known (import departments first)"
    key = COLUMNS[kind][0]
    if not row.get(key):
        return f"{key} is empty"
    return ""


def _price_problem(value: str) -> str:
    if not value:
        return ""
    try:
        price = Decimal(value)
    except InvalidOperation:
        return f"unit_price {value[:40]!r} is not a number"
    if not price.is_finite() or not 0 <= price < MAX_PRICE:
        return f"unit_price {value[:40]!r} is not a price"
    return ""


def _supplier_problem(row: dict[str, str]) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", row["code"]):
        return f"code {row['code'][:40]!r} is not a code (letters, digits, . _ -)"
    email = row.get("email", "")
    if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        return f"email {email[:80]!r} is not an e-mail address"
    url = row.get("fhir_url", "")
    if url and not re.fullmatch(r"https?://\S+", url):
        return f"fhir_url {url[:80]!r} is not an http(s) URL"
    return ""


def _check_supplier_product(s: Session, row: dict[str, str], rows: list[dict[str, str]]) -> str:
    if not _valid_gtin(row["gtin"]):
        return f"GTIN {row['gtin'][:40]!r} is not a valid GTIN"
    if s.get(Product, row["gtin"].zfill(14)) is None:
        return f"product {row['gtin'].zfill(14)} is not in the product master data"
    if s.get(Supplier, row["supplier"]) is None:
        return f"supplier {row['supplier'][:40]!r} is not known (import suppliers first)"
    if problem := _price_problem(row.get("unit_price", "")):
        return problem
    for column, low in (("pack", 1), ("min_order", 1), ("lead_time_days", 0)):
        value = row.get(column, "")
        if value and (not value.isdigit() or not low <= int(value) <= 1_000_000):
            return f"{column} {value[:20]!r} is not a whole number of at least {low}"
    return ""


def _valid_gtin(value: str) -> bool:
    g = value.zfill(14)
    return len(g) == 14 and g.isdigit() and gs1_check_digit(g[:13]) == g[13]


def _check_pack(s: Session, row: dict[str, str]) -> str:
    for column in ("gtin", "product"):
        if not _valid_gtin(row[column]):
            return f"{column} {row[column][:40]!r} is not a valid GTIN"
    gtin, product = row["gtin"].zfill(14), row["product"].zfill(14)
    if gtin == product or s.get(Product, gtin) is not None:
        return f"pack GTIN {gtin} is a product's own GTIN, not a pack's"
    if s.get(Product, product) is None:
        return f"product {product} is not in the product master data (import products first)"
    if not row["quantity"].isdigit() or not 2 <= int(row["quantity"]) <= 1_000_000:
        return f"quantity {row['quantity'][:20]!r} is not a whole number of eaches (2 or more)"
    if not row["level"].strip():
        return "level is empty"
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
        p.controlled = row.get("controlled", "").lower() in ("1", "true", "yes")
        p.unit_price = Decimal(row["unit_price"]) if row.get("unit_price") else p.unit_price
        p.hibc = row.get("hibc") or p.hibc
        p.trace_prefix = row.get("trace_prefix") or p.trace_prefix
        s.add(p)
    elif kind == "locations":
        loc = s.scalars(select(Location).where(Location.code == row["code"])).one_or_none()
        loc = loc or Location(code=row["code"])
        loc.name = row["name"]
        loc.kind = row.get("kind") or loc.kind or "zone"
        loc.department = row.get("department") or loc.department
        if row.get("parent"):
            loc.parent_id = s.scalar(select(Location.id).where(Location.code == row["parent"]))
        s.add(loc)
    elif kind == "packs":
        pack = s.get(ProductPack, row["gtin"].zfill(14)) or ProductPack(gtin=row["gtin"].zfill(14))
        pack.product_gtin = row["product"].zfill(14)
        pack.level, pack.quantity = row["level"].strip(), int(row["quantity"])
        s.add(pack)
    elif kind in ("suppliers", "supplier-products"):
        _upsert_supplier(s, kind, row)
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
        lim.changes = (lim.changes or 0) + 1  # the next alert pass evaluates it
        s.add(lim)
    else:
        u = s.get(AppUser, row["id"]) or AppUser(id=row["id"])
        u.name = row["name"]
        u.badge = row.get("badge") or None
        u.department = row.get("department") or None
        s.add(u)


def _upsert_supplier(s: Session, kind: str, row: dict[str, str]) -> None:
    if kind == "suppliers":
        sup = s.get(Supplier, row["code"]) or Supplier(code=row["code"])
        sup.name = row["name"]
        for column in ("contact", "email", "phone"):
            setattr(sup, column, row.get(column, getattr(sup, column) or ""))
        sup.fhir_url = row.get("fhir_url", sup.fhir_url or "") or None
        s.add(sup)
        return
    gtin = row["gtin"].zfill(14)
    sp = s.get(SupplierProduct, (row["supplier"], gtin))
    sp = sp or SupplierProduct(supplier=row["supplier"], gtin=gtin)
    sp.reference = row.get("reference", sp.reference or "")
    sp.unit_price = Decimal(row["unit_price"]) if row.get("unit_price") else sp.unit_price
    sp.pack = int(row.get("pack") or sp.pack or 1)
    sp.min_order = int(row.get("min_order") or sp.min_order or 1)
    days = row.get("lead_time_days")
    sp.lead_time_days = int(days) if days else sp.lead_time_days
    s.add(sp)
