"""The cold-chain screens: every monitored unit in scope with its state, and one unit's
temperatures over a period (a chart with its alarm limits and the excursions shaded, drawn
by ECharts from an option the server builds) with min/max/MKT per day."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import FastAPI, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from central import coldchain
from central import coldchain_report as reports
from central.accounts import Principal
from central.clock import shown_days
from central.errors import Invalid, LedgerError
from central.ledger import Ledger
from central.models import ColdChainReport, ColdSensor
from central.schemas import Day
from central.vocab import Permission

if TYPE_CHECKING:
    from central.web import Pages


def chart_option(
    points: list[tuple[Any, float | None, float | None, float | None]],
    bucket_s: int,
    unit: ColdSensor,
    labels: dict[str, str],
) -> dict[str, Any]:
    """An ECharts option: min, mean and max over time, the limits as lines, excursions as
    shaded areas; the tooltip drawn in the canvas (the page's CSP forbids inline styles)."""

    def line(name: str, i: int, **extra: Any) -> dict[str, Any]:
        data = [[int(p[0].timestamp() * 1000), p[i]] for p in points]
        return {"name": name, "type": "line", "showSymbol": False, "data": data,
                "connectNulls": False, **extra}  # fmt: skip

    bounds = ((unit.high_c, labels["high"]), (unit.low_c, labels["low"]))
    limits = [{"yAxis": v, "name": n} for v, n in bounds if v is not None]
    shaded = [
        [{"xAxis": int(a.timestamp() * 1000)}, {"xAxis": int(b.timestamp() * 1000)}]
        for a, b in coldchain.excursions(points, bucket_s, unit.low_c, unit.high_c)
    ]
    mean = line(labels["mean"], 2, lineStyle={"width": 2},
                markLine={"symbol": "none", "data": limits, "lineStyle": {"color": "#b00020"},
                          "label": {"formatter": "{b} {c} °C", "position": "insideEndTop"}},
                markArea={"silent": True, "itemStyle": {"color": "rgba(176,0,32,0.15)"},
                          "data": shaded})  # fmt: skip
    return {
        "animation": False,
        "aria": {"enabled": True},
        "tooltip": {"trigger": "axis", "renderMode": "richText"},
        "legend": {"top": 0},
        "grid": {"left": 48, "right": 16, "top": 32, "bottom": 32},
        "xAxis": {"type": "time"},
        "yAxis": {"type": "value", "name": "°C", "scale": True},
        "series": [line(labels["min"], 1, lineStyle={"type": "dashed", "width": 1}), mean,
                   line(labels["max"], 3, lineStyle={"type": "dashed", "width": 1})],
    }  # fmt: skip


def register(app: FastAPI, pages: Pages, ledger: Ledger) -> None:
    @app.get("/ui/coldchain", include_in_schema=False)
    def units_page(request: Request) -> Response:
        who = pages.allowed(request, Permission.READ)
        if not isinstance(who, Principal):
            return who
        with ledger.session() as s:
            units = coldchain.units(s, ledger.clock.now(), who)
        return pages.render(request, "coldchain.html", who=who, units=units)

    @app.get("/ui/coldchain/{sensor_id}", include_in_schema=False)
    def unit_page(
        request: Request,
        sensor_id: int = Path(ge=1, le=2**31 - 1),
        start: Day | None = None,
        end: Day | None = None,
        saved: int = Query(0, ge=0, le=2**31 - 1),
    ) -> Response:
        who = pages.allowed(request, Permission.READ)
        if not isinstance(who, Principal):
            return who
        return unit_view(request, who, sensor_id, start, end, saved=saved)

    def unit_view(
        request: Request, who: Principal, sensor_id: int, start: date | None, end: date | None,
        *, saved: int = 0, error: str = "", status: int = 200,
    ) -> Response:  # fmt: skip
        """The unit's page (with a refusal of the signing form when there is one)."""
        today = ledger.clock.today()
        try:
            first, stop = shown_days(start, end, today, default_days=2)
        except Invalid as exc:
            return pages.render(request, "message.html", 422, who=who, message=str(exc))
        with ledger.session() as s:
            unit = next((u for u in coldchain.units(s, ledger.clock.now(), who)
                         if u.id == sensor_id), None)  # fmt: skip
            sensor = s.get(ColdSensor, sensor_id)
            if unit is None or sensor is None:  # unknown, or out of the user's scope
                message = pages.text(request, "No such cold-chain unit in your scope.")
                return pages.render(request, "message.html", 404, who=who, message=message)
            bucket, points = coldchain.series(s, sensor_id, first, stop)
            days = coldchain.daily(s, sensor, first, stop)
        labels = {
            "min": pages.text(request, "Minimum"),
            "mean": pages.text(request, "Mean"),
            "max": pages.text(request, "Maximum"),
            "high": pages.text(request, "High alarm"),
            "low": pages.text(request, "Low alarm"),
        }
        option = chart_option(points, bucket, sensor, labels)
        return pages.render(
            request, "coldchain_unit.html", status, who=who, unit=unit, days=days, bucket=bucket,
            first=first.date(), last=(stop - timedelta(days=1)).date(), points=len(points),
            option=option, stop=stop.date(), kept=reports.kept_reports(ledger, sensor_id),
            error=error, saved=saved,
        )  # fmt: skip

    @app.get("/ui/coldchain/{sensor_id}/report.{fmt}", include_in_schema=False)
    def report_file(
        request: Request, fmt: Literal["pdf", "csv"], start: Day, end: Day,
        sensor_id: int = Path(ge=1, le=2**31 - 1),
    ) -> Response:  # fmt: skip
        """The period's record as it is now (`end` exclusive), not signed."""
        who = pages.allowed(request, Permission.READ)
        if not isinstance(who, Principal):
            return who
        try:
            sensor = reports.scoped_sensor(ledger, who, sensor_id)
            with ledger.session() as s:
                got = reports.unit_report(s, sensor, start, end) | {"signature": None}
        except LedgerError as exc:
            return pages.render(request, "message.html", exc.http_status, who=who,
                                message=str(exc))  # fmt: skip
        body, media, disposition = reports.download(got, fmt)
        return Response(body, media_type=media, headers={"Content-Disposition": disposition})

    @app.post("/ui/coldchain/{sensor_id}/reports", include_in_schema=False)
    def sign(
        request: Request, start: Annotated[Day, Form()], end: Annotated[Day, Form()],
        password: str = Form(max_length=1000), reason: str = Form("", max_length=2000),
        csrf: str = Form(max_length=100), sensor_id: int = Path(ge=1, le=2**31 - 1),
    ) -> Response:  # fmt: skip
        """The reviewer signs the shown period: their password again and a reason."""
        who = pages.allowed(request, Permission.REVIEW, csrf=csrf)
        if not isinstance(who, Principal):
            return who
        try:
            kept = reports.sign_report(ledger, who, sensor_id, start, end, password=password,
                                       reason=reason)  # fmt: skip
        except LedgerError as exc:
            last = end - timedelta(days=1)
            return unit_view(request, who, sensor_id, start, last, error=str(exc),
                             status=exc.http_status)  # fmt: skip
        last = end - timedelta(days=1)
        return RedirectResponse(f"/ui/coldchain/{sensor_id}?start={start}&end={last}"
                                f"&saved={kept['id']}", status_code=303)  # fmt: skip

    @app.post("/ui/coldchain/reports/{report_id}/sign", include_in_schema=False)
    def sign_kept(
        request: Request, password: str = Form(max_length=1000),
        reason: str = Form("", max_length=2000), csrf: str = Form(max_length=100),
        report_id: int = Path(ge=1, le=2**31 - 1),
    ) -> Response:  # fmt: skip
        """The reviewer signs a kept record the ledger made (a unit's last month)."""
        who = pages.allowed(request, Permission.REVIEW, csrf=csrf)
        if not isinstance(who, Principal):
            return who
        try:
            kept = reports.sign_kept(ledger, who, report_id, password=password, reason=reason)
        except LedgerError as exc:
            return pages.render(request, "message.html", exc.http_status, who=who,
                                message=str(exc))  # fmt: skip
        with ledger.session() as s:
            sensor_id = s.scalar(select(ColdChainReport.sensor_id)
                                 .where(ColdChainReport.id == report_id))  # fmt: skip
        return RedirectResponse(f"/ui/coldchain/{sensor_id}?saved={kept['id']}", status_code=303)

    @app.get("/ui/coldchain/reports/{report_id}.{fmt}", include_in_schema=False)
    def kept_file(
        request: Request, fmt: Literal["pdf", "csv"], report_id: int = Path(ge=1, le=2**31 - 1)
    ) -> Response:
        """A kept report as it was signed."""
        who = pages.allowed(request, Permission.READ)
        if not isinstance(who, Principal):
            return who
        try:
            got = reports.kept_report(ledger, who, report_id)
        except LedgerError as exc:
            return pages.render(request, "message.html", exc.http_status, who=who,
                                message=str(exc))  # fmt: skip
        body, media, disposition = reports.download(got, fmt)
        return Response(body, media_type=media, headers={"Content-Disposition": disposition})
