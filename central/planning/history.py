"""Daily demand series per (location, gtin): from an analyst's CSV or from the ledger.

A series runs from its first day with a row to the last day of the whole history, so a product
that stopped moving keeps its trailing zeros. Several rows of one day add up (a return is a
negative row); a day whose returns exceed its takes is zero demand, not negative demand.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

from central.errors import Invalid, listed

COLUMNS = ("date", "location", "gtin", "quantity")
SeriesKey = tuple[str, str]  # (location, gtin)


class HistoryError(Invalid):
    """The history cannot be read; the message names every bad line."""


@dataclass(frozen=True)
class DailySeries:
    """Demand of one (location, gtin), one value per day from `start`."""

    start: date
    values: npt.NDArray[np.float64]

    @property
    def end(self) -> date:
        """The last day with a value."""
        return self.start + timedelta(days=len(self.values) - 1)


def read_history_csv(text: str) -> dict[SeriesKey, DailySeries]:
    """`date,location,gtin,quantity` rows (daily consumption) as daily series; refuses a
    file with a bad line, naming each one."""
    reader = csv.DictReader(io.StringIO(text))
    problems: list[str] = []
    days: list[tuple[date, SeriesKey, float]] = []
    try:
        if reader.fieldnames:  # a spreadsheet's header: " Date" is date
            reader.fieldnames = [(f or "").strip().lower() for f in reader.fieldnames]
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise HistoryError(f"history: CSV lacks columns {missing} (needs {','.join(COLUMNS)})")
        for row in reader:
            line = reader.line_num
            problem, parsed = _parse_row(row)
            if problem:
                problems.append(f"line {line}: {problem}")
            elif parsed is not None:
                days.append(parsed)
    except csv.Error as exc:
        raise HistoryError(f"history: line {reader.line_num}: {exc}") from None
    if problems:
        raise HistoryError(f"history: {listed(problems)}")
    if not days:
        raise HistoryError("history: no rows")
    return daily_series(days)


def _parse_row(
    row: Mapping[str | None, str | list[str] | None],
) -> tuple[str, tuple[date, SeriesKey, float] | None]:
    def field(name: str) -> str:
        value = row.get(name)
        return value.strip() if isinstance(value, str) else ""

    try:
        day = date.fromisoformat(field("date"))
    except ValueError:
        return f"date {field('date')[:40]!r} is not YYYY-MM-DD", None
    location, gtin = field("location"), field("gtin")
    if not location or not gtin:
        return "location and gtin must not be empty", None
    try:
        quantity = float(field("quantity"))
    except ValueError:
        return f"quantity {field('quantity')[:40]!r} is not a number", None
    if not math.isfinite(quantity):
        return f"quantity {field('quantity')[:40]!r} is not a finite number", None
    return "", (day, (location, gtin), quantity)


def daily_series(
    days: Iterable[tuple[date, SeriesKey, float]], end: date | None = None
) -> dict[SeriesKey, DailySeries]:
    """(day, key, quantity) facts as one series per key, each to `end` (default: the last
    day of any fact); missing days are zero, a negative net day is zero."""
    totals: dict[SeriesKey, dict[date, float]] = defaultdict(lambda: defaultdict(float))
    for day, key, quantity in days:
        totals[key][day] += quantity
    if not totals:
        return {}
    last = end or max(max(per_day) for per_day in totals.values())
    out: dict[SeriesKey, DailySeries] = {}
    for key, per_day in totals.items():
        start = min(per_day)
        if start > last:
            continue
        values = np.zeros((last - start).days + 1)
        for day, quantity in per_day.items():
            if day <= last:
                values[(day - start).days] = quantity
        out[key] = DailySeries(start, np.clip(values, 0.0, None))
    return out
