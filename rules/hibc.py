"""HIBC LIC (ANSI/HIBC 2.x) labels: parsing and encoding, table-driven, pure.

No maintained Python library reads HIBC, so this is written here and tested against its own
encoder (hypothesis round trips) and the standard's examples. What a label carries:

- primary: `+` labeler code (4, the first a letter), product/catalogue number (1-18),
  unit of measure (one digit), mod-43 check character;
- secondary: `+` data, link character (the primary's check character), check character;
- concatenated: `+` primary data `/` secondary data, one check character.

Secondary data begins with a flag: `$` lot, `$+` serial, `$$` expiry (MMYY) and lot,
`$$2`..`$$7` another date format (7: none) and lot, `$$8`/`$$9` a 2/5-digit quantity then
a date and lot, `$$+` a date and serial; a digit begins the old form (YYJJJ and lot).
Supplemental fields may follow: `/S` serial, `/14D` expiry and `/16D` manufacture
(YYYYMMDD). Human-readable `*` delimiters, a symbology identifier and an `_` printed for a
space check character are accepted. Two-digit years are 20YY (the standard has no window).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, replace
from datetime import date
from typing import Final

CHARSET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. $/+%"
_VALUE: Final = {c: i for i, c in enumerate(CHARSET)}
MAX_FIELD: Final = 18  # product number, lot and serial
_SYMBOLOGY = re.compile(r"^\][A-Za-z][0-9A-Za-z]")
_PRIMARY = re.compile(r"^([A-Z][A-Z0-9]{3})([A-Z0-9]{1,18})([0-9])$")
_FIELD = re.compile(r"^[A-Z0-9\-. ]{1,18}$")  # lot and serial: no flag characters

# date-format indicator after `$$` -> (digits, strptime-like layout); "" for MMYY
DATE_FORMATS: Final = {
    "": (4, "MMYY"),
    "2": (6, "MMDDYY"),
    "3": (6, "YYMMDD"),
    "4": (8, "YYMMDDHH"),
    "5": (5, "YYJJJ"),
    "6": (7, "YYJJJHH"),
    "7": (0, ""),
}


class HibcError(ValueError):
    """Not a valid HIBC LIC label; the message says what is wrong."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HibcLabel:
    """What one HIBC symbol carries. `check` is its check character; for a secondary
    symbol `link` is the check character of the primary it belongs to."""

    form: str  # "primary", "secondary" or "concatenated"
    lic: str | None = None
    pcn: str | None = None
    uom: int | None = None
    lot: str | None = None
    serial: str | None = None
    expiry: date | None = None
    manufactured: date | None = None
    quantity: int | None = None
    date_format: str = ""  # the indicator used (see DATE_FORMATS), kept for re-encoding
    link: str | None = None
    check: str = ""


def check_character(data: str) -> str:
    """The mod-43 check character of `data` (flag character included)."""
    try:
        return CHARSET[sum(_VALUE[c] for c in data) % 43]
    except KeyError as exc:
        raise HibcError(f"character {exc.args[0]!r} is not in the HIBC character set") from None


# --- parsing -------------------------------------------------------------------------------


def parse(text: str) -> HibcLabel:
    """Parse one HIBC symbol's data; raises HibcError naming what is wrong."""
    data = _SYMBOLOGY.sub("", text.strip("\r\n\t"), count=1)
    if len(data) >= 2 and data[0] == "*" and data[-1] == "*":
        data = data[1:-1]  # human-readable delimiters (Code 39 start/stop)
    if not data.startswith("+"):
        raise HibcError("an HIBC label begins with '+'")
    if data.endswith("_"):
        data = data[:-1] + " "  # the human-readable form prints a space check as '_'
    if len(data) < 3:
        raise HibcError("HIBC label is truncated")
    if bad := next((c for c in data if c not in _VALUE), None):
        raise HibcError(f"character {bad!r} is not in the HIBC character set")
    body, check = data[:-1], data[-1]
    expected = check_character(body)
    if check != expected:
        raise HibcError(f"check character {check!r} is wrong (expected {expected!r})")
    content = body[1:]
    if content[:1] == "$" or content[:1].isdigit():
        if len(content) < 2:
            raise HibcError("HIBC secondary data is truncated")
        label = _secondary(content[:-1])
        return replace(label, form="secondary", link=content[-1], check=check)
    primary, slash, secondary = content.partition("/")
    label = _secondary(secondary) if slash else HibcLabel(form="primary")
    lic, pcn, uom = _primary(primary)
    form = "concatenated" if slash else "primary"
    return replace(label, form=form, lic=lic, pcn=pcn, uom=uom, check=check)


