"""Requisition screens: the list of internal demand (people's and the system's), a request
form that works on a phone, and one page per requisition with its lines, the pick list
(first expiry first), the history and the actions the user may take in its status. Every
action goes through the ledger, which checks role and scope again."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from fastapi import FastAPI, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from central import signatures
from central.accounts import Principal
from central.errors import Invalid, LedgerError
from central.ledger import Ledger, LineIn, PickIn
from central.ledger.requisitions import TRANSIT_KIND
from central.models import Location, Product, ProductPack
from central.vocab import Permission
from central.web.alert_text import N_

if TYPE_CHECKING:
    from central.web import Pages

MAX_FORM_LINES = 20
Action = Literal["approve", "reject", "cancel", "issue", "receive", "review"]


def register(app: FastAPI, pages: Pages, ledger: Ledger) -> None:
    def choices(who: Principal) -> dict[str, Any]:
        """The user's destinations and the products (and packs) they may ask for."""
        with ledger.session() as s:
            places = [
                (loc.code, loc.name) for loc in s.scalars(select(Location).order_by(Location.code))
                if loc.kind != TRANSIT_KIND and who.covers(loc.code, loc.department)
            ]  # fmt: skip
            products = [(p.gtin, p.name) for p in s.scalars(select(Product).order_by(Product.name))]
            names = dict(products)
            packs = [
                (k.gtin, names.get(k.product_gtin, k.product_gtin), k.level, k.quantity)
                for k in s.scalars(select(ProductPack).order_by(ProductPack.gtin))
            ]
        return {"places": places, "products": products, "packs": packs}

    def form(request: Request, who: Principal, status: int = 200, error: str = "") -> Response:
        return pages.render(request, "requisition_new.html", status, who=who, error=error,
                            rows=range(3), **choices(who))  # fmt: skip

    @app.get("/ui/requisitions", include_in_schema=False)
    def listing(request: Request) -> Response:
        who = pages.allowed(request, Permission.READ)
        if not isinstance(who, Principal):
            return who
        found = ledger.requisitions(who)
        waiting = [b | {"signed": ledger.needs_signature(b["kind"], Decimal(b["value"]))}
                   for b in ledger.pending_bookings(who)]  # fmt: skip
        checks = ledger.witness_checks(who)
        return pages.render(request, "requisitions.html", who=who, found=found, waiting=waiting,
                            checks=checks)  # fmt: skip

    async def back_to_list(request: Request, act: Callable[[Principal, Any], object]) -> Response:
        """A form of the list's (a booking's decision, a witness): the ledger acts for the
        user, then the list again, or the refusal."""
        data = await request.form()
        who = pages.allowed(request, Permission.READ, csrf=str(data.get("csrf", "")))
        if not isinstance(who, Principal):
            return who
        try:
            act(who, data)
        except LedgerError as exc:
            return pages.render(request, "message.html", exc.http_status, who=who, message=str(exc))
        return RedirectResponse("/ui/requisitions", status_code=303)

    @app.post("/ui/witness-checks/{check_id}", include_in_schema=False)
    async def witness(request: Request, check_id: int = Path(ge=1, le=2**31 - 1)) -> Response:
        """The logged-in user is the second person of a cabinet take."""
        return await back_to_list(request, lambda who, _data: ledger.confirm_witness(who, check_id))

    @app.post("/ui/bookings/{booking_id}/{decision}", include_in_schema=False)
    async def decide(
        request: Request,
        decision: Literal["approve", "reject"],
        booking_id: int = Path(ge=1, le=2**31 - 1),
    ) -> Response:
        """A waiting return, loss, scrap or adjustment approved (stock moves) or rejected."""

        def act(who: Principal, data: Any) -> object:
            comment = str(data.get("comment", ""))[:2000]
            password = str(data.get("password", ""))[:1000] if decision == "approve" else ""
            signed = signatures.if_given(ledger.session.begin, who, password, comment,
                                         ledger.clock.now())  # fmt: skip
            return ledger.decide_booking(who, booking_id, approve=decision == "approve",
                                         comment=comment, signed=signed)  # fmt: skip

        return await back_to_list(request, act)

    @app.get("/ui/requisitions/new", include_in_schema=False)
    def new(request: Request) -> Response:
        who = pages.allowed(request, Permission.REQUEST)
        if not isinstance(who, Principal):
            return who
        return form(request, who)

    @app.post("/ui/requisitions", include_in_schema=False)
    async def create(request: Request) -> Response:
        data = await request.form()
        who = pages.allowed(request, Permission.REQUEST, csrf=str(data.get("csrf", "")))
        if not isinstance(who, Principal):
            return who
        gtins, counts = data.getlist("gtin")[:MAX_FORM_LINES], data.getlist("quantity")
        lines = []
        for gtin, count in zip(gtins, counts, strict=False):
            if str(gtin) and str(count).strip():
                if not str(count).strip().isdigit():
                    return form(
                        request, who, 422, pages.text(request, "A quantity is a whole number.")
                    )
                lines.append(LineIn(gtin=str(gtin), quantity=int(str(count))))
        try:
            out = ledger.new_requisition(
                who, to_location=str(data.get("to_location", ""))[:200], lines=lines,
                priority=str(data.get("priority", "routine")),
                note=str(data.get("note", ""))[:2000],
            )  # fmt: skip
        except LedgerError as exc:
            return form(request, who, exc.http_status, str(exc))
        return RedirectResponse(f"/ui/requisitions/{out['id']}", status_code=303)

    def page(request: Request, who: Principal, rid: int, status: int = 200,
             error: str = "") -> Response:  # fmt: skip
        try:
            req = ledger.requisition(who, rid)
            picks = ledger.pick_list(who, rid) if (
                who.may(Permission.ISSUE) and any(ln["back_order"] for ln in req["lines"])
                and req["status"] in ("approved", "issued", "received")
            ) else None  # fmt: skip
            with ledger.session() as s:
                two_person = ledger.two_person_products(s, {ln["gtin"] for ln in req["lines"]})
        except LedgerError as exc:
            return pages.render(request, "message.html", exc.http_status, who=who, message=str(exc))
        return pages.render(request, "requisition.html", status, who=who, req=req, picks=picks,
                            error=error, two_person=two_person)  # fmt: skip

    @app.get("/ui/requisitions/{rid}", include_in_schema=False)
    def one(request: Request, rid: int = Path(ge=1, le=2**31 - 1)) -> Response:
        who = pages.allowed(request, Permission.READ)
        if not isinstance(who, Principal):
            return who
        return page(request, who, rid)

    @app.post("/ui/requisitions/{rid}/{action}", include_in_schema=False)
    async def act(
        request: Request, action: Action, rid: int = Path(ge=1, le=2**31 - 1)
    ) -> Response:
        data = await request.form()
        who = pages.allowed(request, Permission.READ, csrf=str(data.get("csrf", "")))
        if not isinstance(who, Principal):
            return who
        comment = str(data.get("comment", ""))[:2000]
        try:
            if action == "approve":
                ledger.approve_requisition(who, rid, comment)
            elif action == "reject":
                ledger.reject_requisition(who, rid, comment)
            elif action == "cancel":
                ledger.cancel_requisition(who, rid, comment)
            elif action == "review":
                ledger.review_requisition(who, rid, comment)
            elif action == "receive":
                ledger.receive_requisition(who, rid, comment)
            else:
                second = str(data.get("witness_user", "")).strip()
                witness = ledger.log_in_witness(
                    second[:200], str(data.get("witness_password", ""))[:1000]
                ) if second else None  # fmt: skip
                ledger.issue_requisition(who, rid, _picks(data), close=bool(data.get("close")),
                                         witness=witness)  # fmt: skip
        except LedgerError as exc:
            return page(request, who, rid, exc.http_status, str(exc))
        return RedirectResponse(f"/ui/requisitions/{rid}", status_code=303)


def _picks(data: Any) -> list[PickIn]:
    """The pick list as posted: one row per line and lot (`pick` = "gtin|lot"), its
    quantity, and a reason per line for a lot other than the first to expire."""
    out = []
    for key, count, reason in zip(data.getlist("pick"), data.getlist("count"),
                                  data.getlist("why"), strict=False):  # fmt: skip
        gtin, _, lot = str(key).partition("|")
        text = str(count).strip()
        if not text:
            continue
        if not text.isdigit():
            raise Invalid(f"lot {lot[:20]}: a quantity is a whole number")
        if int(text):
            out.append(PickIn(gtin=gtin, lot=lot, quantity=int(text), reason=str(reason)[:500]))
    return out


# what the templates say through _() from the data: statuses, priorities, actions, levels
_WORDS = (
    N_("submitted"), N_("approved"), N_("issued"), N_("received"), N_("rejected"),
    N_("cancelled"), N_("routine"), N_("urgent"), N_("emergency"), N_("submit"),
    N_("approve"), N_("reject"), N_("cancel"), N_("issue"), N_("receive"), N_("review"),
    N_("box"), N_("pallet"), N_("inner pack"), N_("return"), N_("loss"), N_("scrap"),
    N_("adjustment"),
)  # fmt: skip
