"""The receiving screen: a delivery's CSV or XLSX (or an EPCIS 2.0 commissioning
document) is checked line by line and shown before anything is written; the storekeeper
then books it under its delivery-note number. Scanning comes later and will feed the same
check. The opening balance (stock per location and batch when the hospital starts with
hwms, from its spreadsheets) goes the same way, for admins, all or nothing, audited."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Form, Request, UploadFile
from fastapi.responses import Response

from central.accounts import Principal
from central.errors import LedgerError
from central.ledger import (
    Ledger,
    ReceiptLine,
    epcis_receipt,
    new_receipt_number,
    parse_receipt_csv,
)
from central.spreadsheets import to_csv_text
from central.vocab import Permission

if TYPE_CHECKING:
    from central.web import Pages

MAX_FILE = 8 << 20  # a delivery of tens of thousands of tagged items


def _lines(text: str, location: str, opening: bool = False) -> list[ReceiptLine]:
    """Receipt lines from a CSV or, when it is JSON, an EPCIS document for `location`."""
    if not opening and text.lstrip().startswith("{"):
        return epcis_receipt(json.loads(text), location)
    return parse_receipt_csv(text, opening=opening)


FLOWS = {  # path, permission, what it books
    False: ("/ui/receiving", Permission.RECEIVE),
    True: ("/ui/opening-balance", Permission.ADMINISTER),
}


def register(app: FastAPI, pages: Pages, ledger: Ledger) -> None:
    for opening, (path, permission) in FLOWS.items():
        _register(app, pages, ledger, opening, path, permission)


def _register(
    app: FastAPI, pages: Pages, ledger: Ledger, opening: bool, path: str, permission: Permission
) -> None:
    def form(request: Request, who: Principal, status: int = 200, **extra: Any) -> Response:
        context = {"who": who, "lines": [], "problems": [], "content": "", "location": "",
                   "number": "", "error": "", "done": "", "opening": opening,
                   "path": path} | extra  # fmt: skip
        return pages.render(request, "receiving.html", status, **context)

    @app.get(path, include_in_schema=False)
    def receiving(request: Request) -> Response:
        who = pages.allowed(request, permission)
        return who if not isinstance(who, Principal) else form(request, who)

    @app.post(f"{path}/check", include_in_schema=False)
    def check(
        request: Request,
        file: UploadFile,
        csrf: str = Form(max_length=100),
        location: str = Form("", max_length=200),
    ) -> Response:
        who = pages.allowed(request, permission, csrf=csrf)
        if not isinstance(who, Principal):
            return who
        raw = file.file.read(MAX_FILE + 1)
        if len(raw) > MAX_FILE:
            return form(request, who, 413, error=pages.text(request, "The file is too large."))
        try:
            content = to_csv_text(raw)
            lines = _lines(content, location, opening)
        except (LedgerError, ValueError) as exc:
            return form(request, who, 422, error=str(exc)[:2000], location=location)
        today = ledger.clock.today()
        problems = [
            (i + 1, p) for i, line in enumerate(lines) if (p := line.problem(today, opening))
        ]
        prefix = "OB-" if opening else ""
        return form(request, who, 422 if problems else 200, lines=lines[:500], total=len(lines),
                    problems=problems[:200], content=content, location=location,
                    number=prefix + new_receipt_number(ledger.clock.now()))  # fmt: skip

    @app.post(f"{path}/book", include_in_schema=False)
    def book(
        request: Request,
        csrf: str = Form(max_length=100),
        content: str = Form(max_length=MAX_FILE),
        location: str = Form("", max_length=200),
        number: str = Form(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._/#-]{0,79}$"),
    ) -> Response:
        who = pages.allowed(request, permission, csrf=csrf)
        if not isinstance(who, Principal):
            return who
        try:
            n = ledger.receive(_lines(content, location, opening), actor=who.user,
                               today=ledger.clock.today(), number=number,
                               opening=opening)  # fmt: skip
        except (LedgerError, ValueError) as exc:
            status = exc.http_status if isinstance(exc, LedgerError) else 422
            return form(request, who, status, error=str(exc)[:2000])
        done = pages.text(request, "Booked %(n)d item(s) as receipt %(number)s.") % {
            "n": n,
            "number": number,
        }
        return form(request, who, done=done, number=number)
