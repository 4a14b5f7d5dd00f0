"""Purchasing screens and the supplier portal: the purchase orders (purchasing, the store,
and a supplier's own users), a new order, one page per order with the actions the user may
take in its status (approve, send, confirm a delivery date, announce a shipment, receive
with the differences shown, accept them, cancel, close), the replenishment proposals and the
supplier KPIs. Every action goes through the ledger, which checks role and scope again."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import FastAPI, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from central.accounts import Principal
from central.errors import Invalid, LedgerError
from central.ledger import DeliveredLine, Ledger, NoticeLineIn, OrderLineIn, ProposalEdit
from central.ledger.po_receiving import VarianceRefused
from central.models import Location, Product, Supplier, SupplierProduct
from central.purchase_documents import download
from central.purchase_sending import send_order
from central.supplier_kpis import supplier_kpis
from central.vocab import Permission, Role
from central.web import export
from central.web.alert_text import N_
from rules.purchasing import PoAction

if TYPE_CHECKING:
    from central.web import Pages

MAX_FORM_LINES = 20
KPI_COLUMNS = (
    "orders",
    "delivered",
    "lead_time_days_mean",
    "lead_time_days_sd",
    "on_time_rate",
    "in_full_rate",
    "otif_rate",
    "receipts",
    "variance_rate",
)
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]  # one FieldInfo per use (a shared default
# Path() is renamed by the first route that takes it)
Action = Literal["approve", "send", "confirm", "notice", "receive", "receive-notice",
                 "accept", "cancel", "close"]  # fmt: skip


def _viewer(who: Principal) -> bool:
    return who.may(Permission.READ) or who.may(Permission.SUPPLY)


def register(app: FastAPI, pages: Pages, ledger: Ledger) -> None:
    def allowed(request: Request, csrf: str | None = None) -> Principal | Response:
        """The hospital's readers and the suppliers' users; the ledger narrows it down."""
        who = pages.principal(request)
        right = (
            Permission.SUPPLY if who is not None and who.role == Role.SUPPLIER else Permission.READ
        )
        return pages.allowed(request, right, csrf=csrf)

    def refusal(request: Request, who: Principal, exc: LedgerError) -> Response:
        return pages.render(request, "message.html", exc.http_status, who=who, message=str(exc))

    @app.get("/ui/purchase-orders", include_in_schema=False)
    def listing(request: Request, status: str = "") -> Response:
        who = allowed(request)
        if not isinstance(who, Principal):
            return who
        try:
            found = ledger.purchase_orders(who, status=status[:30] or None)
        except LedgerError as exc:
            return refusal(request, who, exc)
        return pages.render(request, "purchase_orders.html", who=who, found=found)

    def choices(who: Principal) -> dict[str, Any]:
        with ledger.session() as s:
            suppliers = [
                (x.code, x.name) for x in s.scalars(select(Supplier).order_by(Supplier.name))
            ]
            offers = [
                (sp.supplier, sp.gtin, name, sp.pack, sp.min_order)
                for sp, name in s.execute(
                    select(SupplierProduct, Product.name)
                    .join(Product, Product.gtin == SupplierProduct.gtin)
                    .order_by(Product.name, SupplierProduct.supplier)
                )
            ]
            places = [
                loc.code
                for loc in s.scalars(select(Location).order_by(Location.code))
                if loc.kind != "transit" and who.covers(loc.code, loc.department)
            ]
        return {
            "suppliers": suppliers,
            "offers": offers,
            "places": places,
            "store": ledger.purchasing_rules.store,
        }

    def new_form(request: Request, who: Principal, status: int = 200, error: str = "") -> Response:
        return pages.render(
            request,
            "purchase_order_new.html",
            status,
            who=who,
            error=error,
            rows=range(4),
            **choices(who),
        )

    @app.get("/ui/purchase-orders/new", include_in_schema=False)
    def new(request: Request) -> Response:
        who = pages.allowed(request, Permission.PURCHASE)
        if not isinstance(who, Principal):
            return who
        return new_form(request, who)

    @app.post("/ui/purchase-orders", include_in_schema=False)
    async def create(request: Request) -> Response:
        data = await request.form()
        who = pages.allowed(request, Permission.PURCHASE, csrf=str(data.get("csrf", "")))
        if not isinstance(who, Principal):
            return who
        try:
            lines = [
                OrderLineIn(gtin=str(g), order_units=_whole(str(n), "order units"))
                for g, n in zip(
                    data.getlist("gtin")[:MAX_FORM_LINES], data.getlist("units"), strict=False
                )
                if str(g) and str(n).strip()
            ]
            out = ledger.new_purchase_order(
                who,
                supplier=str(data.get("supplier", ""))[:40],
                lines=lines,
                location=str(data.get("location", "")).strip()[:200] or None,
                note=str(data.get("note", ""))[:2000],
            )
        except LedgerError as exc:
            return new_form(request, who, exc.http_status, str(exc))
        return RedirectResponse(f"/ui/purchase-orders/{out['id']}", status_code=303)

    def page(
        request: Request,
        who: Principal,
        order_id: int,
        status: int = 200,
        error: str = "",
        variances: list[dict[str, Any]] | None = None,
    ) -> Response:
        try:
            order = ledger.purchase_order(who, order_id)
        except LedgerError as exc:
            return refusal(request, who, exc)
        with ledger.session() as s:
            sup = s.get(Supplier, order["supplier"])
            channels = [
                c
                for c, ok in (
                    ("email", bool(sup and sup.email and ledger.purchasing_rules.smtp)),
                    ("fhir", bool(sup and sup.fhir_url)),
                )
                if ok
            ]
        notices = [n for n in order["ship_notices"] if not n["received_at"]]
        receive_rows = [ln for n in notices for ln in n["lines"]] or [
            {"gtin": ln["gtin"], "lot": "", "expiry": "", "quantity": ln["open"]}
            for ln in order["lines"]
            if ln["open"]
        ]
        return pages.render(
            request,
            "purchase_order.html",
            status,
            who=who,
            order=order,
            error=error,
            variances=variances or [],
            channels=channels,
            receive_rows=receive_rows,
            open_notices=notices,
            today=ledger.clock.today().isoformat(),
            waiting=any(v["needs_acceptance"] and not v["accepted_by"] for v in order["variances"]),
        )

    @app.get("/ui/purchase-orders/{order_id}", include_in_schema=False)
    def one(request: Request, order_id: Id) -> Response:
        who = allowed(request)
        if not isinstance(who, Principal):
            return who
        return page(request, who, order_id)

    @app.get("/ui/purchase-orders/{order_id}/document.{fmt}", include_in_schema=False)
    def document(request: Request, fmt: Literal["pdf", "csv"], order_id: Id) -> Response:
        who = allowed(request)
        if not isinstance(who, Principal):
            return who
        try:
            order = ledger.purchase_order(who, order_id)
        except LedgerError as exc:
            return refusal(request, who, exc)
        body, media, disposition = download(order, fmt, ledger.purchasing_rules.buyer)
        return Response(body, media_type=media, headers={"Content-Disposition": disposition})

    @app.post("/ui/purchase-orders/{order_id}/{action}", include_in_schema=False)
    async def act(request: Request, action: Action, order_id: Id) -> Response:
        data = await request.form()
        who = allowed(request, csrf=str(data.get("csrf", "")))
        if not isinstance(who, Principal):
            return who
        comment = str(data.get("comment", ""))[:2000]
        try:
            if action == "approve":
                ledger.approve_purchase_order(who, order_id, comment)
            elif action == "send":
                channel = str(data.get("channel", ""))
                if channel == "manual":
                    ledger.mark_purchase_order_sent(who, order_id, ["manual"])
                else:
                    send_order(ledger, who, order_id, [channel] if channel else [])
            elif action == "confirm":
                ledger.confirm_purchase_order(
                    who, order_id, _day(str(data.get("delivery_date", ""))), comment
                )
            elif action == "notice":
                ledger.submit_ship_notice(
                    who,
                    order_id,
                    number=str(data.get("number", ""))[:80],
                    sscc=str(data.get("sscc", "")).strip() or None,
                    lines=_notice_lines(data),
                )
            elif action == "receive":
                ledger.receive_purchase_order(
                    who,
                    order_id,
                    _delivered(data),
                    accept=bool(data.get("accept")),
                    comment=comment,
                )
            elif action == "receive-notice":
                ledger.receive_ship_notice(
                    who,
                    _whole(str(data.get("notice", "")), "notice"),
                    accept=bool(data.get("accept")),
                    comment=comment,
                )
            elif action == "accept":
                ledger.accept_variances(who, order_id, comment)
            else:
                ledger.end_purchase_order(who, order_id, PoAction(action), comment)
        except VarianceRefused as exc:
            return page(request, who, order_id, exc.http_status, str(exc), exc.variances)
        except LedgerError as exc:
            return page(request, who, order_id, exc.http_status, str(exc))
        return RedirectResponse(f"/ui/purchase-orders/{order_id}", status_code=303)

    @app.get("/ui/proposals", include_in_schema=False)
    def proposals(request: Request, made: str = "") -> Response:
        who = pages.allowed(request, Permission.READ)
        if not isinstance(who, Principal):
            return who
        try:
            found = ledger.proposals(who)
        except LedgerError as exc:
            return refusal(request, who, exc)
        return pages.render(request, "proposals.html", who=who, found=found, made=made[:10])

    @app.post("/ui/proposals/run", include_in_schema=False)
    async def run(request: Request) -> Response:
        data = await request.form()
        who = pages.allowed(request, Permission.PURCHASE, csrf=str(data.get("csrf", "")))
        if not isinstance(who, Principal):
            return who
        made = ledger.propose_replenishment()
        return RedirectResponse(f"/ui/proposals?made={made}", status_code=303)

    @app.post("/ui/proposals/{proposal_id}/{decision}", include_in_schema=False)
    async def decide(
        request: Request, decision: Literal["accept", "reject"], proposal_id: Id
    ) -> Response:
        data = await request.form()
        who = pages.allowed(request, Permission.READ, csrf=str(data.get("csrf", "")))
        if not isinstance(who, Principal):
            return who
        try:
            edit = ProposalEdit(
                *(
                    _whole(str(data.get(k, "")), k) if str(data.get(k, "")).strip() else None
                    for k in ("minimum", "maximum", "order_quantity")
                )
            )
            done = ledger.decide_proposal(
                who,
                proposal_id,
                accept=decision == "accept",
                edit=edit,
                comment=str(data.get("comment", ""))[:2000],
            )
        except LedgerError as exc:
            return refusal(request, who, exc)
        if done["purchase_order_id"]:
            return RedirectResponse(
                f"/ui/purchase-orders/{done['purchase_order_id']}", status_code=303
            )
        return RedirectResponse("/ui/proposals", status_code=303)

    def kpi_rows(days: int) -> list[dict[str, Any]]:
        end = ledger.clock.now()
        with ledger.session() as s:
            return supplier_kpis(s, end - timedelta(days=days), end + timedelta(seconds=1))

    @app.get("/ui/supplier-kpis", include_in_schema=False)
    def kpis(request: Request, days: int = 90) -> Response:
        who = pages.allowed(request, Permission.PURCHASE)
        if not isinstance(who, Principal):
            return who
        days = min(max(days, 1), 3650)
        rows = kpi_rows(days)
        return pages.render(request, "supplier_kpis.html", who=who, rows=rows, days=days)

    @app.get("/ui/supplier-kpis.{fmt}", include_in_schema=False)
    def kpis_export(request: Request, fmt: Literal["csv", "xlsx"], days: int = 90) -> Response:
        """One row per supplier (all its products) and per supplier and product."""
        who = pages.allowed(request, Permission.PURCHASE)
        if not isinstance(who, Principal):
            return who
        out = []
        for r in kpi_rows(min(max(days, 1), 3650)):
            for p in [{"gtin": "", "name": ""} | r, *r["products"]]:
                out.append(
                    [
                        r["supplier"],
                        r["name"],
                        p["gtin"],
                        p["name"] if p["gtin"] else "",
                        *(p[k] for k in KPI_COLUMNS),
                    ]
                )
        header = ["supplier", "supplier_name", "gtin", "product", *KPI_COLUMNS]
        return export.table("supplier-kpis", fmt, header, out)


def _whole(text: str, what: str) -> int:
    value = text.strip()
    if not value.isdigit() or len(value) > 9:
        raise Invalid(f"{what}: {value[:20]!r} is not a whole number")
    return int(value)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise Invalid(f"{text[:20]!r} is not a date (YYYY-MM-DD)") from None


def _price(text: str) -> Decimal | None:
    if not text.strip():
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise Invalid(f"price {text[:20]!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise Invalid(f"price {text[:20]!r} is not a price")
    return value


def _rows(data: Any, *names: str) -> list[list[str]]:
    """The form's line rows (one value per name, in order), empty rows left out."""
    columns = [[str(v) for v in data.getlist(n)][:500] for n in names]
    return [list(r) for r in zip(*columns, strict=False) if any(x.strip() for x in r)]


