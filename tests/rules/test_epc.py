"""EPC Tag Data Standard decoding and encoding."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules import epc
from rules.epc import EpcError

AI82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"


def test_tds_sgtin96_worked_example() -> None:
    e = epc.decode("3074257BF7194E4000001A85")
    assert e.scheme == "sgtin-96"
    assert e.uri == "urn:epc:id:sgtin:0614141.812345.6789"
    assert e.tag_uri == "urn:epc:tag:sgtin-96:3.0614141.812345.6789"
    assert e.gtin == "80614141123458"
    assert e.serial == "6789"
    assert e.filter == 3


def test_tds_sgtin198_worked_example_both_lengths_and_escaping() -> None:
    # TDS 1.13 Annex E: urn:epc:tag:sgtin-198:3.0614141.812345.32a%2Fb
    full = "3674257BF7194E59B2C2BF100000000000000000000000000000"
    for hex_str in (full, full[:50]):
        e = epc.decode(hex_str)
        assert e.uri == "urn:epc:id:sgtin:0614141.812345.32a%2Fb"
        assert e.tag_uri == "urn:epc:tag:sgtin-198:3.0614141.812345.32a%2Fb"
        assert e.serial == "32a/b"
        assert e.gtin == "80614141123458"


@pytest.mark.parametrize(
    ("hex_str", "uri", "scheme"),
    [
        ("3154257BF4499602D2000000", "urn:epc:id:sscc:0614141.1234567890", "sscc-96"),
        ("3274257BF46072000000162E", "urn:epc:id:sgln:0614141.12345.5678", "sgln-96"),
        ("3374257BF40C0E400000162E", "urn:epc:id:grai:0614141.12345.5678", "grai-96"),
        (
            "3774257BF40C0E59B2C2BF1000000000000000000000",
            "urn:epc:id:grai:0614141.12345.32a%2Fb",
            "grai-170",
        ),
        ("3474257BF400000000BC614E", "urn:epc:id:giai:0614141.12345678", "giai-96"),
        (
            "3874257BF59B2C2BF10000000000000000000000000000000000",
            "urn:epc:id:giai:0614141.32a%2Fb",
            "giai-202",
        ),
    ],
)
def test_other_scheme_vectors(hex_str: str, uri: str, scheme: str) -> None:
    e = epc.decode(hex_str)
    assert (e.uri, e.scheme) == (uri, scheme)


def test_case_whitespace_and_trailing_zero_words_accepted() -> None:
    base = epc.decode("3074257BF7194E4000001A85")
    assert epc.decode("3074257bf7194e4000001a85") == base
    assert epc.decode(" 3074 257B F719 4E40 0000 1A85 ").uri == base.uri
    assert epc.decode("3074257BF7194E4000001A85" + "0000" * 2).uri == base.uri
    # GRAI-170 in 43 and 44 hex digits
    assert epc.decode("3774257BF40C0E59B2C2BF100000000000000000000").serial == "32a/b"


@pytest.mark.parametrize(
    ("hex_str", "message"),
    [
        ("", "empty"),
        ("30ZZ", "not hexadecimal"),
        ("3074257BF7194E4000001A", "truncated"),  # 88 bits
        ("3674257BF7194E59B2C2BF10000000000000000000000", "truncated"),
        ("000000000000000000000000", "unprogrammed"),
        ("E2801160600002084E5E8A31", "TID or vendor default"),
        ("C30000000000000000000000", "unknown header 0xC3"),
        ("F70000000000000000000000", "SGTIN+"),
        ("307C257BF7194E4000001A85", "partition value 7"),
        ("3074257BF7194E4000001A85" + "0001", "non-zero data after"),
        ("3154257BF4499602D2000001", "reserved bits"),
    ],
)
def test_rejections_say_what_is_wrong(hex_str: str, message: str) -> None:
    with pytest.raises(EpcError, match=message):
        epc.decode(hex_str)


def _sgtin96_raw(partition: int, cp: int, ref: int, serial: int = 1, filt: int = 1) -> str:
    cp_bits, _, ref_bits, _ = (
        (40, 12, 4, 1),
        (37, 11, 7, 2),
        (34, 10, 10, 3),
        (30, 9, 14, 4),
        (27, 8, 17, 5),
        (24, 7, 20, 6),
        (20, 6, 24, 7),
    )[partition]
    v = (((0x30 << 3 | filt) << 3 | partition) << cp_bits | cp) << ref_bits | ref
    return f"{(v << 38) | serial:024X}"


def test_company_prefix_overflow_is_rejected() -> None:
    # partition 5: 7-digit prefix in 24 bits; 10^7 fits the bits but not the digits
    with pytest.raises(EpcError, match="company prefix 10000000 overflows its 7 digits"):
        epc.decode(_sgtin96_raw(5, 10_000_000, 1))
    assert epc.decode(_sgtin96_raw(5, 9_999_999, 1)).company_prefix == "9999999"


def test_item_reference_overflow_is_rejected() -> None:
    with pytest.raises(EpcError, match="item reference 1000000 overflows"):
        epc.decode(_sgtin96_raw(5, 614141, 1_000_000))


def test_gs1_check_digit() -> None:
    assert epc.gs1_check_digit("8061414112345") == "8"
    assert epc.gs1_check_digit("0000000000000") == "0"


def test_raw_uri_for_non_gs1() -> None:
    assert epc.raw_uri("e2801160600002084e5e8a31") == "urn:epc:raw:96.xE2801160600002084E5E8A31"


def test_encoder_validates_gtin_and_serial() -> None:
    with pytest.raises(EpcError, match="check digit"):
        epc.encode_sgtin96("80614141123457", 1, company_prefix_length=7)
    with pytest.raises(EpcError, match="SGTIN-198"):
        epc.encode_sgtin96("80614141123458", "007", company_prefix_length=7)
    with pytest.raises(EpcError, match="not allowed"):
        epc.encode_sgtin96("80614141123458", 1, company_prefix_length=5)
    with pytest.raises(EpcError, match="AI 82"):
        epc.encode_sgtin198("80614141123458", "a b", company_prefix_length=7)


# --- property tests: round trips over every partition ------------------------------------


@st.composite
def gtins(draw: st.DrawFn) -> tuple[str, int]:
    cp_len = draw(st.integers(6, 12))
    body = draw(st.text("0123456789", min_size=13, max_size=13))
    return body + epc.gs1_check_digit(body), cp_len


serials198 = st.text(AI82, min_size=1, max_size=20)


@given(gtins(), st.integers(0, epc.SGTIN96_MAX_SERIAL), st.integers(0, 7))
def test_sgtin96_round_trip(g: tuple[str, int], serial: int, filt: int) -> None:
    gtin, cp_len = g
    e = epc.decode(epc.encode_sgtin96(gtin, serial, filter=filt, company_prefix_length=cp_len))
    assert (e.gtin, e.serial, e.filter, len(e.company_prefix)) == (gtin, str(serial), filt, cp_len)
    assert (
        e.uri
        == f"urn:epc:id:sgtin:{gtin[1 : 1 + cp_len]}.{gtin[0]}{gtin[1 + cp_len : 13]}.{serial}"
    )


@given(gtins(), serials198, st.integers(0, 7))
def test_sgtin198_round_trip(g: tuple[str, int], serial: str, filt: int) -> None:
    gtin, cp_len = g
    e = epc.decode(epc.encode_sgtin198(gtin, serial, filter=filt, company_prefix_length=cp_len))
    assert (e.gtin, e.serial, e.filter) == (gtin, serial, filt)
    assert e.uri.endswith("." + epc.escape_uri_component(serial))
    assert "/" not in e.uri.rsplit(":", 1)[1]


@given(st.integers(6, 12).flatmap(lambda n: st.tuples(st.just(n), st.data())), st.integers(0, 7))
def test_sscc_sgln_grai_giai_round_trip(nd: tuple[int, st.DataObject], filt: int) -> None:
    n, data = nd
    cp = data.draw(st.text("0123456789", min_size=n, max_size=n))
    ser = data.draw(st.text("0123456789", min_size=17 - n, max_size=17 - n))
    assert epc.decode(epc.encode_sscc96(cp, ser, filter=filt)).uri == f"urn:epc:id:sscc:{cp}.{ser}"
    loc = data.draw(st.text("0123456789", min_size=12 - n, max_size=12 - n))
    ext = data.draw(st.integers(0, (1 << 41) - 1))
    e = epc.decode(epc.encode_sgln96(cp, loc, ext, filter=filt))
    assert (e.uri, e.filter) == (f"urn:epc:id:sgln:{cp}.{loc}.{ext}", filt)
    at = data.draw(st.text("0123456789", min_size=12 - n, max_size=12 - n))
    gser = data.draw(st.integers(0, epc.SGTIN96_MAX_SERIAL))
    assert epc.decode(epc.encode_grai96(cp, at, gser)).uri == f"urn:epc:id:grai:{cp}.{at}.{gser}"
    tser = data.draw(st.text(AI82, min_size=1, max_size=16))
    e = epc.decode(epc.encode_grai170(cp, at, tser, filter=filt))
    assert e.serial == tser
    ref = data.draw(st.integers(0, 10 ** (25 - n) - 1).filter(lambda r: r.bit_length() <= 82 - 40))
    assert epc.decode(epc.encode_giai96(cp, ref)).uri == f"urn:epc:id:giai:{cp}.{ref}"
    aref = data.draw(st.text(AI82, min_size=1, max_size=30 - n))
    assert epc.decode(epc.encode_giai202(cp, aref, filter=filt)).serial == aref


@given(gtins(), st.integers(0, epc.SGTIN96_MAX_SERIAL), st.integers(0, 7))
def test_agrees_with_epcpy(g: tuple[str, int], serial: int, filt: int) -> None:
    """Differential check against a published decoder (Nedap's epcpy)."""
    epcpy = pytest.importorskip("epcpy")
    gtin, cp_len = g
    hex_str = epc.encode_sgtin96(gtin, serial, filter=filt, company_prefix_length=cp_len)
    theirs = epcpy.hex_to_tag_encodable(hex_str)
    assert theirs.epc_uri == epc.decode(hex_str).uri


# --- fuzz: arbitrary bytes never crash the decoder and never yield a malformed result ----


@given(st.binary(min_size=0, max_size=40))
def test_fuzz_decode_bytes(data: bytes) -> None:
    try:
        e = epc.decode(data.hex())
    except EpcError:
        return
    assert e.uri.startswith("urn:epc:id:")
    assert 0 <= e.filter <= 7
    if e.gtin is not None:
        assert len(e.gtin) == 14
        assert e.gtin[-1] == epc.gs1_check_digit(e.gtin[:13])


@given(st.text(max_size=60))
def test_fuzz_decode_text(text: str) -> None:
    with contextlib.suppress(EpcError):
        epc.decode(text)
