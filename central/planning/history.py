"""Daily demand series per (location, gtin): from an analyst's CSV or from the ledger.

A series runs from its first day with a row to the last day of the whole history, so a product
that stopped moving keeps its trailing zeros. Several rows of one day add up (a return is a
negative row); a day whose returns exceed its takes is zero demand, not negative demand.
"""

from __future__ import annotations

import csv
import io
import math
from array import array
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TextIO

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


def read_history_csv(source: str | TextIO) -> dict[SeriesKey, DailySeries]:
    """`date,location,gtin,quantity` rows (daily consumption) as daily series; refuses a
    file with a bad line, naming each one. Reads a stream row by row and keeps two numbers a
    row (a day and a quantity), so ten thousand series of two years fit in little memory."""
    reader = csv.reader(io.StringIO(source) if isinstance(source, str) else source)
    problems: list[str] = []
    facts: dict[SeriesKey, tuple[array[int], array[float]]] = {}
    try:
        header = [f.strip().lower() for f in next(reader, [])]  # a spreadsheet's " Date"
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise HistoryError(f"history: CSV lacks columns {missing} (needs {','.join(COLUMNS)})")
        at = [header.index(c) for c in COLUMNS]
        width = max(at) + 1
        for row in reader:
            if not row:
                continue  # a blank line
            problem, parsed = _parse_row(row, at, width)
            if problem:
                problems.append(f"line {reader.line_num}: {problem}")
                continue
            assert parsed is not None
            day, key, quantity = parsed
            days, quantities = facts.setdefault(key, (array("i"), array("d")))
            days.append(day)
            quantities.append(quantity)
    except csv.Error as exc:
        raise HistoryError(f"history: line {reader.line_num}: {exc}") from None
    if problems:
        raise HistoryError(f"history: {listed(problems)}")
    if not facts:
        raise HistoryError("history: no rows")
    last = max(max(days) for days, _q in facts.values())
    out = {}
    for key, (days, quantities) in facts.items():
        ordinals = np.frombuffer(days, dtype=np.int32).astype(np.int64)
        first = int(ordinals.min())
        values = np.bincount(ordinals - first, weights=np.frombuffer(quantities),
                             minlength=last - first + 1)  # fmt: skip
        out[key] = DailySeries(date.fromordinal(first), np.clip(values, 0.0, None))
    return out


def _parse_row(
    row: list[str], at: list[int], width: int
) -> tuple[str, tuple[int, SeriesKey, float] | None]:
    """(problem, (day's ordinal, key, quantity))."""
    if len(row) < width:
        return f"{len(row)} fields where {width} are needed", None
    day_text, location, gtin, quantity_text = (row[i].strip() for i in at)
    try:
        day = date.fromisoformat(day_text).toordinal()
    except ValueError:
        return f"date {day_text[:40]!r} is not YYYY-MM-DD", None
    if not location or not gtin:
        return "location and gtin must not be empty", None
    try:
        quantity = float(quantity_text)
    except ValueError:
        return f"quantity {quantity_text[:40]!r} is not a number", None
    if not math.isfinite(quantity):
        return f"quantity {quantity_text[:40]!r} is not a finite number", None
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
