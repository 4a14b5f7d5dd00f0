"""Labels for items hwms tags or re-labels: the GS1 element string of an identity, and the
ZPL II an RFID label printer (Zebra and compatibles) needs to write the tag (`^RFW`) and
print a GS1 DataMatrix (`^BX`) with its human-readable text. Pure: the bytes go to the
printer elsewhere (raw TCP 9100).

ZPL details: `^CI28` (UTF-8 text), `^FH` so `^`, `~` and `\\` in names cannot end a field,
`^RFW,H,,,A` (write the EPC bank in hex, the printer adjusts the PC bits to its length),
`^BXN,h,200,,,,_` (ECC 200 with `_` as escape character: `_1` is FNC1, first and as the
separator after variable-length fields).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Final

from rules.epc import EpcError, decode, encode_sgtin
from rules.scan import DEFAULT_COMPANY_PREFIX_LENGTH, ItemIdentity


class LabelError(ValueError):
    """An identity a label or tag cannot be made from (the message says why)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelSpec:
    """Label stock and printer: 4 x 2 in at 203 dpi by default."""

    width_dots: int = 812
    height_dots: int = 406
    module_dots: int = 6  # DataMatrix element size
    # the font command of the name: for Chinese names a printer font holding CJK, such as
    # "^A@N,32,32,E:SIMSUN.TTF" (fonts differ by printer; the rest of the label is ASCII)
    name_font: str = "^A0N,32,32"


# fixed-length AIs first, so no separator is needed after them (GS1 General Specifications)
_ORDER: Final = ("01", "02", "17", "10", "21", "30")
_FIXED: Final = frozenset({"01", "02", "17"})


def element_strings(ident: ItemIdentity, *, contents: bool = False) -> list[tuple[str, str]]:
    """The (AI, value) pairs of an identity, in encoding order; `contents`: the GTIN is of
    the items contained (02), as on a split pack's count label."""
    if ident.gtin is None:
        raise LabelError("a GS1 label needs a GTIN")
    values = {
        "02" if contents else "01": ident.gtin,
        "17": f"{ident.expiry:%y%m%d}" if isinstance(ident.expiry, date) else None,
        "10": ident.lot,
        "21": ident.serial,
        "30": str(ident.quantity) if ident.quantity is not None else None,
    }
    return [(ai, v) for ai in _ORDER if (v := values.get(ai)) is not None]


def gs1_data(ident: ItemIdentity, *, contents: bool = False) -> str:
    """The element string as a scanner reads it back (GS separators, no FNC1 first)."""
    return _joined(ident, contents, "\x1d", lambda v: v)


def _joined(
    ident: ItemIdentity, contents: bool, separator: str, escape: Callable[[str], str]
) -> str:
    out, pending_separator = [], False
    for ai, value in element_strings(ident, contents=contents):
        if pending_separator:
            out.append(separator)
        out.append(ai + escape(value))
        pending_separator = ai not in _FIXED
    return "".join(out)


def hri(ident: ItemIdentity, *, contents: bool = False) -> str:
    return "".join(f"({ai}){v}" for ai, v in element_strings(ident, contents=contents))


def tag_hex(ident: ItemIdentity) -> str:
    """The SGTIN (96, or 198 for a serial SGTIN-96 cannot hold) to write for a serialised
    GTIN."""
    if ident.gtin is None or ident.serial is None:
        raise LabelError("a tag needs a GTIN and a serial")
    cpl = ident.company_prefix_length or DEFAULT_COMPANY_PREFIX_LENGTH
    try:
        return encode_sgtin(ident.gtin, ident.serial, company_prefix_length=cpl)
    except EpcError as exc:
        raise LabelError(str(exc)) from None


def _field(text: str) -> str:
    """A ^FH field: the characters ZPL would take as commands, hex-escaped."""
    return "".join(f"\\{ord(c):02X}" if c in "^~\\" else c for c in text)


def zpl(
    ident: ItemIdentity,
    *,
    name: str = "",
    spec: LabelSpec | None = None,
    write_tag: bool = True,
    contents: bool = False,
    copies: int = 1,
) -> str:
    """One label: the tag written (when `write_tag`), a GS1 DataMatrix of the identity, the
    human-readable element strings, the product name and, with a tag, its EPC URI."""
    spec = spec or LabelSpec()
    if not 1 <= copies <= 99:
        raise LabelError("copies must be 1-99")
    matrix = "_1" + _joined(ident, contents, "_1", lambda v: v.replace("_", "__"))
    lines = [
        "^XA",
        "^CI28",
        f"^PW{spec.width_dots}",
        f"^LL{spec.height_dots}",
        "^LH0,0",
    ]
    if write_tag:
        hex_epc = tag_hex(ident)
        lines += [f"^RFW,H,,,A^FD{hex_epc}^FS"]
    lines += [
        f"^FO30,30^BXN,{spec.module_dots},200,,,,_^FD{matrix}^FS",
        f"^FO260,30{spec.name_font}^FB530,2,0,L^FH\\^FD{_field(name)}^FS",
    ]
    y = 110
    for ai, value in element_strings(ident, contents=contents):
        lines.append(f"^FO260,{y}^A0N,28,28^FH\\^FD({ai}){_field(value)}^FS")
        y += 36
    if write_tag:
        lines.append(f"^FO30,{spec.height_dots - 40}^A0N,22,22^FD{decode(hex_epc).uri}^FS")
    lines += [f"^PQ{copies}", "^XZ"]
    return "\n".join(lines) + "\n"