def _delivered(data: Any) -> list[DeliveredLine]:
    out = []
    for gtin, lot, expiry, qty, price in _rows(data, "gtin", "lot", "expiry", "quantity", "price"):
        out.append(
            DeliveredLine(
                gtin.strip(),
                lot.strip(),
                _day(expiry),
                _whole(qty, f"{gtin} quantity"),
                _price(price),
            )
        )
    if not out:
        raise Invalid("a delivery has at least one line")
    return out


def _notice_lines(data: Any) -> list[NoticeLineIn]:
    out = []
    for gtin, lot, expiry, qty, codes in _rows(data, "gtin", "lot", "expiry", "quantity", "codes"):
        items = [c.strip() for c in codes.replace(",", "\n").splitlines() if c.strip()]
        epcs = tuple(c for c in items if c.startswith("urn:epc:"))
        serials = tuple(c for c in items if not c.startswith("urn:epc:"))
        out.append(
            NoticeLineIn(
                gtin.strip(),
                lot.strip(),
                _day(expiry),
                _whole(qty, f"{gtin} quantity"),
                serials,
                epcs,
            )
        )
    return out


# what the templates say through _() from the data: statuses, actions, variance kinds
_WORDS = (
    N_("draft"),
    N_("sent"),
    N_("confirmed"),
    N_("partially_received"),
    N_("closed"),
    N_("create"),
    N_("send"),
    N_("confirm"),
    N_("ship"),
    N_("accept"),
    N_("close"),
    N_("quantity"),
    N_("price"),
    N_("lot"),
    N_("expiry"),
    N_("shelf_life"),
    N_("product"),
    N_("email"),
    N_("fhir"),
    N_("manual"),
    N_("open"),
    N_("edited"),
    N_("accepted"),
    N_("superseded"),
    N_("smooth"),
    N_("intermittent"),
)
