"""Stocktake and master data screens. A stocktake compares a count (EPCs from a handheld
or a file, one per line) with the ledger and books nothing until someone confirms it;
master data (CSV) is checked whole and imported as one background job, its report line
by line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from fastapi import FastAPI, Form, Path, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from central import signatures
from central.accounts import Principal
from central.errors import Invalid, LedgerError
from central.imports import COLUMNS, import_master_data
from central.ledger import Ledger
from central.models import Location
from central.spreadsheets import to_csv_text
from central.vocab import Permission
from central.web.master_pages import PURCHASING_KINDS

if TYPE_CHECKING:
    from central.web import Pages

MAX_FILE = 16 << 20


def register(app: FastAPI, pages: Pages, ledger: Ledger) -> None:
    @app.get("/ui/stocktakes", include_in_schema=False)
    def stocktake_form(request: Request) -> Response:
        who = pages.allowed(request, Permission.STOCKTAKE)
        if not isinstance(who, Principal):
            return who
        return pages.render(request, "stocktake.html", who=who, report=None, error="")

    @app.post("/ui/stocktakes", include_in_schema=False)
    def count(
        request: Request,
        csrf: str = Form(max_length=100),
        location: str = Form(max_length=200),
        epcs: str = Form(max_length=MAX_FILE),
    ) -> Response:
        who = pages.allowed(request, Permission.STOCKTAKE, csrf=csrf)
        if not isinstance(who, Principal):
            return who
        counted = [line.strip() for line in epcs.splitlines() if line.strip()]
        with ledger.session() as s:
            department = s.scalar(select(Location.department).where(Location.code == location))
        if not who.covers(location, department):
            error = pages.text(request, "Not found or not yours to see.")
            return pages.render(request, "stocktake.html", 403, who=who, report=None, error=error)
        try:
            report = ledger.stocktake(location, counted, user=who.user, source="web")
        except LedgerError as exc:
            return pages.render(request, "stocktake.html", exc.http_status, who=who,
                                report=None, error=str(exc))  # fmt: skip
        return RedirectResponse(f"/ui/stocktakes/{report['id']}", status_code=303)

    @app.get("/ui/stocktakes/{stocktake_id}", include_in_schema=False)
    def stocktake_report(
        request: Request, stocktake_id: int = Path(ge=1, le=2**31 - 1)
    ) -> Response:
        who = pages.allowed(request, Permission.READ)
        if not isinstance(who, Principal):
            return who
        try:
            report = ledger.stocktake_report(stocktake_id)
        except LedgerError as exc:
            return pages.render(request, "message.html", exc.http_status, who=who, message=str(exc))
        return pages.render(request, "stocktake.html", who=who, report=report, error="")

    @app.post("/ui/stocktakes/{stocktake_id}/confirm", include_in_schema=False)
    def confirm(
        request: Request,
        stocktake_id: int = Path(ge=1, le=2**31 - 1),
        reason: str = Form(min_length=1, max_length=2000),
        password: str = Form(min_length=1, max_length=1000),
        csrf: str = Form(max_length=100),
    ) -> Response:
        """The count booked, signed: the password again and a reason."""
        who = pages.allowed(request, Permission.STOCKTAKE, csrf=csrf)
        if not isinstance(who, Principal):
            return who
        try:
            signed = signatures.sign(ledger.session.begin, who, password, reason,
                                     ledger.clock.now())  # fmt: skip
            ledger.confirm_stocktake(stocktake_id, signed=signed)
        except LedgerError as exc:
            return pages.render(request, "message.html", exc.http_status, who=who, message=str(exc))
        return RedirectResponse(f"/ui/stocktakes/{stocktake_id}", status_code=303)

    def importer(request: Request, csrf: str | None = None) -> Principal | Response:
        """Admins import any master data (they hold every permission); purchasing imports
        suppliers and what they sell (`kinds_of`)."""
        return pages.allowed(request, Permission.PURCHASE, csrf=csrf)

    def kinds_of(who: Principal) -> list[str]:
        return list(COLUMNS) if who.may(Permission.ADMINISTER) else list(PURCHASING_KINDS)

    @app.get("/ui/master-data", include_in_schema=False)
    def master_data_form(request: Request) -> Response:
        who = importer(request)
        if not isinstance(who, Principal):
            return who
        return pages.render(request, "master_data.html", who=who, kinds=kinds_of(who),
                            columns=COLUMNS, result=None, error="", checked=None)  # fmt: skip

    @app.post("/ui/master-data", include_in_schema=False)
    def master_data(
        request: Request,
        file: UploadFile,
        kind: Literal[tuple(COLUMNS)] = Form(),  # type: ignore[valid-type]
        csrf: str = Form(max_length=100),
        action: Literal["check", "import"] = Form("import"),
    ) -> Response:
        """Check a file line by line and, unless only checking, import it all at once."""
        who = importer(request, csrf)
        if not isinstance(who, Principal):
            return who
        if kind not in kinds_of(who):
            message = pages.text(request, "Your role may not do this.")
            return pages.render(request, "message.html", 403, who=who, message=message)
        raw = file.file.read(MAX_FILE + 1)
        context: dict[str, Any] = {"who": who, "kinds": kinds_of(who), "columns": COLUMNS,
                                   "result": None, "error": "", "checked": None}  # fmt: skip
        if len(raw) > MAX_FILE:
            context["error"] = pages.text(request, "The file is too large.")
            return pages.render(request, "master_data.html", 413, **context)
        try:
            text = to_csv_text(raw)
            if action == "check":  # the whole import, then rolled back: nothing is written
                with ledger.session() as s:
                    context["checked"] = import_master_data(s, kind, text, actor=who.user,
                                                            clock=ledger.clock)  # fmt: skip
                    s.rollback()
            else:
                with ledger.session.begin() as s:
                    context["result"] = import_master_data(s, kind, text, actor=who.user,
                                                           clock=ledger.clock)  # fmt: skip
        except Invalid as exc:  # a MasterDataError, or a file that is no table
            context["error"] = str(exc)
            return pages.render(request, "master_data.html", 422, **context)
        return pages.render(request, "master_data.html", **context)
