"""The reports screen: KPIs, consumption by department and product with value, top
consumers, near-expiry value and slow movers, for a period (default: the last 30 days);
the consumption exports as CSV. Scoped users see their departments' consumption only,
hospital-wide figures need an unscoped user."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import Response

from central import reports
from central.accounts import Principal
from central.clock import shown_days
from central.errors import Invalid
from central.ledger import Ledger
from central.schemas import Day
from central.vocab import Permission
from central.web import charts, export

if TYPE_CHECKING:
    from central.web import Pages


def _figures(ledger: Ledger, who: Principal, start: date | None, end: date | None) -> Any:
    today = ledger.clock.today()
    first, stop = shown_days(start, end, today)
    with ledger.session() as s:
        consumption = reports.consumption(s, first, stop)
        if who.departments:
            consumption = [r for r in consumption if r["department"] in who.departments]
        wide = not who.sites and not who.departments
        last = (stop - timedelta(days=1)).date()
        trend = reports.monthly_consumption(s, last, 12, who.departments)
        ranking = reports.department_ranking(consumption)
        return {
            "first": first.date(), "last": last, "consumption": consumption,
            "trend": trend, "ranking": ranking,
            "kpis": reports.kpis(s, first, stop, today) if wide else None,
            "top": reports.top_consumers(s, first, stop, 10) if wide else [],
            "expiry": reports.near_expiry_value(s, today, 90) if wide else None,
            "slow": reports.slow_movers(s, ledger.clock.now(), 90)[:50] if wide else [],
        }  # fmt: skip


def register(app: FastAPI, pages: Pages, ledger: Ledger) -> None:
    @app.get("/ui/reports", include_in_schema=False)
    def reports_page(
        request: Request, start: Day | None = None, end: Day | None = None
    ) -> Response:
        who = pages.allowed(request, Permission.READ)
        if not isinstance(who, Principal):
            return who
        try:
            figures = _figures(ledger, who, start, end)
        except Invalid as exc:
            return pages.render(request, "message.html", 422, who=who, message=str(exc))
        value, items = pages.text(request, "Value"), pages.text(request, "Items")
        trend_chart = charts.bars(
            [m["month"] for m in figures["trend"]],
            {value: [float(m["value"]) for m in figures["trend"]],
             items: [m["items"] for m in figures["trend"]]},
            lines=[items],
        )  # fmt: skip
        ranking_chart = charts.bars(
            [r["department"] for r in figures["ranking"]],
            {value: [float(r["value"]) for r in figures["ranking"]]},
            horizontal=True,
        )
        return pages.render(request, "reports.html", who=who, trend_chart=trend_chart,
                            ranking_chart=ranking_chart, **figures)  # fmt: skip

    @app.get("/ui/reports/{table}.{fmt}", include_in_schema=False)
    def report_export(
        request: Request,
        table: Literal["consumption", "trend", "ranking", "expiry", "top", "slow", "kpis"],
        fmt: Literal["csv", "xlsx"],
        start: Day | None = None,
        end: Day | None = None,
    ) -> Response:
        """Each table of the reports page as CSV or XLSX, for the same period and scope."""
        who = pages.allowed(request, Permission.READ)
        if not isinstance(who, Principal):
            return who
        try:
            figures = _figures(ledger, who, start, end)
        except Invalid as exc:
            return pages.render(request, "message.html", 422, who=who, message=str(exc))
        header = list(EXPORTS[table])
        rows: list[dict[str, Any]]
        if table == "expiry":
            rows = figures["expiry"]["lines"] if figures["expiry"] else []
        elif table == "kpis":
            k = figures["kpis"] or {}
            rows = [{"figure": name, "value": value} for name, value in _flat(k)]
        else:
            rows = figures[table]
        return export.table(f"{table}-{figures['first']}-{figures['last']}", fmt, header,
                            [[r.get(k) for k in header] for r in rows])  # fmt: skip


EXPORTS = {
    "consumption": ("department", "gtin", "product", "quantity", "value"),
    "trend": ("month", "items", "value"),
    "ranking": ("department", "items", "value"),
    "expiry": ("location", "gtin", "lot", "expiry", "days_left", "quantity", "value"),
    "top": ("user", "items", "cases"),
    "slow": ("location", "gtin", "lot", "quantity", "last_moved"),
    "kpis": ("figure", "value"),
}


def _flat(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested KPI figures as (dotted name, value) rows."""
    out: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            out += _flat(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out
