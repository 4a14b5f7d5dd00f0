"""ECharts options built on the server (the browser only draws them: static/charts.js
reads the JSON, so the CSP needs no inline script). Every chart has its table beside it
on the page: the chart is for the eye, the table for reading, printing and screen readers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

BASE: dict[str, Any] = {
    "animation": False,
    "aria": {"enabled": True},
    "tooltip": {"trigger": "axis", "renderMode": "richText"},
    "grid": {"left": 64, "right": 24, "top": 32, "bottom": 32, "containLabel": True},
}


def bars(labels: Sequence[str], series: dict[str, Sequence[float]], *, horizontal: bool = False,
         lines: Sequence[str] = ()) -> dict[str, Any]:  # fmt: skip
    """Bars (or, for the names in `lines`, lines on a second axis) over category labels."""
    categories = {"type": "category", "data": list(labels)}
    values: list[dict[str, Any]] = [{"type": "value"}]
    if lines:
        values.append({"type": "value", "splitLine": {"show": False}})
    plotted = []
    for name, data in series.items():
        one: dict[str, Any] = {"name": name, "type": "line" if name in lines else "bar",
                               "data": [float(v) for v in data]}  # fmt: skip
        if name in lines:
            one["yAxisIndex"] = 1
        plotted.append(one)
    axes = {"yAxis": categories, "xAxis": values[0]} if horizontal else {
        "xAxis": categories, "yAxis": values}  # fmt: skip
    if horizontal:
        axes["yAxis"] = categories | {"inverse": True}
    return BASE | {"legend": {"top": 0}} | axes | {"series": plotted}
