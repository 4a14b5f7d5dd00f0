"""Table exports: CSV (UTF-8 with a BOM, so spreadsheet programs read Chinese names right)
and XLSX (openpyxl, write-only), from the same header and rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi.responses import Response
from openpyxl import Workbook

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def table(name: str, fmt: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    """`name.csv` or `name.xlsx` as a download."""
    if fmt == "xlsx":
        book = Workbook(write_only=True)
        sheet = book.create_sheet(name[:31])
        sheet.append(list(header))
        for row in rows:
            sheet.append(["" if v is None else v for v in row])
        buf = io.BytesIO()
        book.save(buf)
        body, media = buf.getvalue(), XLSX
    else:
        text = io.StringIO()
        out = csv.writer(text)
        out.writerow(header)
        out.writerows(["" if v is None else v for v in row] for row in rows)
        body, media = ("\ufeff" + text.getvalue()).encode(), "text/csv; charset=utf-8"
    disposition = f'attachment; filename="{name}.{"xlsx" if fmt == "xlsx" else "csv"}"'
    return Response(body, media_type=media, headers={"Content-Disposition": disposition})