def join(primary: HibcLabel, secondary: HibcLabel) -> HibcLabel:
    """A two-symbol label read as one: the secondary's link character must be the
    primary's check character."""
    if primary.form != "primary" or secondary.form != "secondary":
        raise HibcError("join needs a primary and a secondary symbol")
    if secondary.link != primary.check:
        raise HibcError(
            f"link character {secondary.link!r} does not match the primary's check "
            f"character {primary.check!r}"
        )
    return replace(secondary, form="concatenated", lic=primary.lic, pcn=primary.pcn,
                   uom=primary.uom)  # fmt: skip


def _primary(data: str) -> tuple[str, str, int]:
    m = _PRIMARY.match(data)
    if m is None:
        if not data or not data[0].isalpha():
            raise HibcError("the labeler code must begin with a letter")
        if len(data) < 6:
            raise HibcError("HIBC primary data is truncated")
        if len(data) > 4 + MAX_FIELD + 1:
            raise HibcError(f"the product number is longer than {MAX_FIELD} characters")
        if not data[-1].isdigit():
            raise HibcError("the unit of measure must be a digit")
        raise HibcError("HIBC primary data may hold only letters and digits")
    return m.group(1), m.group(2), int(m.group(3))


def _secondary(data: str) -> HibcLabel:
    """Secondary data without flag '+', link and check characters."""
    quantity: int | None = None
    date_format = ""
    serial_field = False
    if data.startswith("$$"):
        rest = data[2:]
        if rest.startswith("+"):
            serial_field, rest = True, rest[1:]
        elif rest[:1] in ("8", "9"):
            digits = 2 if rest[0] == "8" else 5
            qty = rest[1 : 1 + digits]
            if len(qty) != digits or not qty.isdigit():
                raise HibcError(f"quantity after '$${rest[0]}' must be {digits} digits")
            quantity, rest = int(qty), rest[1 + digits :]
        expiry, date_format, rest = _date(rest)
    elif data.startswith("$+"):
        expiry, rest, serial_field = None, data[2:], True
    elif data.startswith("$"):
        expiry, rest = None, data[1:]
    else:  # the old form: a 5-digit Julian date, then the lot
        expiry = _julian(data[:5], "")
        rest, date_format = data[5:], "old"
    main, *supplements = rest.split("/")
    label = HibcLabel(form="secondary", expiry=expiry, quantity=quantity,
                      date_format=date_format)  # fmt: skip
    if main or not supplements:
        _check_field(main, "serial" if serial_field else "lot")
        label = replace(label, serial=main) if serial_field else replace(label, lot=main)
    for field in supplements:
        label = _supplement(label, field)
    return label


def _supplement(label: HibcLabel, field: str) -> HibcLabel:
    if field.startswith("S") and label.serial is None:
        _check_field(field[1:], "serial")
        return replace(label, serial=field[1:])
    if field.startswith(("14D", "16D")) and len(field) == 11:
        day = _ymd(field[3:], "YYYYMMDD")
        return replace(label, expiry=day) if field[:2] == "14" else replace(label, manufactured=day)
    raise HibcError(f"unknown or malformed supplemental field /{field[:12]}")


def _check_field(value: str, what: str) -> None:
    if not value:
        raise HibcError(f"the {what} is missing")
    if len(value) > MAX_FIELD:
        raise HibcError(f"the {what} is longer than {MAX_FIELD} characters")
    if not _FIELD.match(value):
        raise HibcError(f"the {what} {value!r} holds characters a {what} may not")


def _date(rest: str) -> tuple[date | None, str, str]:
    """The date after `$$` (and a quantity): an indicator 2-7 or MMYY."""
    indicator = rest[0] if rest[:1] in ("2", "3", "4", "5", "6", "7") else ""
    digits, layout = DATE_FORMATS[indicator]
    text = rest[len(indicator) : len(indicator) + digits]
    if len(text) != digits or (digits and not text.isdigit()):
        raise HibcError(f"expiry date {layout} is truncated or not digits")
    rest = rest[len(indicator) + digits :]
    if indicator == "7":
        return None, indicator, rest
    if layout in ("YYJJJ", "YYJJJHH"):
        return _julian(text[:5], text[5:]), indicator, rest
    return _ymd(text, layout), indicator, rest


def _hour(text: str) -> None:
    if text and not 0 <= int(text) <= 23:
        raise HibcError(f"hour {text} is not 00-23")


