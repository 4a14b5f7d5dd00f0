"""Master data kept by hand, for admins: the products, locations, departments, people and
min/max limits on file, each editable in a form; and the users who log in (role, scope,
disabled). Suppliers and what they sell are kept by purchasing (and admins). A form's
record goes through the same checked, audited import as a CSV file (a one-row import), so a
hand edit and a file obey the same rules."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any, Literal

from fastapi import FastAPI, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from central import accounts
from central.accounts import Principal
from central.errors import Invalid, LedgerError
from central.imports import import_master_data
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
from central.vocab import Permission, Role

if TYPE_CHECKING:
    from central.ledger import Ledger
    from central.web import Pages

Kind = Literal["products", "locations", "departments", "users", "limits", "packs", "suppliers",
               "supplier-products"]  # fmt: skip
FIELDS: dict[str, tuple[str, ...]] = {  # the first is the record's key
    "products": ("gtin", "name", "unit", "category", "cold_chain_class", "high_value",
                 "controlled", "unit_price", "hibc", "trace_prefix"),
    "locations": ("code", "name", "kind", "parent", "department"),
    "departments": ("code", "name"),
    "users": ("id", "name", "department", "badge"),
    "limits": ("location", "gtin", "min", "max", "reorder"),
    "packs": ("gtin", "product", "level", "quantity"),
    "suppliers": ("code", "name", "contact", "email", "phone", "fhir_url"),
    "supplier-products": ("supplier", "gtin", "reference", "unit_price", "pack", "min_order",
                          "lead_time_days"),
}  # fmt: skip
PURCHASING_KINDS = ("suppliers", "supplier-products")
SHOWN = 500  # records listed; the search finds the others


def records(s: Session, kind: str, q: str = "") -> list[dict[str, str]]:
    """The records on file as their form fields (strings), at most SHOWN, matching `q`."""
    term = q.strip()
    rows: list[dict[str, Any]] = []
    query: Any
    if kind == "products":
        query = select(Product).order_by(Product.gtin)
        if term:
            query = query.where(Product.name.icontains(term, autoescape=True)
                                | (Product.gtin == term.zfill(14)))  # fmt: skip
        rows = [
            {"gtin": p.gtin, "name": p.name, "unit": p.unit, "category": p.category,
             "cold_chain_class": p.cold_chain_class, "high_value": "yes" if p.high_value else "",
             "controlled": "yes" if p.controlled else "", "unit_price": p.unit_price,
             "hibc": p.hibc or "", "trace_prefix": p.trace_prefix or ""}
            for p in s.scalars(query.limit(SHOWN))
        ]  # fmt: skip
    elif kind == "locations":
        codes = dict(s.execute(select(Location.id, Location.code)).all())
        query = select(Location).order_by(Location.code)
        if term:
            query = query.where(Location.code.icontains(term, autoescape=True))
        rows = [{"code": x.code, "name": x.name, "kind": x.kind, "department": x.department,
                 "parent": codes.get(x.parent_id) if x.parent_id else ""}
                for x in s.scalars(query.limit(SHOWN))]  # fmt: skip
    elif kind == "packs":
        query = select(ProductPack).order_by(ProductPack.product_gtin, ProductPack.gtin)
        if term:
            query = query.where((ProductPack.gtin == term.zfill(14))
                                | (ProductPack.product_gtin == term.zfill(14)))  # fmt: skip
        rows = [{"gtin": x.gtin, "product": x.product_gtin, "level": x.level,
                 "quantity": x.quantity} for x in s.scalars(query.limit(SHOWN))]  # fmt: skip
    elif kind in PURCHASING_KINDS:
        rows = _purchasing_records(s, kind, term)
    elif kind == "departments":
        departments = select(Department).order_by(Department.code).limit(SHOWN)
        rows = [{"code": d.code, "name": d.name} for d in s.scalars(departments)]
    elif kind == "users":
        query = select(AppUser).order_by(AppUser.id)
        if term:
            query = query.where(AppUser.id.icontains(term, autoescape=True))
        rows = [{"id": u.id, "name": u.name, "department": u.department, "badge": u.badge}
                for u in s.scalars(query.limit(SHOWN))]  # fmt: skip
    else:
        query = (
            select(Location.code, StockLimit)
            .join(Location, Location.id == StockLimit.location_id)
            .order_by(Location.code, StockLimit.gtin)
        )
        if term:
            query = query.where(Location.code.icontains(term, autoescape=True)
                                | (StockLimit.gtin == term.zfill(14)))  # fmt: skip
        rows = [{"location": code, "gtin": lim.gtin, "min": lim.min_quantity,
                 "max": lim.max_quantity, "reorder": lim.reorder_quantity}
                for code, lim in s.execute(query.limit(SHOWN))]  # fmt: skip
    return [{k: "" if v is None else str(v) for k, v in r.items()} for r in rows]


def _purchasing_records(s: Session, kind: str, term: str) -> list[dict[str, Any]]:
    if kind == "suppliers":
        query = select(Supplier).order_by(Supplier.code)
        if term:
            query = query.where(Supplier.code.icontains(term, autoescape=True)
                                | Supplier.name.icontains(term, autoescape=True))  # fmt: skip
        return [{"code": x.code, "name": x.name, "contact": x.contact, "email": x.email,
                 "phone": x.phone, "fhir_url": x.fhir_url}
                for x in s.scalars(query.limit(SHOWN))]  # fmt: skip
    offers = select(SupplierProduct).order_by(SupplierProduct.supplier, SupplierProduct.gtin)
    if term:
        offers = offers.where((SupplierProduct.supplier == term)
                              | (SupplierProduct.gtin == term.zfill(14)))  # fmt: skip
    return [{"supplier": x.supplier, "gtin": x.gtin, "reference": x.reference,
             "unit_price": x.unit_price, "pack": x.pack, "min_order": x.min_order,
             "lead_time_days": x.lead_time_days}
            for x in s.scalars(offers.limit(SHOWN))]  # fmt: skip


def one_row_csv(kind: str, values: dict[str, str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(FIELDS[kind])
    writer.writerow([values.get(f, "").strip() for f in FIELDS[kind]])
    return out.getvalue()


def register(app: FastAPI, pages: Pages, ledger: Ledger) -> None:
    def admin(request: Request, csrf: str | None = None) -> Principal | Response:
        return pages.allowed(request, Permission.ADMINISTER, csrf=csrf)

    def keeper(request: Request, kind: str, csrf: str | None = None) -> Principal | Response:
        """Who may keep this kind: purchasing for suppliers, admins for the rest."""
        right = Permission.PURCHASE if kind in PURCHASING_KINDS else Permission.ADMINISTER
        return pages.allowed(request, right, csrf=csrf)

    @app.get("/ui/master-data/{kind}", include_in_schema=False)
    def listing(request: Request, kind: Kind, q: str = "", saved: str = "") -> Response:
        who = keeper(request, kind)
        if not isinstance(who, Principal):
            return who
        with ledger.session() as s:
            rows = records(s, kind, q[:200])
        return pages.render(request, "master_list.html", who=who, kind=kind, rows=rows,
                            fields=FIELDS[kind], q=q, saved=saved[:200], shown=SHOWN)  # fmt: skip

    @app.get("/ui/master-data/{kind}/edit", include_in_schema=False)
    def edit(request: Request, kind: Kind, key: str = "") -> Response:
        who = keeper(request, kind)
        if not isinstance(who, Principal):
            return who
        values: dict[str, str] = {}
        if key:
            with ledger.session() as s:
                found = [r for r in records(s, kind, key[:200]) if r[FIELDS[kind][0]] == key]
            if not found and kind not in ("limits", "supplier-products"):
                message = pages.text(request, "No such record.")
                return pages.render(request, "message.html", 404, who=who, message=message)
            values = found[0] if found else {}
        return pages.render(request, "master_edit.html", who=who, kind=kind,
                            fields=FIELDS[kind], values=values, key=key, error="")  # fmt: skip

    @app.post("/ui/master-data/{kind}/edit", include_in_schema=False)
    async def save(request: Request, kind: Kind) -> Response:
        """The kind's fields from the form (which fields depends on the kind); the check
        and the write run in the thread pool, never on the event loop."""
        async with request.form(max_files=0, max_fields=50) as form:
            values = {f: str(form.get(f, ""))[:2000] for f in FIELDS[kind]}
            csrf = str(form.get("csrf", ""))[:100]
        return await run_in_threadpool(store, request, kind, values, csrf)

    def store(request: Request, kind: str, values: dict[str, str], csrf: str) -> Response:
        who = keeper(request, kind, csrf)
        if not isinstance(who, Principal):
            return who
        try:
            with ledger.session.begin() as s:
                import_master_data(s, kind, one_row_csv(kind, values), actor=who.user,
                                   clock=ledger.clock)  # fmt: skip
        except Invalid as exc:
            error = str(exc).replace(f"{kind}: line 2: ", "")
            return pages.render(request, "master_edit.html", 422, who=who, kind=kind,
                                fields=FIELDS[kind], values=values, key="",
                                error=error)  # fmt: skip
        key = values[FIELDS[kind][0]].strip()
        return RedirectResponse(f"/ui/master-data/{kind}?saved={key}", status_code=303)

    @app.get("/ui/users", include_in_schema=False)
    def logins(request: Request) -> Response:
        who = admin(request)
        if not isinstance(who, Principal):
            return who
        with ledger.session() as s:
            users = accounts.users(s)
        return pages.render(request, "users.html", who=who, users=users, roles=list(Role),
                            error="", done="")  # fmt: skip

    @app.post("/ui/users", include_in_schema=False)
    def add_login(
        request: Request,
        user: str = Form(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,199}$"),
        role: str = Form(max_length=20),
        sites: str = Form("", max_length=2000),
        departments: str = Form("", max_length=2000),
        supplier: str = Form("", max_length=40),
        password: str = Form(max_length=1000),
        csrf: str = Form(max_length=100),
    ) -> Response:
        who = admin(request, csrf)
        if not isinstance(who, Principal):
            return who
        try:
            with ledger.session.begin() as s:
                accounts.add_user(
                    s,
                    user,
                    role=role,
                    password=password,
                    sites=sites.split(","),
                    departments=departments.split(","),
                    supplier=supplier.strip() or None,
                )
                s.add(AuditLog(at=ledger.clock.now(), actor=who.user, action="add login",
                               detail=f"{user}: {role} sites={sites} departments="
                                      f"{departments}"))  # fmt: skip
        except LedgerError as exc:
            with ledger.session() as s:
                users = accounts.users(s)
            return pages.render(request, "users.html", exc.http_status, who=who, users=users,
                                roles=list(Role), error=str(exc), done="")  # fmt: skip
        return RedirectResponse("/ui/users", status_code=303)

    @app.post("/ui/users/{user}/disable", include_in_schema=False)
    def disable(request: Request, user: str, csrf: str = Form(max_length=100)) -> Response:
        who = admin(request, csrf)
        if not isinstance(who, Principal):
            return who
        if user == who.user:
            message = pages.text(request, "You cannot disable yourself.")
            return pages.render(request, "message.html", 409, who=who, message=message)
        try:
            with ledger.session.begin() as s:
                accounts.disable_user(s, user[:200])
                s.add(AuditLog(at=ledger.clock.now(), actor=who.user, action="disable login",
                               detail=user[:200]))  # fmt: skip
        except LedgerError as exc:
            return pages.render(request, "message.html", exc.http_status, who=who,
                                message=str(exc))  # fmt: skip
        return RedirectResponse("/ui/users", status_code=303)
