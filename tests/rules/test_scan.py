"""Scans: every form a GS1 barcode reaches hwms in, HIBC, bare GTINs and opaque codes, one
identity with the tag reads of the same item, and refusals that say why."""

from __future__ import annotations

import random
from datetime import date
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules import epc, hibc
from rules.scan import GS, ItemIdentity, ScanError, ScanJoiner, from_epc, parse_scan

AI82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
UDI = {"gtin": "04012345000016", "lot": "2611A", "expiry": "2028-03-31", "serial": "SN000123"}


@pytest.mark.parametrize(
    "text",
    [
        "]d2010401234500001617280331102611A\x1d21SN000123",  # DataMatrix, as a scanner sends it
        "]d2\x1d010401234500001617280331102611A\x1d21SN000123",  # FNC1 first as GS too
        "010401234500001617280331102611A\x1d21SN000123",  # no symbology identifier
        "\x1d010401234500001617280331102611A\x1d21SN000123\r\n",  # wedge's Enter kept
        "]C1010401234500001617280331102611A\x1d21SN000123",  # GS1-128
        "]Q3010401234500001617280331102611A\x1d21SN000123",  # GS1 QR
        "]d201040123450000161728033121SN000123\x1d102611A",  # other AI order
        "(01)04012345000016(17)280331(10)2611A(21)SN000123",  # typed by a person
        "(01) 04012345000016 (17) 280331 (10) 2611A (21) SN000123",
        "https://id.gs1.org/01/04012345000016/10/2611A/21/SN000123?17=280331",  # Digital Link
        "https://scan.hospital.example/01/04012345000016/10/2611A/21/SN000123?17=280331",
        "]Q1https://id.gs1.org/01/04012345000016/10/2611A/21/SN000123?17=280331",
        "HTTPS://id.gs1.org/01/04012345000016/10/2611%41/21/SN000123?17=280331",
    ],
)
def test_the_same_udi_in_every_form(text: str) -> None:
    assert parse_scan(text).to_json() == UDI


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4006381333931", {"gtin": "04006381333931"}),  # EAN-13
        ("]E04006381333931", {"gtin": "04006381333931"}),
        ("036000291452", {"gtin": "00036000291452"}),  # UPC-A
        ("96385074", {"gtin": "00000096385074"}),  # EAN-8
        ("]E496385074", {"gtin": "00000096385074"}),
        ("14006381333938", {"gtin": "14006381333938"}),  # GTIN-14 (a case)
        (
            "01040123450000161728010010X",
            {"gtin": "04012345000016", "lot": "X", "expiry": "2028-01-31"},
        ),
        ("]C100340123450000000017", {"sscc": "340123450000000017"}),  # a pallet's SSCC
        ("]C10204012345000016\x1d3712", {"gtin": "04012345000016", "quantity": 12}),  # contents
        ("0104012345000016\x1d30144", {"gtin": "04012345000016", "quantity": 144}),
        (
            "]d201040123450000161728033110A1",
            {"gtin": "04012345000016", "lot": "A1", "expiry": "2028-03-31"},
        ),
        ("81234567890123456789", {"serial": "81234567890123456789"}),  # China drug trace code
        ("]C081234567890123456789", {"serial": "81234567890123456789"}),
        ("+A123BJC5D6E71G", {"hibc_lic": "A123", "hibc_pcn": "BJC5D6E7", "hibc_uom": 1}),
        ("]d1+A123BJC5D6E71G", {"hibc_lic": "A123", "hibc_pcn": "BJC5D6E7", "hibc_uom": 1}),
    ],
)
def test_other_identifiers(text: str, expected: dict[str, object]) -> None:
    assert parse_scan(text).to_json() == expected


