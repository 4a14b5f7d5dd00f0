"""Scan screens for stores and wards without RFID: receive a delivery, issue to a ward,
dispense to a case, take back returns and count stock, with a keyboard-wedge scanner in a
focused field or the phone's camera. Each scan is checked by the server at once (the
ledger's own resolution: product, batch, tag, FEFO lot, what is wrong) and answered with a
colour and a sound; the list books in one go, refused whole if any line is wrong.

Without JavaScript the page is a form: one scan per line in the text box, Check, Book."""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import FastAPI, Form, Path, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import Counter
from sqlalchemy import select

from central.accounts import Principal
from central.errors import LedgerError
from central.ledger import Ledger, ResolvedScan, ScanPurpose, new_receipt_number, split_codes
from central.models import Location, Product
from central.vocab import Permission
from central.web.alert_text import N_
from readers.label_printer import PrinterError, send_zpl
from rules.labels import LabelError, gs1_data, zpl
from rules.scan import ItemIdentity, ScanError, parse_scan

if TYPE_CHECKING:
    from starlette.datastructures import FormData

    from central.web import Pages

log = structlog.get_logger(__name__)
SCANS = Counter("hwms_web_scans_total", "Scans checked on the scan screens", ["purpose", "outcome"])
LABELS = Counter("hwms_web_labels_total", "Labels sent to the label printer", ["outcome"])

PERMISSION = {
    ScanPurpose.RECEIVE: Permission.RECEIVE,
    ScanPurpose.COUNT: Permission.STOCKTAKE,
    ScanPurpose.ISSUE: Permission.BOOK,
    ScanPurpose.DISPENSE: Permission.BOOK,
    ScanPurpose.RETURN: Permission.BOOK,
}
OUTCOMES = {
    "accepted": N_("Accepted"),
    "duplicate": N_("Already scanned"),
    "refused": N_("Refused"),
}
MAX_FORM = 1 << 20  # codes of one session
CODE = r"^[^\n]{1,512}$"
NUMBER = r"^([A-Za-z0-9][A-Za-z0-9 ._/#-]{0,79})?$"


PENDING = "lot and expiry needed"  # accepted; the storekeeper types them in the list


