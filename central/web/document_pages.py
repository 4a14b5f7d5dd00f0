"""Printed documents, for the store: the recent receipts with each one's goods-received
note, and the pick list of the open transport orders (A4, from the browser's print)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from central import documents
from central.accounts import Principal
from central.errors import LedgerError
from central.ledger import Ledger
from central.models import Location, Receipt
from central.vocab import Permission

if TYPE_CHECKING:
    from central.web import Pages

RECENT = 50


def register(app: FastAPI, pages: Pages, ledger: Ledger) -> None:
    @app.get("/ui/receipts", include_in_schema=False)
    def receipts(request: Request) -> Response:
        who = pages.allowed(request, Permission.RECEIVE)
        if not isinstance(who, Principal):
            return who
        with ledger.session() as s:
            rows = list(s.scalars(select(Receipt).order_by(Receipt.received_at.desc())
                                  .limit(RECENT)))  # fmt: skip
        return pages.render(request, "receipts.html", who=who, rows=rows)

    @app.get("/ui/receipts/note", include_in_schema=False)
    def goods_received_note(
        request: Request, number: str = Query(min_length=1, max_length=80)
    ) -> Response:
        who = pages.allowed(request, Permission.RECEIVE)
        if not isinstance(who, Principal):
            return who
        try:
            with ledger.session() as s:
                note = documents.goods_received(s, number)
        except LedgerError as exc:
            return pages.render(request, "message.html", exc.http_status, who=who,
                                message=str(exc))  # fmt: skip
        return pages.render(request, "goods_received.html", who=who, **note)

    @app.get("/ui/pick-list", include_in_schema=False)
    def pick_list(request: Request) -> Response:
        who = pages.allowed(request, Permission.RECEIVE)
        if not isinstance(who, Principal):
            return who
        with ledger.session() as s:
            allowed = who.locations(s)
            sources = None
            if allowed is not None:
                sources = set(s.scalars(select(Location.code).where(Location.id.in_(allowed))))
            orders = documents.pick_list(s, sources)
        return pages.render(request, "pick_list.html", who=who, orders=orders,
                            now=ledger.clock.now())  # fmt: skip