def test_expiry_day_00_is_the_last_day_of_the_month() -> None:
    assert parse_scan("0104012345000016172802001010").expiry == date(2028, 2, 29)
    assert parse_scan("0104012345000016172702001010").expiry == date(2027, 2, 28)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("01040123450000171728033110AB", "check digit"),  # GTIN check digit
        ("4006381333932", "check digit"),
        ("]C100340123450000000018", "check digit"),  # SSCC check digit
        ("0204012345000017\x1d3712", "check digit"),
        ("0104012345000016171328311010", "(17)"),  # month 13
        ("0104012345000016172802301010", "(17)"),  # 30 February
        ("]d2010401234500", "(01)"),  # truncated GTIN
        ("0104012345000016172803", "(17)"),  # truncated date
        ("01040123450000161728033110" + "A" * 21, "Application Identifier"),  # lot over 20
        ("0104012345000016\x1d23999", "Application Identifier"),  # unknown AI (23)
        ("01040123450000161728033110AB\xe9", "GS1 character set"),  # not GS1 characters
        ("01040123450000161728033110A B", "GS1 character set"),
        ("0104012345000016\x1d10A\x1d10B", "twice"),
        ("https://example.com/products/42", "Digital Link"),
        ("https://id.gs1.org/01/04012345000017", "check digit"),
        ("]d1hello", "symbology ]d1"),
        ("]d", "truncated"),
        ("", "empty"),
        ("\r\n", "empty"),
        ("]d2", "no GS1 data"),
        ("x" * 600, "longer than"),
        ("+A123BJC5D6E71H", "HIBC: check character"),
        ("hello", "Application Identifier"),
    ],
)
def test_refusals_say_what_is_wrong(text: str, why: str) -> None:
    with pytest.raises(ScanError) as info:
        parse_scan(text)
    assert why in str(info.value)


def test_a_tag_read_and_a_scan_of_the_same_item_are_one_identity() -> None:
    hex96 = epc.encode_sgtin96("04012345000016", 123, company_prefix_length=7)
    read = from_epc(epc.decode(hex96))
    scanned = parse_scan("]d20104012345000016\x1d21123")
    assert read.key == scanned.key
    assert scanned.epc_uri() == epc.decode(hex96).uri == "urn:epc:id:sgtin:4012345.000001.123"
    alnum = parse_scan("(01)04012345000016(21)32a/b")  # an alphanumeric serial: SGTIN-198
    tag = epc.decode(epc.encode_sgtin("04012345000016", "32a/b", company_prefix_length=7))
    assert tag.scheme == "sgtin-198" and alnum.epc_uri() == tag.uri
    assert from_epc(tag).key == alnum.key
    assert parse_scan("4006381333931").epc_uri() is None  # no serial, no tag identity


def test_a_secondary_hibc_symbol_joins_its_primary() -> None:
    joiner = ScanJoiner()
    joiner.feed("+A123BJC5D6E71G")
    body = "+$$0528LOT1G"
    joined = joiner.feed(body + hibc.check_character(body))
    assert joined.to_json() == {
        "lot": "LOT1",
        "expiry": "2028-05-31",
        "hibc_lic": "A123",
        "hibc_pcn": "BJC5D6E7",
        "hibc_uom": 1,
    }
    assert joined.hibc_product == "+A123BJC5D6E71"
    joiner.feed("+A123BJC5D6E71G")
    wrong = "+$$0528LOT1X"
    with pytest.raises(ScanError, match="link character"):
        joiner.feed(wrong + hibc.check_character(wrong))
    alone = ScanJoiner().feed(body + hibc.check_character(body))  # no primary before it
    assert alone.hibc_lic is None and alone.lot == "LOT1"


# --- generated UDIs in every form give the same identity --------------------------------------


def _gtin(body: str) -> str:
    return body + epc.gs1_check_digit(body)


gtins = st.text("0123456789", min_size=13, max_size=13).map(_gtin)
values = st.text(AI82.replace("(", "").replace(")", ""), min_size=1, max_size=20)  # typed: no ()
expiries = st.dates(date(2001, 1, 1), date(2060, 12, 31))