def _julian(text: str, hour: str) -> date:
    if len(text) != 5 or not text.isdigit():
        raise HibcError("Julian date YYJJJ is truncated or not digits")
    _hour(hour)
    year, day = 2000 + int(text[:2]), int(text[2:])
    if not 1 <= day <= (366 if calendar.isleap(year) else 365):
        raise HibcError(f"day {day} of {year} does not exist")
    return date.fromordinal(date(year, 1, 1).toordinal() + day - 1)


# layout -> slices of (year, month, day); a missing day is the month's last
_LAYOUTS: Final = {
    "MMYY": (slice(2, 4), slice(0, 2), None),
    "MMDDYY": (slice(4, 6), slice(0, 2), slice(2, 4)),
    "YYMMDD": (slice(0, 2), slice(2, 4), slice(4, 6)),
    "YYMMDDHH": (slice(0, 2), slice(2, 4), slice(4, 6)),
    "YYYYMMDD": (slice(0, 4), slice(4, 6), slice(6, 8)),
}


def _ymd(text: str, layout: str) -> date:
    if not text.isdigit() or len(text) != len(layout):
        raise HibcError(f"date {text!r} is not {layout}")
    year_at, month_at, day_at = _LAYOUTS[layout]
    year = int(text[year_at]) + (2000 if layout != "YYYYMMDD" else 0)
    month = int(text[month_at])
    if layout.endswith("HH"):
        _hour(text[6:8])
    if not 1 <= month <= 12:
        raise HibcError(f"month {month:02d} does not exist")
    last = calendar.monthrange(year, month)[1]
    day = int(text[day_at]) if day_at else last  # MMYY: good to the end of the month
    if not 1 <= day <= last:
        raise HibcError(f"day {day:02d} does not exist in {year}-{month:02d}")
    return date(year, month, day)


# --- encoding ------------------------------------------------------------------------------


def encode_primary(lic: str, pcn: str, uom: int) -> str:
    data = f"{lic}{pcn}{uom}"
    _primary(data)
    return f"+{data}{check_character('+' + data)}"


def secondary_data(label: HibcLabel) -> str:
    """The secondary data of `label` (no flag, link or check), in its `date_format`."""
    main = label.lot if label.lot is not None else label.serial
    if main is None:
        raise HibcError("secondary data carries a lot or a serial")
    serial_only = label.lot is None and label.serial is not None
    tail = f"/S{label.serial}" if label.lot is not None and label.serial is not None else ""
    fmt = label.date_format
    if fmt == "old":
        if label.expiry is None or serial_only:
            raise HibcError("the old form carries a Julian date and a lot")
        return f"{_format_date(label.expiry, '5')}{main}{tail}"
    if label.quantity is not None:
        digits = "8" if label.quantity < 100 else "9"
        qty = f"{label.quantity:02d}" if digits == "8" else f"{label.quantity:05d}"
        if label.quantity >= 100_000 or serial_only:
            raise HibcError("a quantity is 0-99999 and goes with a lot")
        return f"$${digits}{qty}{_date_part(label)}{main}{tail}"
    if label.expiry is None and fmt != "7":
        return f"$+{main}" if serial_only else f"${main}{tail}"
    return f"$${'+' if serial_only else ''}{_date_part(label)}{main}{tail}"


def _date_part(label: HibcLabel) -> str:
    fmt = label.date_format if label.date_format in DATE_FORMATS else ""
    if label.expiry is None:
        return "7"
    if fmt == "7":
        raise HibcError("date format 7 carries no expiry")
    return fmt + _format_date(label.expiry, fmt)


def _format_date(d: date, fmt: str) -> str:
    yy, jjj = f"{d.year % 100:02d}", f"{d.timetuple().tm_yday:03d}"
    return {
        "": f"{d:%m}{yy}",
        "2": f"{d:%m%d}{yy}",
        "3": f"{yy}{d:%m%d}",
        "4": f"{yy}{d:%m%d}00",
        "5": f"{yy}{jjj}",
        "6": f"{yy}{jjj}00",
    }[fmt]


def encode_secondary(label: HibcLabel, link: str) -> str:
    data = f"+{secondary_data(label)}{link}"
    return data + check_character(data)


def encode_concatenated(label: HibcLabel) -> str:
    if label.lic is None or label.pcn is None or label.uom is None:
        raise HibcError("a concatenated label needs the primary data")
    data = f"+{label.lic}{label.pcn}{label.uom}/{secondary_data(label)}"
    return data + check_character(data)
