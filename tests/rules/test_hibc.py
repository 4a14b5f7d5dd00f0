"""HIBC LIC parsing: the standard's examples, every secondary flag, refusals, and round trips
against the encoder."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules import hibc
from rules.hibc import HibcError, HibcLabel


def test_check_character_is_mod_43_of_the_whole_data() -> None:
    # '+'=41 'A'=10 '1'..'9' digits: the sum of +A12 = 41+10+1+2 = 54 -> 54 % 43 = 11 -> 'B'
    assert hibc.check_character("+A12") == "B"
    assert hibc.check_character("+") == "+"  # 41
    with pytest.raises(HibcError, match="not in the HIBC character set"):
        hibc.check_character("+a")


@pytest.mark.parametrize(
    ("text", "lic", "pcn", "uom"),
    [
        ("+A123BJC5D6E71G", "A123", "BJC5D6E7", 1),  # the standard's primary example
        ("+H123ABC01234567890D", "H123", "ABC0123456789", 0),
        ("*+A123BJC5D6E71G*", "A123", "BJC5D6E7", 1),  # human-readable with delimiters
        ("]C0+A123BJC5D6E71G", "A123", "BJC5D6E7", 1),  # with a symbology identifier
        ("]A0+A123BJC5D6E71G", "A123", "BJC5D6E7", 1),
    ],
)
def test_primary_examples(text: str, lic: str, pcn: str, uom: int) -> None:
    label = hibc.parse(text)
    assert (label.form, label.lic, label.pcn, label.uom) == ("primary", lic, pcn, uom)


def _secondary(data: str, link: str = "G") -> str:
    body = f"+{data}{link}"
    return body + hibc.check_character(body)


def _concatenated(primary: str, data: str) -> str:
    body = f"+{primary}/{data}"
    return body + hibc.check_character(body)


@pytest.mark.parametrize(
    ("data", "lot", "serial", "expiry", "quantity"),
    [
        ("$LOT123", "LOT123", None, None, None),
        ("$+SER-9.1", None, "SER-9.1", None, None),
        ("$$0528LOT1", "LOT1", None, date(2028, 5, 31), None),  # MMYY: end of the month
        ("$$1228LOT1", "LOT1", None, date(2028, 12, 31), None),
        ("$$2022928LOT2", "LOT2", None, date(2028, 2, 29), None),  # MMDDYY (a leap day)
        ("$$3280229LOT3", "LOT3", None, date(2028, 2, 29), None),  # YYMMDD
        ("$$428022923LOT4", "LOT4", None, date(2028, 2, 29), None),  # YYMMDDHH
        ("$$528060LOT5", "LOT5", None, date(2028, 2, 29), None),  # YYJJJ
        ("$$62836612LOT6", "LOT6", None, date(2028, 12, 31), None),  # YYJJJHH (day 366)
        ("$$7LOT7", "LOT7", None, None, None),  # no expiry
        ("$$8120528LOT8", "LOT8", None, date(2028, 5, 31), 12),  # 2-digit quantity, MMYY
        ("$$8123280501LOT8", "LOT8", None, date(2028, 5, 1), 12),  # quantity then $$3 date
        ("$$8057LOT8", "LOT8", None, None, 5),  # quantity, no date
        ("$$9001000528LOT9", "LOT9", None, date(2028, 5, 31), 100),  # 5-digit quantity
        ("$$+0528SER1", None, "SER1", date(2028, 5, 31), None),  # serial with MMYY
        ("$$+3280501SER3", None, "SER3", date(2028, 5, 1), None),
        ("$$+7SER7", None, "SER7", None, None),
        ("28060LOTOLD", "LOTOLD", None, date(2028, 2, 29), None),  # the old Julian form
        ("$$3280501LOT/SSN42", "LOT", "SN42", date(2028, 5, 1), None),  # supplemental serial
        ("$LOT/14D20280501", "LOT", None, date(2028, 5, 1), None),  # supplemental expiry
    ],
)
def test_secondary_flags_standalone_and_concatenated(
    data: str, lot: str | None, serial: str | None, expiry: date | None, quantity: int | None
) -> None:
    alone = hibc.parse(_secondary(data))
    assert (alone.form, alone.link) == ("secondary", "G")
    joined = hibc.parse(_concatenated("A123BJC5D6E71", data))
    assert (joined.form, joined.lic, joined.pcn, joined.uom) == (
        "concatenated",
        "A123",
        "BJC5D6E7",
        1,
    )
    for label in (alone, joined):
        assert (label.lot, label.serial, label.expiry, label.quantity) == (
            lot,
            serial,
            expiry,
            quantity,
        )


def test_supplemental_manufacture_date() -> None:
    label = hibc.parse(_secondary("$LOT/16D20260115"))
    assert label.manufactured == date(2026, 1, 15) and label.expiry is None


def test_two_line_label_link_character_is_checked() -> None:
    primary = hibc.parse("+A123BJC5D6E71G")
    good = hibc.parse(_secondary("$$0528LOT1", link="G"))
    joined = hibc.join(primary, good)
    assert (joined.lic, joined.lot, joined.expiry) == ("A123", "LOT1", date(2028, 5, 31))
    wrong = hibc.parse(_secondary("$$0528LOT1", link="X"))
    with pytest.raises(HibcError, match="link character 'X' does not match"):
        hibc.join(primary, wrong)


def test_encoder_refuses_a_labeler_code_without_a_letter_first() -> None:
    with pytest.raises(HibcError, match="must begin with a letter"):
        hibc.encode_primary("1234", "BJC", 1)


def test_space_check_character_printed_as_underscore() -> None:
    pcn = next(p for p in _ALNUM if hibc.check_character(f"+A123{p}1") == " ")
    assert hibc.parse(f"+A123{pcn}1 ").pcn == pcn
    assert hibc.parse(f"+A123{pcn}1_").pcn == pcn


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("+A123BJC5D6E71H", "check character 'H' is wrong"),
        ("A123BJC5D6E71G", "begins with '+'"),
        ("+a123bjc5d6e71G", "not in the HIBC character set"),
        ("+", "truncated"),
        (_secondary("$$1328LOT"), "month 13 does not exist"),
        (_secondary("$$0028LOT"), "month 00 does not exist"),
        (_secondary("$$2023028LOT"), "day 30 does not exist"),
        (_secondary("$$527366LOT"), "day 366 of 2027 does not exist"),
        (_secondary("$$428010125LOT"), "hour 25"),
        (_secondary("$$05"), "truncated or not digits"),
        (_secondary("$$8"), "quantity after '$$8' must be 2 digits"),
        (_secondary("$$9123"), "quantity after '$$9' must be 5 digits"),
        (_secondary("$" + "L" * 19), "longer than 18"),
        (_secondary("$+"), "serial is missing"),
        (_secondary("$LOT/X1"), "supplemental field"),
        (_secondary("$LOT/14D2028"), "supplemental field"),
        ("+1234BJC1/$LOTW", "Julian date YYJJJ is truncated"),  # digit first: the old form
        (_concatenated("A12", "$LOT"), "truncated"),
        (_concatenated("A123" + "P" * 19 + "1", "$LOT"), "longer than 18"),
        (_concatenated("A123BJCX", "$LOT"), "unit of measure must be a digit"),
        (_concatenated("A123BJ-1", "$LOT"), "only letters and digits"),
    ],
)
def test_refusals_name_what_is_wrong(text: str, why: str) -> None:
    with pytest.raises(HibcError, match=re.escape(why)):
        hibc.parse(text)


# --- round trips against the encoder ---------------------------------------------------------

_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_FIELD_CHARS = _ALNUM + "-. "
lics = st.builds(
    lambda a, b: a + b, st.sampled_from(_ALNUM[10:]), st.text(_ALNUM, min_size=3, max_size=3)
)
pcns = st.text(_ALNUM, min_size=1, max_size=18)
fields = st.text(_FIELD_CHARS, min_size=1, max_size=18)
days = st.dates(date(2000, 1, 1), date(2099, 12, 31))


@st.composite
def labels(draw: st.DrawFn) -> HibcLabel:
    fmt = draw(st.sampled_from(["", "2", "3", "4", "5", "6", "7", "old", "none"]))
    expiry = None if fmt in ("7", "none") else draw(days)
    if fmt == "" and expiry is not None:  # MMYY means the end of the month
        expiry = hibc._ymd(f"{expiry:%m}{expiry.year % 100:02d}", "MMYY")
    kind = draw(st.sampled_from(["lot", "serial", "both"] if fmt != "old" else ["lot", "both"]))
    lot = draw(fields) if kind in ("lot", "both") else None
    serial = draw(fields) if kind in ("serial", "both") else None
    quantity = (
        draw(st.none() | st.integers(0, 99_999)) if lot is not None and fmt != "old" else None
    )
    return HibcLabel(
        form="secondary",
        lic=draw(lics),
        pcn=draw(pcns),
        uom=draw(st.integers(0, 9)),
        lot=lot,
        serial=serial,
        expiry=expiry,
        quantity=quantity,
        date_format="" if fmt == "none" else fmt,
    )


def _same(a: HibcLabel, b: HibcLabel) -> bool:
    return (a.lot, a.serial, a.expiry, a.quantity) == (b.lot, b.serial, b.expiry, b.quantity)


@settings(max_examples=400, deadline=None)
@given(labels())
def test_round_trip_concatenated_and_two_line(label: HibcLabel) -> None:
    assert label.lic is not None and label.pcn is not None and label.uom is not None
    text = hibc.encode_concatenated(label)
    parsed = hibc.parse(text)
    assert (parsed.lic, parsed.pcn, parsed.uom) == (label.lic, label.pcn, label.uom)
    assert _same(parsed, label), text
    primary_text = hibc.encode_primary(label.lic, label.pcn, label.uom)
    primary = hibc.parse(primary_text)
    secondary = hibc.parse(hibc.encode_secondary(label, primary.check))
    assert _same(hibc.join(primary, secondary), label)
    assert hibc.parse(f"*{primary_text.replace(' ', '_')}*").pcn == label.pcn


@settings(max_examples=300, deadline=None)
@given(labels(), st.integers(0, 200), st.sampled_from(_ALNUM + "-. $/+%"))
def test_a_changed_character_is_caught_by_the_check(label: HibcLabel, at: int, new: str) -> None:
    text = hibc.encode_concatenated(label)
    i = at % (len(text) - 1) + 1  # not the flag
    if text[i] == new:
        return
    mutated = text[:i] + new + text[i + 1 :]
    with pytest.raises(HibcError):
        hibc.parse(mutated)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60) | st.text(_ALNUM + "-. $/+%*_", max_size=60).map(lambda s: "+" + s))
def test_fuzz_any_text_is_a_label_or_a_clear_error(text: str) -> None:
    try:
        hibc.parse(text)
    except HibcError as exc:
        assert str(exc)
