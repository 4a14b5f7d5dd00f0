"""One identity for whatever names an item: a scanned barcode (GS1 element string from a
DataMatrix, GS1-128, QR or DataBar, with or without symbology identifier and FNC1; the
bracketed form a person types; a GS1 Digital Link URI; a bare GTIN; an HIBC LIC label; an
opaque serialised code) or an EPC read from a tag.

GS1 and Digital Link are parsed by `biip`; HIBC by `rules.hibc`. Everything refused raises
`ScanError` naming what is wrong, never a guess. A serialised GTIN read from a barcode and
the SGTIN of its tag have the same `key`, and `epc_uri` gives the tag's pure identity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Final

from biip import BiipException, ParseConfig
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gs1_element_strings import GS1ElementString
from biip.gs1_messages import GS1Message
from biip.gtin import Gtin

from rules import hibc
from rules.epc import Epc, EpcError, decode, encode_sgtin, gs1_check_digit

MAX_SCAN: Final = 512  # longer than any symbol a hospital scans
GS: Final = "\x1d"  # FNC1 as a scanner sends it
# ISO/IEC 15424 symbology identifiers of GS1 data: DataMatrix, GS1-128, QR, DataBar,
# DotCode, Aztec
GS1_SYMBOLOGIES: Final = frozenset({"]d2", "]C1", "]Q3", "]e0", "]J1", "]z1"})
EAN_SYMBOLOGIES: Final = frozenset({"]E0", "]E1", "]E2", "]E3", "]E4"})  # EAN/UPC (a GTIN)
_CONFIG: Final = ParseConfig(separator_chars=(GS,))
_GTIN_LENGTHS: Final = (8, 12, 13, 14)
# when GS1's prefix table does not know a GTIN's company prefix: the same choice for the tag
# hwms writes and the scans that name it later, so both give one EPC URI
DEFAULT_COMPANY_PREFIX_LENGTH: Final = 7
CN_TRACE_LENGTH: Final = 20
# the ledger's name for an item known by its traceability code alone (it has no EPC)
TRACE_URI: Final = "urn:hwms:item:cn-trace:"
_TRACE_URI = re.compile(rf"{re.escape(TRACE_URI)}8\d{{19}}")


def is_trace_uri(uri: str) -> bool:
    return (
        _TRACE_URI.fullmatch(uri) is not None
    )  # China's drug traceability code: 20 digits, beginning with 8


class ScanError(ValueError):
    """A scan that names no item; the message says what is wrong."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemIdentity:
    """What a scan or a tag read says about an item; None where it says nothing."""

    source: str  # gs1, digital_link, gtin, hibc, opaque, epc
    gtin: str | None = None  # GTIN-14
    lot: str | None = None
    expiry: date | None = None
    serial: str | None = None
    sscc: str | None = None
    quantity: int | None = None  # (30)/(37), or an HIBC $$8/$$9 quantity
    hibc_lic: str | None = None
    hibc_pcn: str | None = None
    hibc_uom: int | None = None
    company_prefix_length: int | None = None  # from GS1's prefix table or the tag
    hibc: hibc.HibcLabel | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> tuple[str, ...]:
        """The item (serialised) or the product-and-lot it names, whatever carried it."""
        if self.gtin is not None:
            return ("gtin", self.gtin, self.serial or "", self.lot or "")
        if self.hibc_lic is not None:
            return ("hibc", self.hibc_lic, self.hibc_pcn or "", str(self.hibc_uom),
                    self.serial or "", self.lot or "")  # fmt: skip
        if self.sscc is not None:
            return ("sscc", self.sscc)
        return ("code", self.serial or "", self.lot or "")

    @property
    def hibc_product(self) -> str | None:
        """The HIBC product identifier (the UDI-DI): labeler, product number, unit."""
        if self.hibc_lic is None:
            return None
        return f"+{self.hibc_lic}{self.hibc_pcn}{self.hibc_uom}"

    def epc_uri(self, company_prefix_length: int | None = None) -> str | None:
        """The SGTIN pure identity of a serialised GTIN (what its tag reads as)."""
        cpl = company_prefix_length or self.company_prefix_length or DEFAULT_COMPANY_PREFIX_LENGTH
        if self.gtin is None or self.serial is None:
            return None
        try:
            return decode(encode_sgtin(self.gtin, self.serial, company_prefix_length=cpl)).uri
        except EpcError:
            return None

    @property
    def trace_uri(self) -> str | None:
        """An item named by a Chinese drug traceability code: the ledger's name for it."""
        if self.source != "opaque" or self.serial is None:
            return None
        return TRACE_URI + self.serial

    @property
    def trace_prefix(self) -> str | None:
        """The code's drug identification code (its first 7 digits): the product."""
        return self.serial[:7] if self.source == "opaque" and self.serial else None

    def epc_uris(self) -> list[str]:
        """Every SGTIN URI the item's tag may read as (company prefix lengths 6-12, the
        likeliest first): a barcode does not say how long its company prefix is, and GS1's
        prefix table can differ from what a manufacturer encoded."""
        if self.gtin is None or self.serial is None:
            return []
        first = self.company_prefix_length or DEFAULT_COMPANY_PREFIX_LENGTH
        lengths = [first, *(n for n in range(6, 13) if n != first)]
        return list(dict.fromkeys(u for n in lengths if (u := self.epc_uri(n)) is not None))

    def to_json(self) -> dict[str, Any]:
        """The keys a caller can rely on, present when known."""
        out: dict[str, Any] = {}
        for name in ("gtin", "lot", "expiry", "serial", "sscc", "quantity"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value.isoformat() if isinstance(value, date) else value
        if self.hibc_lic is not None:
            out |= {"hibc_lic": self.hibc_lic, "hibc_pcn": self.hibc_pcn,
                    "hibc_uom": self.hibc_uom}  # fmt: skip
        return out


def from_epc(epc: Epc) -> ItemIdentity:
    """A tag's identity in the same terms as a scan's (SGTIN: GTIN and serial)."""
    cpl = len(epc.company_prefix) if epc.gtin else None
    return ItemIdentity(source="epc", gtin=epc.gtin, serial=epc.serial,
                        company_prefix_length=cpl)  # fmt: skip


def parse_scan(text: str) -> ItemIdentity:
    """What one scan (as a scanner or a person sends it) names; ScanError if nothing."""
    value = text.strip("\t\r\n")  # not str.strip(): a trailing GS or space check char
    if not value:
        raise ScanError("the scan is empty")
    if len(value) > MAX_SCAN:
        raise ScanError(f"the scan is longer than {MAX_SCAN} characters")
    symbology = value[:3] if value.startswith("]") else ""
    if symbology and len(symbology) < 3:
        raise ScanError("the symbology identifier is truncated")
    data = value[len(symbology) :]
    if data.startswith(("http://", "https://", "HTTP://", "HTTPS://")):
        return _digital_link(data)
    if symbology in GS1_SYMBOLOGIES:
        return _element_string(data)
    if symbology in EAN_SYMBOLOGIES:
        return _gtin(data)
    if data.startswith(("+", "*+")):
        try:
            return _hibc(hibc.parse(value))
        except hibc.HibcError as exc:
            raise ScanError(f"HIBC: {exc}") from None
    if data.startswith("("):
        return _hri(data)
    if data.startswith(GS):
        return _element_string(data)
    if data.isdigit() and len(data) in _GTIN_LENGTHS:
        return _gtin(data)
    if data.isdigit() and len(data) == CN_TRACE_LENGTH and data[0] == "8":
        return ItemIdentity(source="opaque", serial=data)
    if symbology:
        raise ScanError(f"symbology {symbology} carries no GS1 or HIBC data hwms reads")
    return _element_string(data)


def _hibc(label: hibc.HibcLabel) -> ItemIdentity:
    return ItemIdentity(
        source="hibc", lot=label.lot, expiry=label.expiry, serial=label.serial,
        quantity=label.quantity, hibc_lic=label.lic, hibc_pcn=label.pcn, hibc_uom=label.uom,
        hibc=label,
    )  # fmt: skip


def _gtin(data: str) -> ItemIdentity:
    if not data.isdigit() or len(data) not in _GTIN_LENGTHS:
        raise ScanError(f"{data[:40]!r} is not a GTIN-8, -12, -13 or -14")
    try:
        gtin = Gtin.parse(data)
    except (BiipException, ValueError) as exc:
        raise ScanError(str(exc)) from None
    return ItemIdentity(source="gtin", gtin=gtin.as_gtin_14(), company_prefix_length=_cpl(gtin))


def _cpl(gtin: Gtin) -> int | None:
    return len(gtin.company_prefix.value) if gtin.company_prefix is not None else None


def _element_string(data: str) -> ItemIdentity:
    if not data.strip(GS):
        raise ScanError("the scan holds no GS1 data")
    if bad := next((c for c in data if not (" " < c < "\x7f") and c != GS), None):
        raise ScanError(f"character {bad!r} is not in the GS1 character set")
    try:
        message = GS1Message.parse(data, config=_CONFIG)
    except (BiipException, ValueError) as exc:
        raise ScanError(_why(str(exc))) from None
    return _identity("gs1", message.element_strings)


def _hri(data: str) -> ItemIdentity:
    try:
        message = GS1Message.parse_hri(data.replace(" ", ""), config=_CONFIG)
    except (BiipException, ValueError) as exc:
        raise ScanError(_why(str(exc))) from None
    return _identity("gs1", message.element_strings)


def _digital_link(data: str) -> ItemIdentity:
    try:
        uri = GS1DigitalLinkURI.parse(data, config=_CONFIG)
    except (BiipException, ValueError) as exc:  # urllib's ValueError on a malformed host
        raise ScanError(f"not a GS1 Digital Link URI: {exc}") from None
    return _identity("digital_link", uri.element_strings)


_MISMATCH: Final = re.compile(r"Failed to match '(.*)' with GS1 AI \((\d+)\) pattern")


def _why(message: str) -> str:
    """biip's message, said for a storekeeper where it is a regular expression."""
    if message.startswith("Failed to get GS1 Application Identifier"):
        return f"unknown GS1 Application Identifier or leftover data: {message}"
    if m := _MISMATCH.match(message):
        ai, value = m[2], m[1][len(m[2]) :]
        return f"AI ({ai}) {value!r}: wrong length, characters or date"
    return message


_QUANTITY_AIS: Final = ("30", "37")


def _identity(source: str, elements: list[GS1ElementString]) -> ItemIdentity:
    """The item fields of a GS1 message; the same AI twice with two values is refused."""
    seen: dict[str, str] = {}
    ident = ItemIdentity(source=source)
    for e in elements:
        ai = e.ai.ai
        if seen.setdefault(ai, e.value) != e.value:
            raise ScanError(f"AI ({ai}) appears twice with different values")
        if error := e.gtin_error or e.sscc_error:
            raise ScanError(error)
        if ai == "01" and e.gtin is not None:
            ident = replace(ident, gtin=e.gtin.as_gtin_14(), company_prefix_length=_cpl(e.gtin))
        elif ai == "02" and ident.gtin is None:  # contents of a logistic unit
            if gs1_check_digit(e.value[:13]) != e.value[13]:
                raise ScanError(f"invalid GTIN check digit in (02) {e.value}")
            ident = replace(ident, gtin=e.value)
        elif ai == "00":
            ident = replace(ident, sscc=e.value)
        elif ai == "10":
            ident = replace(ident, lot=e.value)
        elif ai == "21":
            ident = replace(ident, serial=e.value)
        elif ai == "17":
            ident = replace(ident, expiry=e.date)
        elif ai in _QUANTITY_AIS:
            if not e.value.isdigit():
                raise ScanError(f"AI ({ai}) count {e.value!r} is not a number")
            ident = replace(ident, quantity=int(e.value))
    return ident


class ScanJoiner:
    """Scans in the order a scanner sends them: an HIBC secondary symbol that follows its
    primary is joined to it (the link character checked); anything else passes through."""

    def __init__(self) -> None:
        self._primary: hibc.HibcLabel | None = None
        self.joined = False  # the last scan completed the primary before it

    def feed(self, text: str) -> ItemIdentity:
        self.joined = False
        try:
            ident = parse_scan(text)
        except ScanError:
            self._primary = None
            raise
        label, previous = ident.hibc, self._primary
        self._primary = label if label is not None and label.form == "primary" else None
        if label is not None and label.form == "secondary" and previous is not None:
            try:
                joined = _hibc(hibc.join(previous, label))
            except hibc.HibcError as exc:
                raise ScanError(f"HIBC: {exc}") from None
            self.joined = True
            return joined
        return ident