def groups(scans: list[ResolvedScan]) -> list[dict[str, Any]]:
    """Accepted scans per GTIN and lot: a count and the serials (with their scans)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in scans:
        if r.problem and r.problem != PENDING:
            continue
        g = out.setdefault((r.gtin, r.lot), {"gtin": r.gtin, "name": r.name, "lot": r.lot,
                                             "expiry": r.expiry, "count": 0, "serials": [],
                                             "codes": []})  # fmt: skip
        g["count"] += r.quantity
        g["expiry"] = g["expiry"] or r.expiry
        if g["lot"] and g["expiry"] and r.gtin:  # an internal label for untagged items
            g["label"] = "]d2" + gs1_data(
                ItemIdentity(source="gs1", gtin=r.gtin, lot=g["lot"], expiry=g["expiry"])
            )
        if r.ident is not None and r.ident.serial is not None:
            g["serials"].append((r.ident.serial, r.code))
    return list(out.values())


def _fill(form: FormData) -> dict[str, tuple[str, date | None]]:
    """Lot and expiry typed for a GTIN whose scans carry none (`lot:<gtin>`, `expiry:...`)."""
    out: dict[str, tuple[str, date | None]] = {}
    for key, value in form.multi_items():
        if key.startswith("lot:") and isinstance(value, str) and value.strip():
            gtin = key[4:]
            raw = form.get(f"expiry:{gtin}")
            try:
                expiry = date.fromisoformat(raw) if isinstance(raw, str) and raw else None
            except ValueError:
                expiry = None
            out[gtin] = (value.strip()[:20], expiry)
    return out


def _missing(scans: list[ResolvedScan], purpose: ScanPurpose) -> list[str]:
    """GTINs received from barcodes without lot or expiry: their typed lot and expiry stay
    on the page (once typed, the lines are complete, and the fields must stay sent)."""
    if purpose != ScanPurpose.RECEIVE:
        return []
    return sorted({
        r.gtin for r in scans
        if r.gtin and r.ident is not None and (r.ident.lot is None or r.ident.expiry is None)
        and (not r.problem or r.problem == PENDING) and not r.ident.serial
    })  # fmt: skip


def register(app: FastAPI, pages: Pages, ledger: Ledger, label_printer: str | None) -> None:
    def locations(who: Principal) -> list[str]:
        with ledger.session() as s:
            rows = s.execute(select(Location.code, Location.department).order_by(Location.code))
            return [code for code, dept in rows if who.covers(code, dept)]

    def in_scope(who: Principal, code: str) -> bool:
        with ledger.session() as s:
            dept = s.scalar(select(Location.department).where(Location.code == code))
        return who.covers(code, dept)

    def page(
        request: Request, who: Principal, purpose: ScanPurpose, status: int = 200, **extra: Any
    ) -> Response:
        form = extra.pop("form", {})
        context = {
            "who": who, "purpose": purpose.value, "purposes": [p.value for p in ScanPurpose
                                                               if who.may(PERMISSION[p])],
            "locations": locations(who), "form": form, "groups": [], "refused": [],
            "missing": [], "fill": {}, "error": "", "done": "", "printer": bool(label_printer),
        } | extra  # fmt: skip
        return pages.render(request, "scan.html", status, **context)

    def allowed(request: Request, purpose: str, csrf: str | None = None) -> Principal | Response:
        if purpose not in PERMISSION:
            return pages.render(request, "message.html", 404, who=pages.principal(request),
                                message=pages.text(request, "Not found."))  # fmt: skip
        return pages.allowed(request, PERMISSION[ScanPurpose(purpose)], csrf=csrf)

    @app.get("/ui/scan", include_in_schema=False)
    def scan_menu(request: Request) -> Response:
        who = pages.allowed(request, Permission.READ)
        if not isinstance(who, Principal):
            return who
        first = next((p for p in ScanPurpose if who.may(PERMISSION[p])), None)
        if first is None:
            message = pages.text(request, "Your role may not do this.")
            return pages.render(request, "message.html", 403, who=who, message=message)
        return page(request, who, first)

    @app.get("/ui/scan/{purpose}", include_in_schema=False)
    def scan_page(request: Request, purpose: str = Path(max_length=20)) -> Response:
        who = allowed(request, purpose)
        if not isinstance(who, Principal):
            return who
        return page(request, who, ScanPurpose(purpose))

    @app.post("/ui/scan/{purpose}/check", include_in_schema=False)
    async def check(request: Request, purpose: str = Path(max_length=20)) -> Response:
        """One new scan (`code`) against the session so far (`codes`): JSON with the
        outcome for the new one and the list, re-rendered."""
        form = await request.form(max_files=0, max_part_size=MAX_FORM)
        csrf = form.get("csrf")
        who = allowed(request, purpose, csrf=csrf if isinstance(csrf, str) else "")
        if not isinstance(who, Principal):
            return _refusal(request, who)
        return await _run(_check, request, who, ScanPurpose(purpose), form)

    def _refusal(request: Request, page: Response) -> JSONResponse:
        """The page's refusal said to a script: logged out (the login page), or not
        allowed (role, scope or an expired form: the 403 page says which)."""
        if page.status_code == 303:
            message = pages.text(request, "Your session ended; log in again.")
            return JSONResponse({"outcome": "refused", "message": message}, status_code=401)
        body = bytes(page.body).decode() if hasattr(page, "body") else ""
        said = [pages.text(request, m) for m in ("The form expired; please try again.",
                                                 "Not found.")]  # fmt: skip
        message = next((m for m in said if m in body), "") or pages.text(
            request, "Your role may not do this."
        )
        return JSONResponse({"outcome": "refused", "message": message},
                            status_code=page.status_code)  # fmt: skip

    def _check(request: Request, who: Principal, purpose: ScanPurpose, form: FormData) -> Response:
        location, code = _text(form, "location"), _text(form, "code")
        codes = split_codes(_text(form, "codes"))
        if not location or not in_scope(who, location):
            message = pages.text(request, "Choose a location of yours first.")
            return JSONResponse({"outcome": "refused", "message": message}, status_code=422)
        if not code.strip() or "\n" in code or len(code) > 512:
            return JSONResponse({"outcome": "refused",
                                 "message": pages.text(request, "The scan is empty.")})  # fmt: skip
        try:
            scans = ledger.resolve_scans([*codes, code], purpose, location, fill=_fill(form))
        except LedgerError as exc:
            return JSONResponse({"outcome": "refused", "message": str(exc)}, status_code=422)
        last = scans[-1]
        before = [r for r in scans[:-1] if not r.problem or r.problem == PENDING]
        joined = len(scans) == len(codes)  # a second HIBC line took the place of its first
        if last.problem == "scanned twice":
            outcome = "duplicate"
        elif last.problem and last.problem != PENDING:
            outcome = "refused"
        else:
            outcome = "accepted"
        SCANS.labels(purpose=purpose.value, outcome=outcome).inc()
        if outcome == "refused":
            log.info("scan refused", purpose=purpose.value, user=who.user, reason=last.problem)
        shown = [*before, last] if outcome == "accepted" else before
        html = (
            pages.templates[pages.lang(request)]
            .get_template("scan_lines.html")
            .render(
                groups=groups(shown),
                missing=_missing(shown, purpose),
                fill=_fill(form),
                purpose=purpose.value,
                printer=bool(label_printer),
            )
        )
        message = last.problem or " ".join(
            x for x in (last.name or last.gtin, last.lot, last.ident.serial if last.ident else "")
            if x
        )  # fmt: skip
        label = pages.text(request, OUTCOMES[outcome])
        return JSONResponse({"outcome": outcome, "label": label, "message": message,
                             "joined": joined, "line": last.to_json(), "html": html})  # fmt: skip

    @app.post("/ui/scan/{purpose}", include_in_schema=False)
    async def book(request: Request, purpose: str = Path(max_length=20)) -> Response:
        form = await request.form(max_files=0, max_part_size=MAX_FORM)
        csrf = form.get("csrf")
        who = allowed(request, purpose, csrf=csrf if isinstance(csrf, str) else "")
        if not isinstance(who, Principal):
            return who
        return await _run(_book, request, who, ScanPurpose(purpose), form)

    def _book(request: Request, who: Principal, purpose: ScanPurpose, form: FormData) -> Response:
        fields = {k: _text(form, k) for k in ("location", "to_location", "case_id", "reason",
                                              "number", "codes", "epcs")}  # fmt: skip
        location, codes, fill = fields["location"], split_codes(fields["codes"]), _fill(form)
        again: dict[str, Any] = {"form": fields, "fill": fill}
        if not location or not in_scope(who, location):
            error = pages.text(request, "Choose a location of yours first.")
            return page(request, who, purpose, 403, error=error, **again)
        try:
            scans = ledger.resolve_scans(codes, purpose, location, fill=fill)
        except LedgerError as exc:
            return page(request, who, purpose, exc.http_status, error=str(exc), **again)
        again |= {"groups": groups(scans), "missing": _missing(scans, purpose),
                  "refused": [r for r in scans if r.problem and r.problem != PENDING]}  # fmt: skip
        if form.get("action") == "check":
            return page(request, who, purpose, **again)
        try:
            done = _do(who, purpose, codes, scans, fields, fill)
        except LedgerError as exc:
            return page(request, who, purpose, exc.http_status, error=str(exc), **again)
        log.info("scans booked", purpose=purpose.value, user=who.user, scans=len(codes))
        return page(request, who, purpose, done=done, form={"location": location})

    def _do(
        who: Principal,
        purpose: ScanPurpose,
        codes: list[str],
        scans: list[ResolvedScan],
        fields: dict[str, str],
        fill: dict[str, tuple[str, date | None]],
    ) -> dict[str, Any]:
        location = fields["location"]
        if purpose == ScanPurpose.RECEIVE:
            number = fields["number"] or new_receipt_number(ledger.clock.now())
            notices = {r.code: r.notice for r in scans if r.notice is not None}
            items = [c for c in codes if c not in notices]
            n = ledger.receive_scans(items, location=location, actor=who.user, number=number,
                                     fill=fill) if items else 0  # fmt: skip
            for notice in notices.values():  # each against its purchase order, its receipt
                order = ledger.receive_ship_notice(who, notice)
                (booked,) = [sn for sn in order["ship_notices"] if sn["id"] == notice]
                n += sum(ln["quantity"] for ln in booked["lines"])
                number = number if items else booked["receipt"]
            return {"received": n, "number": number}
        if purpose == ScanPurpose.COUNT:
            epcs = tuple(e.strip() for e in fields["epcs"].split() if e.strip())
            report = ledger.count_scans(location, codes, user=who.user, epcs=epcs)
            return {"stocktake": report["id"]}
        n = ledger.move_scans(purpose, codes, location=location, user=who.user,
                              to_location=fields["to_location"], case_id=fields["case_id"],
                              reason=fields["reason"] or str(purpose))  # fmt: skip
        return {"moved": n}

    @app.post("/ui/scan-label", include_in_schema=False)
    def label(
        request: Request,
        csrf: str = Form(max_length=100),
        code: str = Form(pattern=CODE),
        copies: int = Form(1, ge=1, le=99),
    ) -> Response:
        """Write a tag for a scanned serialised item (or print an internal GS1 DataMatrix
        label for an unserialised one) on the configured RFID label printer."""
        who = pages.allowed(request, Permission.RECEIVE, csrf=csrf)
        if not isinstance(who, Principal):
            refused = _refusal(request, who)
            said = json.loads(bytes(refused.body))["message"]
            return JSONResponse({"ok": False, "message": said},
                                status_code=refused.status_code)  # fmt: skip
        if not label_printer:
            LABELS.labels(outcome="no_printer").inc()
            message = pages.text(request, "No label printer is configured.")
            return JSONResponse({"ok": False, "message": message}, status_code=409)
        try:
            ident = parse_scan(code)
            with ledger.session() as s:
                name = s.scalar(select(Product.name).where(Product.gtin == ident.gtin)) or ""
            job = zpl(ident, name=name, write_tag=ident.serial is not None, copies=copies)
            host, _, port = label_printer.rpartition(":")
            send_zpl(host, int(port), job)
        except (ScanError, LabelError) as exc:
            LABELS.labels(outcome="refused").inc()
            return JSONResponse({"ok": False, "message": str(exc)}, status_code=422)
        except PrinterError as exc:
            LABELS.labels(outcome="printer_error").inc()
            log.warning("label printer failed", printer=label_printer, error=str(exc))
            return JSONResponse({"ok": False, "message": str(exc)}, status_code=502)
        LABELS.labels(outcome="printed").inc()
        epc = ident.epc_uri() if ident.serial is not None else None
        log.info("label printed", user=who.user, gtin=ident.gtin, epc=epc)
        return JSONResponse({"ok": True, "epc": epc, "message": epc or ident.gtin or ""})


async def _run(fn: Any, *args: Any) -> Response:
    from fastapi.concurrency import run_in_threadpool

    result: Response = await run_in_threadpool(fn, *args)
    return result


def _text(form: FormData, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""
