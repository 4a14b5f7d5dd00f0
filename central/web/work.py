"""Alerts and recalls: the alert inbox with acknowledgement, a batch's trace with the
recall lock (quality role, signed with a reason), the list of locked batches. Locks and
cold-chain acknowledgements are signed: the password again, at the moment of the action."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from fastapi import FastAPI, Form, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from central import alerts, signatures
from central.accounts import Principal, alerts_in_scope
from central.errors import LedgerError
from central.ledger import Ledger
from central.models import Alert, Batch, Location
from central.vocab import AlertState, Permission

if TYPE_CHECKING:
    from central.web import Pages


HISTORY_DAYS = 30
HISTORY_ROWS = 200


def register(app: FastAPI, pages: Pages, ledger: Ledger) -> None:
    def inbox(who: Principal, view: str) -> list[dict[str, object]]:
        """Open alerts (newest first), or those cleared in the last HISTORY_DAYS, in scope;
        with how often each was notified and its escalation tier."""
        with ledger.session() as s:
            found: Iterable[Alert]
            if view == "history":
                since = ledger.clock.now() - timedelta(days=HISTORY_DAYS)
                found = s.scalars(
                    select(Alert)
                    .where(Alert.state == AlertState.CLEARED, Alert.cleared_at >= since)
                    .order_by(Alert.cleared_at.desc())
                    .limit(HISTORY_ROWS)
                )
            else:
                found = reversed(alerts.open_alerts(s))
            return [
                alerts.as_dict(a) | {"tier": a.tier, "notify_count": a.notify_count}
                for a in alerts_in_scope(s, who, found)
            ]

    @app.get("/ui/alerts", include_in_schema=False)
    def alert_inbox(request: Request, view: Literal["open", "history"] = "open") -> Response:
        who = pages.allowed(request, Permission.READ)
        if not isinstance(who, Principal):
            return who
        return pages.render(request, "alerts.html", who=who, rows=inbox(who, view), view=view,
                            history_days=HISTORY_DAYS)  # fmt: skip

    @app.get("/ui/partials/alerts", include_in_schema=False)
    def alert_list(request: Request) -> Response:
        """The open alerts, for the inbox's live refresh."""
        who = pages.allowed(request, Permission.READ)
        if not isinstance(who, Principal):
            return who
        return pages.render(request, "alerts_list.html", who=who, rows=inbox(who, "open"),
                            view="open")  # fmt: skip

    @app.post("/ui/alerts/{alert_id}/ack", include_in_schema=False)
    def acknowledge(
        request: Request,
        alert_id: int = Path(ge=1, le=2**31 - 1),
        comment: str = Form("", max_length=2000),
        password: str = Form("", max_length=1000),
        csrf: str = Form(max_length=100),
    ) -> Response:
        """An excursion's acknowledgement is signed: the password again, the comment why."""
        who = pages.allowed(request, Permission.ACKNOWLEDGE, csrf=csrf)
        if not isinstance(who, Principal):
            return who
        try:
            signed = signatures.if_given(ledger.session.begin, who, password, comment,
                                         ledger.clock.now())  # fmt: skip
            with ledger.session.begin() as s:
                alerts.acknowledge(s, alert_id, who.user, comment, ledger.clock.now(), signed)
        except LedgerError as exc:
            return pages.render(request, "message.html", exc.http_status, who=who,
                                message=str(exc))  # fmt: skip
        return RedirectResponse("/ui/alerts", status_code=303)

    @app.get("/ui/batches", include_in_schema=False)
    def batches(request: Request, gtin: str = "", lot: str = "") -> Response:
        """A batch's trace (where every unit is and was), or the locked batches."""
        who = pages.allowed(request, Permission.READ)
        if not isinstance(who, Principal):
            return who
        trace = ledger.trace(gtin.zfill(14), lot) if gtin and lot else None
        with ledger.session() as s:
            locked = list(s.scalars(select(Batch).where(Batch.locked).order_by(Batch.gtin)))
            allowed = who.locations(s)
            if trace is not None and allowed is not None:  # only the places in scope
                codes = set(s.scalars(select(Location.code).where(Location.id.in_(allowed))))
                trace["units"] = [u for u in trace["units"] if u["location"] in codes]
                trace["movements"] = [m for m in trace["movements"]
                                      if m["from"] in codes or m["to"] in codes]  # fmt: skip
        return pages.render(request, "batches.html", who=who, trace=trace, gtin=gtin, lot=lot,
                            locked=locked)  # fmt: skip

    @app.post("/ui/batches/lock", include_in_schema=False)
    def lock(
        request: Request,
        gtin: str = Form(pattern=r"^[0-9]{1,14}$"),
        lot: str = Form(pattern=r"^[!-~]{1,20}$"),
        reason: str = Form(min_length=3, max_length=500),
        password: str = Form(min_length=1, max_length=1000),
        locked: bool = Form(True),
        csrf: str = Form(max_length=100),
    ) -> Response:
        """A recall lock or its lifting, signed: the password again and the reason."""
        who = pages.allowed(request, Permission.LOCK, csrf=csrf)
        if not isinstance(who, Principal):
            return who
        try:
            signed = signatures.sign(ledger.session.begin, who, password, reason,
                                     ledger.clock.now())  # fmt: skip
            ledger.lock_batch(gtin.zfill(14), lot, signed=signed, locked=locked)
        except LedgerError as exc:
            return pages.render(request, "message.html", exc.http_status, who=who,
                                message=str(exc))  # fmt: skip
        return RedirectResponse(f"/ui/batches?gtin={gtin}&lot={lot}", status_code=303)
