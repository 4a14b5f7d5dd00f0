"""Uploaded tables as CSV text: hospitals keep their stock lists and master data in Excel,
and save CSV from it in the encoding of their Windows (GB18030 on a Chinese one). An XLSX
file (the first sheet) is read with openpyxl; a CSV is UTF-8 (with or without a BOM) or,
failing that, GB18030. Anything else is `Invalid` with a message, never a crash."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

from central.errors import Invalid

MAX_ROWS = 200_000
MAX_COLUMNS = 64
BLANK_TAIL = 10_000
XLSX_MAGIC = b"PK\x03\x04"


def to_csv_text(raw: bytes) -> str:
    """The table in `raw` (XLSX or CSV bytes) as CSV text."""
    if raw.startswith(XLSX_MAGIC):
        return _xlsx(raw)
    if b"\x00" in raw:
        raise Invalid("the file is neither CSV text nor an XLSX workbook")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        raise Invalid("the CSV file is neither UTF-8 nor GB18030 text") from None


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return (
            value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
        )
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a GTIN or a quantity typed as a number
    return str(value).strip()


def _xlsx(raw: bytes) -> str:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a damaged workbook
        raise Invalid(f"the XLSX workbook cannot be read ({type(exc).__name__})") from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            raise Invalid("the XLSX workbook has no sheet")
        out = io.StringIO()
        writer = csv.writer(out)
        rows = blank = 0
        for row in sheet.iter_rows(values_only=True):
            cells = [_cell(v) for v in row[:MAX_COLUMNS]]
            while cells and not cells[-1]:
                cells.pop()
            if not cells:  # formatted but empty rows: skipped, and past many, the end
                blank += 1
                if blank > BLANK_TAIL:
                    break
                continue
            blank, rows = 0, rows + 1
            if rows > MAX_ROWS:
                raise Invalid(f"the sheet has more than {MAX_ROWS} rows")
            writer.writerow(cells)
        return out.getvalue()
    except Invalid:
        raise
    except Exception as exc:
        raise Invalid(f"the XLSX sheet cannot be read ({type(exc).__name__})") from None
    finally:
        book.close()
