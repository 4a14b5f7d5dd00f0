"""GS1 EPC Tag Data Standard (TDS 1.13) binary decoding and encoding.

Decoding works on one integer with shifts and masks (no bit strings): it sits on the hot
path of every tag read. It is strict where the standard is: truncated input, partition 7,
a company prefix or reference that overflows its partition's digits, non-zero padding and
headers that are not GS1 EPC headers all raise `EpcError`. Callers keep such tags as
non-GS1 reads under their raw URI (`raw_uri`), they never drop them.

Schemes: SGTIN-96, SGTIN-198, SSCC-96, SGLN-96, GRAI-96, GRAI-170, GIAI-96, GIAI-202.
The TDS 2.x `+` schemes (SGTIN+, DSGTIN+) are recognised by header and rejected with a
clear message: their serial encodings are not implemented yet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final


class EpcError(ValueError):
    """The EPC bank content is not a valid GS1 EPC of a supported scheme."""


@dataclass(frozen=True)
class Epc:
    """A decoded GS1 EPC. `uri` is the pure identity (what information systems use)."""

    scheme: str
    uri: str
    tag_uri: str
    filter: int
    company_prefix: str
    hex: str
    gtin: str | None = None
    serial: str | None = None


# --- tables (TDS 1.13 §14.5) -------------------------------------------------------------

# partition -> (company prefix bits, company prefix digits, reference bits, reference digits)
_SGTIN_PARTITIONS: Final = (
    (40, 12, 4, 1),
    (37, 11, 7, 2),
    (34, 10, 10, 3),
    (30, 9, 14, 4),
    (27, 8, 17, 5),
    (24, 7, 20, 6),
    (20, 6, 24, 7),
)
_SSCC_PARTITIONS: Final = (
    (40, 12, 18, 5),
    (37, 11, 21, 6),
    (34, 10, 24, 7),
    (30, 9, 28, 8),
    (27, 8, 31, 9),
    (24, 7, 34, 10),
    (20, 6, 38, 11),
)
_SGLN_PARTITIONS: Final = (
    (40, 12, 1, 0),
    (37, 11, 4, 1),
    (34, 10, 7, 2),
    (30, 9, 11, 3),
    (27, 8, 14, 4),
    (24, 7, 17, 5),
    (20, 6, 21, 6),
)
_GRAI_PARTITIONS: Final = (
    (40, 12, 4, 0),
    (37, 11, 7, 1),
    (34, 10, 10, 2),
    (30, 9, 14, 3),
    (27, 8, 17, 4),
    (24, 7, 20, 5),
    (20, 6, 24, 6),
)
_GIAI96_PARTITIONS: Final = (
    (40, 12, 42, 13),
    (37, 11, 45, 14),
    (34, 10, 48, 15),
    (30, 9, 52, 16),
    (27, 8, 55, 17),
    (24, 7, 58, 18),
    (20, 6, 62, 19),
)
# GIAI-202: reference is 7-bit characters; (cp bits, cp digits, ref bits, max chars)
_GIAI202_PARTITIONS: Final = (
    (40, 12, 148, 18),
    (37, 11, 151, 19),
    (34, 10, 154, 20),
    (30, 9, 158, 21),
    (27, 8, 161, 22),
    (24, 7, 164, 23),
    (20, 6, 168, 24),
)

_HEADER_NAMES: Final = {
    0x00: "unprogrammed tag (header 0x00)",
    0xE2: "a TID or vendor default value (header 0xE2)",
    0xF7: "SGTIN+ (TDS 2.x, not supported yet)",
    0xFB: "DSGTIN+ (TDS 2.x, not supported yet)",
}

# GS1 AI encodable character set 82, and the characters the TDS escapes in URIs.
_AI82: Final = frozenset(
    "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
)
_URI_ESCAPES: Final = {
    '"': "%22",
    "%": "%25",
    "&": "%26",
    "/": "%2F",
    "<": "%3C",
    ">": "%3E",
    "?": "%3F",
}
_HEX_RE: Final = re.compile(r"[0-9A-Fa-f]+")

SGTIN96_MAX_SERIAL: Final = (1 << 38) - 1


# --- helpers -----------------------------------------------------------------------------


def gs1_check_digit(body: str) -> str:
    """GS1 mod-10 check digit: weights 3,1,3,1... from the right of `body`."""
    rev = body[::-1]
    total = 3 * sum(map(int, rev[0::2])) + sum(map(int, rev[1::2]))
    return _DIGITS[-total % 10]


_DIGITS: Final = "0123456789"


def escape_uri_component(value: str) -> str:
    """Escape a serial/reference for an EPC URI as TDS §5 requires (`/` -> `%2F`)."""
    if value.isalnum():
        return value
    return "".join(_URI_ESCAPES.get(ch, ch) for ch in value)


def _new_epc(**fields: object) -> Epc:
    """Build an `Epc` without the frozen dataclass `__init__` (a third of a decode's time)."""
    obj = object.__new__(Epc)
    obj.__dict__.update(fields)
    return obj


# TDS §6 (pure-identity URIs) character set of serials and references, with %-escapes
_URI_CHAR: Final = r"(?:[!'()*+,\-.0-9:;=A-Z_a-z]|%[0-9A-Fa-f]{2})"
_EPC_URI: Final = re.compile(
    rf"urn:epc:id:(?:sgtin|grai):(?P<cp>\d{{6,12}})\.(?P<ref>\d{{0,7}})\.{_URI_CHAR}{{1,20}}"
    rf"|urn:epc:id:sscc:(?P<scp>\d{{6,12}})\.(?P<sref>\d{{5,11}})"
    rf"|urn:epc:id:sgln:(?P<lcp>\d{{6,12}})\.(?P<lref>\d{{0,6}})\.{_URI_CHAR}{{1,20}}"
    rf"|urn:epc:id:giai:\d{{6,12}}\.{_URI_CHAR}{{1,30}}"
    r"|urn:epc:raw:(?P<bits>\d{1,4})\.x(?P<hex>[0-9A-F]{1,1024})"
)


def check_epc_uri(uri: str) -> str | None:
    """Why `uri` is not an EPC URI hwms emits (pure identity or raw), or None when it is.

    For the wire boundary: an event's EPCs must be what the edge would have produced."""
    m = _EPC_URI.fullmatch(uri)
    if m is None:
        return f"not an EPC pure-identity or raw URI: {uri[:80]!r}"
    if m["cp"] is not None and len(m["cp"]) + len(m["ref"]) != 13:
        return f"company prefix and reference of {uri!r} are not 13 digits"
    if m["lcp"] is not None and len(m["lcp"]) + len(m["lref"]) != 12:
        return f"company prefix and location reference of {uri!r} are not 12 digits"
    if m["scp"] is not None and len(m["scp"]) + len(m["sref"]) != 17:
        return f"company prefix and serial reference of {uri!r} are not 17 digits"
    if m["bits"] is not None and int(m["bits"]) != 4 * len(m["hex"]):
        return f"raw URI {uri[:80]!r} declares {m['bits']} bits for {4 * len(m['hex'])}"
    return None


def raw_uri(hex_str: str) -> str:
    """TDS raw URI for EPC bank content that is not a decodable GS1 EPC."""
    cleaned = "".join(hex_str.split()).upper()
    return f"urn:epc:raw:{len(cleaned) * 4}.x{cleaned}"


def _normalise(hex_str: str) -> str:
    cleaned = hex_str if hex_str.isalnum() else "".join(hex_str.split())
    if not cleaned:
        raise EpcError("empty EPC")
    if _HEX_RE.fullmatch(cleaned) is None:
        raise EpcError(f"EPC {hex_str!r} is not hexadecimal")
    return cleaned.upper()


def _fit(value: int, total_bits: int, scheme_bits: int, scheme: str, hex_str: str) -> int:
    """Return the scheme's `scheme_bits` bits; the bits after them must be zero padding."""
    if total_bits < scheme_bits:
        raise EpcError(
            f"{scheme} needs {scheme_bits} bits but {hex_str} has only {total_bits}: truncated"
        )
    extra = total_bits - scheme_bits
    if extra and value & ((1 << extra) - 1):
        raise EpcError(f"{scheme} {hex_str}: non-zero data after the {scheme_bits}-bit EPC")
    return value >> extra


def _partition(
    value: int, bits: int, table: tuple[tuple[int, int, int, int], ...], scheme: str
) -> tuple[int, tuple[int, int, int, int]]:
    part = (value >> (bits - 14)) & 0x7
    if part == 7:
        raise EpcError(f"{scheme}: partition value 7 is invalid")
    return part, table[part]


def _digits(value: int, digits: int, field: str, scheme: str) -> str:
    if digits == 0:
        if value:
            raise EpcError(f"{scheme}: {field} must be empty for this partition but is {value}")
        return ""
    if value >= 10**digits:
        raise EpcError(f"{scheme}: {field} {value} overflows its {digits} digits")
    return str(value).zfill(digits)


def _chars7(value: int, nchars: int, field: str, scheme: str) -> str:
    """Decode a 7-bit ASCII field; it ends at the first all-zero character."""
    out: list[str] = []
    for i in range(nchars - 1, -1, -1):
        code = (value >> (7 * i)) & 0x7F
        if code == 0:
            rest = value & ((1 << (7 * i)) - 1)
            if rest:
                raise EpcError(f"{scheme}: {field} has data after its terminating zero")
            break
        ch = chr(code)
        if ch not in _AI82:
            raise EpcError(f"{scheme}: {field} contains {ch!r}, not a GS1 AI 82 character")
        out.append(ch)
    if not out:
        raise EpcError(f"{scheme}: {field} is empty")
    return "".join(out)


# --- decoders ----------------------------------------------------------------------------


def _gcp_ref(
    v: int, bits: int, table: tuple[tuple[int, int, int, int], ...], scheme: str
) -> tuple[int, str, int, int, int]:
    """Split filter, company prefix and reference: (filter, cp, ref, ref bits, ref digits)."""
    filt = (v >> (bits - 11)) & 0x7
    _, (cp_bits, cp_digits, ref_bits, ref_digits) = _partition(v, bits, table, scheme)
    shift = bits - 14 - cp_bits
    cp = _digits((v >> shift) & ((1 << cp_bits) - 1), cp_digits, "company prefix", scheme)
    ref = (v >> (shift - ref_bits)) & ((1 << ref_bits) - 1)
    return filt, cp, ref, ref_bits, ref_digits


def _sgtin(v: int, bits: int, scheme: str, serial: str, hex_str: str) -> Epc:
    filt, cp, ref, _, ref_digits = _gcp_ref(v, bits, _SGTIN_PARTITIONS, scheme)
    item = _digits(ref, ref_digits, "item reference", scheme)
    body = item[0] + cp + item[1:]
    esc = escape_uri_component(serial)
    return _new_epc(
        scheme=scheme,
        uri=f"urn:epc:id:sgtin:{cp}.{item}.{esc}",
        tag_uri=f"urn:epc:tag:{scheme}:{filt}.{cp}.{item}.{esc}",
        filter=filt,
        company_prefix=cp,
        hex=hex_str,
        gtin=body + gs1_check_digit(body),
        serial=serial,
    )


_POW10: Final = tuple(10**i for i in range(20))
_MASK38: Final = (1 << 38) - 1
# partition + company prefix + item bits -> (company prefix, item reference, GTIN):
# a hospital holds a few thousand GTINs, so the digit work is done once per GTIN.
_GTIN_CACHE: dict[int, tuple[str, str, str]] = {}


def _decode_sgtin96(value: int, total: int, hex_str: str) -> Epc:
    """The hot path: shifts, masks and a per-GTIN cache; errors go through the generic code."""
    v = value if total == 96 else _fit(value, total, 96, "sgtin-96", hex_str)
    key = (v >> 38) & 0x7FFFFFFFFFFF  # partition, company prefix and item reference
    parts = _GTIN_CACHE.get(key)
    if parts is None:
        part = key >> 44
        if part == 7:
            return _sgtin(v, 96, "sgtin-96", str(v & _MASK38), hex_str)  # raises
        cp_bits, cp_digits, ref_bits, ref_digits = _SGTIN_PARTITIONS[part]
        cpv = (v >> (38 + ref_bits)) & ((1 << cp_bits) - 1)
        ref = (v >> 38) & ((1 << ref_bits) - 1)
        if cpv >= _POW10[cp_digits] or ref >= _POW10[ref_digits]:
            return _sgtin(v, 96, "sgtin-96", str(v & _MASK38), hex_str)  # raises
        cp = str(cpv).zfill(cp_digits)
        item = str(ref).zfill(ref_digits)
        body = item[0] + cp + item[1:]
        parts = (cp, item, body + gs1_check_digit(body))
        if len(_GTIN_CACHE) >= 65_536:
            _GTIN_CACHE.clear()
        _GTIN_CACHE[key] = parts
    cp, item, gtin = parts
    serial = str(v & _MASK38)
    filt = (v >> 85) & 7
    return _new_epc(
        scheme="sgtin-96",
        uri=f"urn:epc:id:sgtin:{cp}.{item}.{serial}",
        tag_uri=f"urn:epc:tag:sgtin-96:{filt}.{cp}.{item}.{serial}",
        filter=filt,
        company_prefix=cp,
        hex=hex_str,
        gtin=gtin,
        serial=serial,
    )


def _decode_sgtin198(value: int, total: int, hex_str: str) -> Epc:
    v = _fit(value, total, 198, "sgtin-198", hex_str)
    serial = _chars7(v & ((1 << 140) - 1), 20, "serial", "sgtin-198")
    return _sgtin(v, 198, "sgtin-198", serial, hex_str)


def _decode_sscc96(value: int, total: int, hex_str: str) -> Epc:
    v = _fit(value, total, 96, "sscc-96", hex_str)
    if v & 0xFFFFFF:
        raise EpcError("sscc-96: the 24 reserved bits are not zero")
    filt, cp, ref, _, ref_digits = _gcp_ref(v, 96, _SSCC_PARTITIONS, "sscc-96")
    serial_ref = _digits(ref, ref_digits, "serial reference", "sscc-96")
    return Epc(
        scheme="sscc-96",
        uri=f"urn:epc:id:sscc:{cp}.{serial_ref}",
        tag_uri=f"urn:epc:tag:sscc-96:{filt}.{cp}.{serial_ref}",
        filter=filt,
        company_prefix=cp,
        hex=hex_str,
    )


def _decode_sgln96(value: int, total: int, hex_str: str) -> Epc:
    v = _fit(value, total, 96, "sgln-96", hex_str)
    filt, cp, ref, _, ref_digits = _gcp_ref(v, 96, _SGLN_PARTITIONS, "sgln-96")
    loc = _digits(ref, ref_digits, "location reference", "sgln-96")
    ext = str(v & ((1 << 41) - 1))
    return Epc(
        scheme="sgln-96",
        uri=f"urn:epc:id:sgln:{cp}.{loc}.{ext}",
        tag_uri=f"urn:epc:tag:sgln-96:{filt}.{cp}.{loc}.{ext}",
        filter=filt,
        company_prefix=cp,
        hex=hex_str,
    )


def _grai(v: int, bits: int, scheme: str, serial: str, hex_str: str) -> Epc:
    filt, cp, ref, _, ref_digits = _gcp_ref(v, bits, _GRAI_PARTITIONS, scheme)
    asset = _digits(ref, ref_digits, "asset type", scheme)
    esc = escape_uri_component(serial)
    return Epc(
        scheme=scheme,
        uri=f"urn:epc:id:grai:{cp}.{asset}.{esc}",
        tag_uri=f"urn:epc:tag:{scheme}:{filt}.{cp}.{asset}.{esc}",
        filter=filt,
        company_prefix=cp,
        hex=hex_str,
        serial=serial,
    )


def _decode_grai96(value: int, total: int, hex_str: str) -> Epc:
    v = _fit(value, total, 96, "grai-96", hex_str)
    return _grai(v, 96, "grai-96", str(v & SGTIN96_MAX_SERIAL), hex_str)


def _decode_grai170(value: int, total: int, hex_str: str) -> Epc:
    v = _fit(value, total, 170, "grai-170", hex_str)
    serial = _chars7(v & ((1 << 112) - 1), 16, "serial", "grai-170")
    return _grai(v, 170, "grai-170", serial, hex_str)


def _giai(filt: int, cp: str, ref: str, scheme: str, hex_str: str) -> Epc:
    esc = escape_uri_component(ref)
    return Epc(
        scheme=scheme,
        uri=f"urn:epc:id:giai:{cp}.{esc}",
        tag_uri=f"urn:epc:tag:{scheme}:{filt}.{cp}.{esc}",
        filter=filt,
        company_prefix=cp,
        hex=hex_str,
        serial=ref,
    )


def _decode_giai96(value: int, total: int, hex_str: str) -> Epc:
    v = _fit(value, total, 96, "giai-96", hex_str)
    # 42..62 bits always fit the partition's 13..19 digits: no overflow is possible.
    filt, cp, ref, _, _ = _gcp_ref(v, 96, _GIAI96_PARTITIONS, "giai-96")
    return _giai(filt, cp, str(ref), "giai-96", hex_str)


def _decode_giai202(value: int, total: int, hex_str: str) -> Epc:
    v = _fit(value, total, 202, "giai-202", hex_str)
    filt, cp, ref, ref_bits, nchars = _gcp_ref(v, 202, _GIAI202_PARTITIONS, "giai-202")
    # The reference field is ref_bits wide; 7-bit characters are left-aligned in it.
    spare = ref_bits - 7 * nchars
    if ref & ((1 << spare) - 1):
        raise EpcError("giai-202: non-zero padding after the asset reference")
    text = _chars7(ref >> spare, nchars, "asset reference", "giai-202")
    return _giai(filt, cp, text, "giai-202", hex_str)


_DECODERS: Final = {
    0x30: _decode_sgtin96,
    0x31: _decode_sscc96,
    0x32: _decode_sgln96,
    0x33: _decode_grai96,
    0x34: _decode_giai96,
    0x36: _decode_sgtin198,
    0x37: _decode_grai170,
    0x38: _decode_giai202,
}


def decode(hex_str: str) -> Epc:
    """Decode EPC bank content (hex, any case, whole 16-bit words or the exact length)."""
    cleaned = _normalise(hex_str)
    total = len(cleaned) * 4
    if total < 8:
        raise EpcError(f"EPC {hex_str!r} is too short to hold a header")
    value = int(cleaned, 16)
    header = value >> (total - 8)
    decoder = _DECODERS.get(header)
    if decoder is None:
        what = _HEADER_NAMES.get(header, f"unknown header 0x{header:02X}")
        raise EpcError(f"EPC {cleaned} is not a supported GS1 EPC: {what}")
    return decoder(value, total, cleaned)


# --- encoders ----------------------------------------------------------------------------


def _check_filter(filter: int) -> None:
    if not 0 <= filter <= 7:
        raise EpcError(f"filter {filter} is not in 0..7")


def _split_partition(
    cp_len: int, table: tuple[tuple[int, int, int, int], ...], scheme: str
) -> tuple[int, int, int, int]:
    for part, row in enumerate(table):
        if row[1] == cp_len:
            return part, row[0], row[2], row[3]
    raise EpcError(f"{scheme}: a company prefix of {cp_len} digits is not allowed (6..12)")


def _require_digits(value: str, field: str) -> None:
    if not value.isascii() or not value.isdigit():
        raise EpcError(f"{field} {value!r} must be decimal digits")


def _header_fields(
    header: int, filter: int, part: int, cp: str, cp_bits: int, ref: int, ref_bits: int
) -> int:
    value = (header << 3 | filter) << 3 | part
    value = (value << cp_bits) | int(cp)
    return (value << ref_bits) | ref


def _to_hex(value: int, bits: int) -> str:
    words = (bits + 15) // 16
    return f"{value << (words * 16 - bits):0{words * 4}X}"


def _gtin_parts(gtin: str, company_prefix_length: int) -> tuple[str, str]:
    _require_digits(gtin, "GTIN")
    if len(gtin) not in (8, 12, 13, 14):
        raise EpcError(f"GTIN {gtin!r} must have 8, 12, 13 or 14 digits")
    gtin = gtin.zfill(14)
    if gs1_check_digit(gtin[:13]) != gtin[13]:
        raise EpcError(
            f"GTIN {gtin} has a wrong check digit (expected {gs1_check_digit(gtin[:13])})"
        )
    cp = gtin[1 : 1 + company_prefix_length]
    item = gtin[0] + gtin[1 + company_prefix_length : 13]
    return cp, item


def _check_chars(value: str, max_chars: int, field: str) -> None:
    if not value or len(value) > max_chars:
        raise EpcError(f"{field} {value!r} must have 1..{max_chars} characters")
    bad = [ch for ch in value if ch not in _AI82]
    if bad:
        raise EpcError(f"{field} {value!r} contains {bad[0]!r}, not a GS1 AI 82 character")


def _chars7_int(value: str, nchars: int) -> int:
    out = 0
    for ch in value.ljust(nchars, "\0"):
        out = (out << 7) | ord(ch)
    return out


def encode_sgtin96(
    gtin: str, serial: int | str, *, filter: int = 1, company_prefix_length: int
) -> str:
    """SGTIN-96 hex for a GTIN and a numeric serial (< 2^38, no leading zeros)."""
    _check_filter(filter)
    cp, item = _gtin_parts(gtin, company_prefix_length)
    part, cp_bits, ref_bits, _ = _split_partition(
        company_prefix_length, _SGTIN_PARTITIONS, "sgtin-96"
    )
    text = str(serial)
    _require_digits(text, "SGTIN-96 serial")
    if (len(text) > 1 and text[0] == "0") or int(text) > SGTIN96_MAX_SERIAL:
        raise EpcError(f"serial {text!r} does not fit SGTIN-96 (use SGTIN-198)")
    value = _header_fields(0x30, filter, part, cp, cp_bits, int(item), ref_bits)
    return _to_hex((value << 38) | int(text), 96)


def encode_sgtin198(gtin: str, serial: str, *, filter: int = 1, company_prefix_length: int) -> str:
    """SGTIN-198 hex (13 words, 52 hex digits) for an alphanumeric serial of up to 20 chars."""
    _check_filter(filter)
    cp, item = _gtin_parts(gtin, company_prefix_length)
    part, cp_bits, ref_bits, _ = _split_partition(
        company_prefix_length, _SGTIN_PARTITIONS, "sgtin-198"
    )
    _check_chars(serial, 20, "SGTIN-198 serial")
    value = _header_fields(0x36, filter, part, cp, cp_bits, int(item), ref_bits)
    return _to_hex((value << 140) | _chars7_int(serial, 20), 198)


def encode_sscc96(company_prefix: str, serial_reference: str, *, filter: int = 0) -> str:
    """SSCC-96 hex; `serial_reference` is the extension digit plus serial (17 - L digits)."""
    _check_filter(filter)
    _require_digits(company_prefix, "company prefix")
    _require_digits(serial_reference, "serial reference")
    part, cp_bits, ref_bits, ref_digits = _split_partition(
        len(company_prefix), _SSCC_PARTITIONS, "sscc-96"
    )
    if len(serial_reference) != ref_digits:
        raise EpcError(f"serial reference must have {ref_digits} digits for this company prefix")
    value = _header_fields(
        0x31, filter, part, company_prefix, cp_bits, int(serial_reference), ref_bits
    )
    return _to_hex(value << 24, 96)


def encode_sgln96(
    company_prefix: str, location_reference: str, extension: int = 0, *, filter: int = 0
) -> str:
    _check_filter(filter)
    _require_digits(company_prefix, "company prefix")
    part, cp_bits, ref_bits, ref_digits = _split_partition(
        len(company_prefix), _SGLN_PARTITIONS, "sgln-96"
    )
    if len(location_reference) != ref_digits or (ref_digits and not location_reference.isdigit()):
        raise EpcError(f"location reference must have {ref_digits} digits for this company prefix")
    if not 0 <= extension < (1 << 41):
        raise EpcError(f"SGLN-96 extension {extension} does not fit 41 bits")
    ref = int(location_reference) if location_reference else 0
    value = _header_fields(0x32, filter, part, company_prefix, cp_bits, ref, ref_bits)
    return _to_hex((value << 41) | extension, 96)


def _grai_head(header: int, company_prefix: str, asset_type: str, filter: int) -> int:
    _check_filter(filter)
    _require_digits(company_prefix, "company prefix")
    part, cp_bits, ref_bits, ref_digits = _split_partition(
        len(company_prefix), _GRAI_PARTITIONS, "grai"
    )
    if len(asset_type) != ref_digits or (ref_digits and not asset_type.isdigit()):
        raise EpcError(f"asset type must have {ref_digits} digits for this company prefix")
    return _header_fields(
        header, filter, part, company_prefix, cp_bits, int(asset_type or 0), ref_bits
    )


def encode_grai96(company_prefix: str, asset_type: str, serial: int, *, filter: int = 0) -> str:
    if not 0 <= serial <= SGTIN96_MAX_SERIAL:
        raise EpcError(f"GRAI-96 serial {serial} does not fit 38 bits")
    return _to_hex((_grai_head(0x33, company_prefix, asset_type, filter) << 38) | serial, 96)


def encode_grai170(company_prefix: str, asset_type: str, serial: str, *, filter: int = 0) -> str:
    _check_chars(serial, 16, "GRAI-170 serial")
    head = _grai_head(0x37, company_prefix, asset_type, filter)
    return _to_hex((head << 112) | _chars7_int(serial, 16), 170)


def encode_giai96(company_prefix: str, asset_reference: int, *, filter: int = 0) -> str:
    _check_filter(filter)
    _require_digits(company_prefix, "company prefix")
    part, cp_bits, ref_bits, ref_digits = _split_partition(
        len(company_prefix), _GIAI96_PARTITIONS, "giai-96"
    )
    if not 0 <= asset_reference < min(10**ref_digits, 1 << ref_bits):
        raise EpcError(f"GIAI-96 asset reference {asset_reference} does not fit this partition")
    return _to_hex(
        _header_fields(0x34, filter, part, company_prefix, cp_bits, asset_reference, ref_bits), 96
    )


def encode_giai202(company_prefix: str, asset_reference: str, *, filter: int = 0) -> str:
    _check_filter(filter)
    _require_digits(company_prefix, "company prefix")
    part, cp_bits, ref_bits, nchars = _split_partition(
        len(company_prefix), _GIAI202_PARTITIONS, "giai-202"
    )
    _check_chars(asset_reference, nchars, "GIAI-202 asset reference")
    ref = _chars7_int(asset_reference, nchars) << (ref_bits - 7 * nchars)
    return _to_hex(_header_fields(0x38, filter, part, company_prefix, cp_bits, ref, ref_bits), 202)


def encode_sgtin(gtin: str, serial: str, *, company_prefix_length: int, filter: int = 1) -> str:
    """The tag for a serialised item: SGTIN-96 when the serial fits (digits, no leading zero,
    < 2^38), SGTIN-198 for any other serial of up to 20 GS1 AI 82 characters."""
    fits_96 = serial.isdigit() and (serial == "0" or serial[0] != "0")
    if fits_96 and int(serial) <= SGTIN96_MAX_SERIAL:
        return encode_sgtin96(gtin, serial, filter=filter,
                              company_prefix_length=company_prefix_length)  # fmt: skip
    return encode_sgtin198(gtin, serial, filter=filter,
                           company_prefix_length=company_prefix_length)  # fmt: skip
