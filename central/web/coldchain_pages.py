"""The cold-chain screens: every monitored unit in scope with its state, and one unit's
temperatures over a period (a chart with its alarm limits and the excursions shaded, drawn
by ECharts from an option the server builds) with min/max/MKT per day."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Path, Request
from fastapi.responses import Response

from central import coldchain
from central.accounts import Principal
from central.clock import shown_days
from central.errors import Invalid
from central.ledger import Ledger
from central.models import ColdSensor
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
    ) -> Response:
        who = pages.allowed(request, Permission.READ)
        if not isinstance(who, Principal):
            return who
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
            request, "coldchain_unit.html", who=who, unit=unit, days=days, bucket=bucket,
            first=first.date(), last=(stop - timedelta(days=1)).date(), points=len(points),
            option=option,
        )  # fmt: skip