@settings(max_examples=300, deadline=None)
@given(
    gtins,
    values,
    expiries,
    values,
    st.permutations(["17", "10", "21"]),
    st.booleans(),
    st.sampled_from(["", "]d2", "]C1", "]Q3"]),
)
def test_generated_udis_in_every_form(
    gtin: str,
    lot: str,
    expiry: date,
    serial: str,
    order: list[str],
    fnc1_first: bool,
    symbology: str,
) -> None:
    fields = {"17": f"{expiry:%y%m%d}", "10": lot, "21": serial}
    element = "01" + gtin + "".join(ai + fields[ai] + (GS if ai != "17" else "") for ai in order)
    scanned = parse_scan(symbology + (GS if fnc1_first else "") + element.rstrip(GS))
    typed = parse_scan("(01)" + gtin + "".join(f"({ai}){fields[ai]}" for ai in order))
    link = parse_scan(
        f"https://any.example/01/{gtin}/10/{quote(lot, safe='')}/21/{quote(serial, safe='')}?17={fields['17']}"
    )
    want = ItemIdentity(source="gs1", gtin=gtin, lot=lot, expiry=expiry, serial=serial)
    for ident in (scanned, typed, link):
        assert ident.to_json() == want.to_json()
        assert ident.key == want.key


# --- fuzz: a result or a clear error, never an exception -----------------------------------

SAMPLES = [
    "]d2010401234500001617280331102611A\x1d21SN000123",
    "(01)04012345000016(17)280331(10)2611A",
    "https://id.gs1.org/01/04012345000016/10/2611A?17=280331",
    "+A123BJC5D6E71G",
    "+A99912345/$$52001510X0",
    "4006381333931",
]


def _mutate(text: str, rnd: random.Random) -> str:
    chars = list(text)
    for _ in range(rnd.randint(1, 4)):
        op, at = rnd.randrange(3), rnd.randrange(len(chars) + 1)
        ch = chr(rnd.choice([rnd.randrange(32, 127), 0x1D, rnd.randrange(0, 0x3000)]))
        if op == 0:
            chars.insert(at, ch)
        elif chars and op == 1:
            del chars[min(at, len(chars) - 1)]
        elif chars:
            chars[min(at, len(chars) - 1)] = ch
    return "".join(chars)


def _result_or_clear_error(text: str) -> None:
    try:
        ident = parse_scan(text)
    except ScanError as exc:
        assert str(exc)
    else:
        ident.to_json()
        ident.epc_uri(7)


@settings(max_examples=1500, deadline=None)
@given(st.text(max_size=80) | st.text("0123456789()+$/\x1d]dCQe", max_size=60))
def test_fuzz_random_text(text: str) -> None:
    _result_or_clear_error(text)


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(SAMPLES), st.integers(0, 2**32))
def test_fuzz_mutated_scans(text: str, seed: int) -> None:
    _result_or_clear_error(_mutate(text, random.Random(seed)))


@st.composite
def _label_sequences(draw: st.DrawFn) -> list[tuple[str, str]]:
    """Scans as a person makes them at a two-line HIBC label: primaries, their secondaries
    (sometimes of another primary), GS1 codes between."""
    out = []
    for _ in range(draw(st.integers(0, 8))):
        pcn = draw(st.text("ABC123", min_size=1, max_size=4))
        primary = hibc.encode_primary("A123", pcn, 1)
        kind = draw(st.sampled_from(["primary", "secondary", "other"]))
        if kind == "primary":
            out.append(("primary", primary))
        elif kind == "secondary":
            link = draw(st.sampled_from([primary[-1], "Z"]))
            label = hibc.HibcLabel(form="secondary", lot=f"L{pcn}", date_format="7")
            out.append((f"secondary:{link}", hibc.encode_secondary(label, link)))
        else:
            out.append(("other", "4006381333931"))
    return out


@settings(max_examples=300, deadline=None)
@given(_label_sequences())
def test_joiner_joins_a_secondary_only_right_after_its_primary(
    scans: list[tuple[str, str]],
) -> None:
    joiner, previous = ScanJoiner(), None
    for kind, text in scans:
        try:
            ident = joiner.feed(text)
        except ScanError as exc:  # a secondary whose link is not the primary's check
            assert (
                kind.startswith("secondary")
                and previous is not None
                and "link character" in str(exc)
            )
            assert kind != f"secondary:{previous[-1]}"
            previous = None
            continue
        if kind.startswith("secondary") and previous is not None:
            assert joiner.joined and ident.hibc_lic == "A123" and ident.lot is not None
            assert kind == f"secondary:{previous[-1]}"
        else:
            assert not joiner.joined
        previous = text if kind == "primary" else None
