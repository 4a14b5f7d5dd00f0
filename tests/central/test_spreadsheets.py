"""Uploaded tables: XLSX sheets and CSV in UTF-8 or GB18030 become CSV text; a damaged or
hostile file is `Invalid` with a message, never another exception (fuzzed)."""

from __future__ import annotations

import contextlib
import io
from datetime import date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from central.errors import Invalid
from central.spreadsheets import to_csv_text


def workbook(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


GOOD = workbook([["location", "gtin", "lot", "expiry", "quantity"],
                 ["s1/store", 4012345000016, "L1", datetime(2030, 5, 31), 40.0],
                 [None, None, None, None, None],
                 ["s1/ward-5", "04012345000016", "批号-7", date(2029, 1, 2), 3]])  # fmt: skip


def test_a_sheet_becomes_csv_with_numbers_and_dates_as_typed_by_people() -> None:
    assert to_csv_text(GOOD).splitlines() == [
        "location,gtin,lot,expiry,quantity",
        "s1/store,4012345000016,L1,2030-05-31,40",
        "s1/ward-5,04012345000016,批号-7,2029-01-02,3",
    ]


def test_csv_in_utf8_with_a_bom_or_gb18030() -> None:
    text = "gtin,name\n04012345000016,生理盐水\n"
    assert to_csv_text(("\ufeff" + text).encode()) == text
    assert to_csv_text(text.encode("gb18030")) == text


def test_not_a_table() -> None:
    with pytest.raises(Invalid, match="neither CSV text nor an XLSX"):
        to_csv_text(b"\x00\x01binary")
    with pytest.raises(Invalid, match="cannot be read"):
        to_csv_text(b"PK\x03\x04" + b"garbage" * 100)


def test_a_sheet_too_long_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from central import spreadsheets

    monkeypatch.setattr(spreadsheets, "MAX_ROWS", 20)
    with pytest.raises(Invalid, match="more than 20 rows"):
        to_csv_text(workbook([[i] for i in range(30)]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_damaged_workbooks_and_random_bytes(data: st.DataObject) -> None:
    """Random bytes, and the good workbook with bytes flipped, cut or inserted: CSV text
    or Invalid, nothing else."""
    raw = bytearray(GOOD)
    choice = data.draw(st.sampled_from(["random", "flip", "cut", "insert"]))
    if choice == "random":
        raw = bytearray(data.draw(st.binary(max_size=4000)))
    elif choice == "flip":
        for _ in range(data.draw(st.integers(1, 20))):
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] = data.draw(st.integers(0, 255))
    elif choice == "cut":
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    else:
        i = data.draw(st.integers(0, len(raw)))
        raw[i:i] = data.draw(st.binary(min_size=1, max_size=200))
    with contextlib.suppress(Invalid):
        assert isinstance(to_csv_text(bytes(raw)), str)
