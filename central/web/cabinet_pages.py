"""Cabinets and consumption: the period's cabinet sessions (who, which case, what was
taken and returned) and consumption by department, user, case or product with its value,
within the user's scope (the cabinets at locations the user may see)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import select

from central import alerts, reports
from central.accounts import Principal, alert_in_scope
from central.clock import shown_days
from central.errors import Invalid
from central.ledger import Ledger
from central.models import Alert
from central.schemas import Day
from central.vocab import Permission
from central.web import export

if TYPE_CHECKING:
    from central.web import Pages

By = Literal["department", "user", "case", "product"]


def _figures(
    ledger: Ledger, who: Principal, start: date | None, end: date | None, by: str
) -> dict[str, Any]:
    """The period's sessions, anomalies and consumption in `who`'s scope (Invalid for a
    period that ends before it starts)."""
    first, stop = shown_days(start, end, ledger.clock.today())
    with ledger.session() as s:
        places = who.locations(s)
        scope = None if places is None else set(places)
        cabinet_alerts = s.scalars(
            select(Alert)
            .where(Alert.kind == "cabinet", Alert.raised_at >= first, Alert.raised_at < stop)
            .order_by(Alert.raised_at.desc())
            .limit(200)
        )
        return {
            "sessions": reports.cabinet_sessions(s, first, stop, places),
            "consumption": reports.consumption_by(s, first, stop, by, places),
            "anomalies": [alerts.as_dict(a) for a in cabinet_alerts
                          if alert_in_scope(who, a.key, scope)],
            "first": first.date(), "last": (stop - timedelta(days=1)).date(), "by": by,
        }  # fmt: skip


def register(app: FastAPI, pages: Pages, ledger: Ledger) -> None:
    @app.get("/ui/cabinets", include_in_schema=False)
    def cabinets_page(
        request: Request, start: Day | None = None, end: Day | None = None, by: By = "department"
    ) -> Response:
        who = pages.allowed(request, Permission.READ)
        if not isinstance(who, Principal):
            return who
        try:
            figures = _figures(ledger, who, start, end, by)
        except Invalid as exc:
            return pages.render(request, "message.html", 422, who=who, message=str(exc))
        return pages.render(request, "cabinets.html", who=who,
                            dimensions=reports.CONSUMPTION_BY, **figures)  # fmt: skip

    @app.get("/ui/cabinets/consumption.{fmt}", include_in_schema=False)
    def consumption_export(
        request: Request,
        fmt: Literal["csv", "xlsx"],
        start: Day | None = None,
        end: Day | None = None,
        by: By = "department",
    ) -> Response:
        who = pages.allowed(request, Permission.READ)
        if not isinstance(who, Principal):
            return who
        try:
            rows = _figures(ledger, who, start, end, by)["consumption"]
        except Invalid as exc:
            return pages.render(request, "message.html", 422, who=who, message=str(exc))
        header = [by, "name", "quantity", "value"]
        lines = [[r["key"], r["name"], r["quantity"], r["value"]] for r in rows]
        return export.table(f"consumption-by-{by}", fmt, header, lines)
