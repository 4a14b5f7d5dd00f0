"""Labels: what hwms prints scans back as what it was made from, and the tag it writes is
the SGTIN of the same item."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules import epc
from rules.labels import LabelError, LabelSpec, gs1_data, hri, tag_hex, zpl
from rules.scan import ItemIdentity, from_epc, parse_scan

AI82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
STENT = ItemIdentity(source="gs1", gtin="04012345000023", lot="S_1", expiry=date(2028, 3, 31),
                     serial="1001", company_prefix_length=7)  # fmt: skip


def _matrix_as_scanned(label: str) -> str:
    """The ^BX field as a scanner reports it: `_1` first is FNC1 (dropped), later ones GS,
    `__` an underscore."""
    data = re.search(r"\^BX[^\^]*\^FD(.*?)\^FS", label, re.S)
    assert data is not None
    tokens = re.findall(r"__|_1|.", data[1], re.S)
    assert tokens[0] == "_1"
    return "".join({"__": "_", "_1": "\x1d"}.get(t, t) for t in tokens[1:])


def test_rfid_label_writes_the_items_sgtin_and_prints_its_datamatrix() -> None:
    label = zpl(STENT, name="Coronary stent ^3.0~18 支架")
    assert label.startswith("^XA\n^CI28\n") and label.endswith("^XZ\n")
    written = re.search(r"\^RFW,H,,,A\^FD([0-9A-F]+)\^FS", label)
    assert written is not None
    tag = epc.decode(written[1])
    assert tag.scheme == "sgtin-96" and from_epc(tag).key == ("gtin", STENT.gtin, "1001", "")
    assert parse_scan(_matrix_as_scanned(label)).to_json() == STENT.to_json()
    assert "\\5E3.0\\7E18 支架" in label  # ZPL command characters in a name are escaped
    assert "(10)S_1" in label and tag.uri in label


def test_alphanumeric_serial_is_written_as_sgtin_198() -> None:
    item = ItemIdentity(source="gs1", gtin="04012345000023", lot="A", expiry=date(2028, 1, 31),
                        serial="X-7/b")  # fmt: skip
    tag = epc.decode(tag_hex(item))
    assert tag.scheme == "sgtin-198" and tag.serial == "X-7/b"


def test_internal_label_of_a_split_pack_has_no_tag() -> None:
    pack = ItemIdentity(source="gs1", gtin="04012345000016", lot="L1", expiry=date(2028, 1, 31),
                        quantity=6)  # fmt: skip
    label = zpl(pack, write_tag=False, contents=True, spec=LabelSpec(width_dots=600), copies=3)
    assert "^RFW" not in label and "^PW600" in label and "^PQ3" in label
    assert parse_scan(_matrix_as_scanned(label)).to_json() == {
        "gtin": "04012345000016",
        "lot": "L1",
        "expiry": "2028-01-31",
        "quantity": 6,
    }
    assert hri(pack, contents=True) == "(02)04012345000016(17)280131(10)L1(30)6"


@pytest.mark.parametrize(
    ("item", "why"),
    [
        (ItemIdentity(source="hibc", hibc_lic="A123"), "needs a GTIN"),
        (ItemIdentity(source="gs1", gtin="04012345000016"), "needs a GTIN and a serial"),
        (ItemIdentity(source="gs1", gtin="04012345000016", serial="é"), "AI 82"),
    ],
)
def test_refusals(item: ItemIdentity, why: str) -> None:
    with pytest.raises(LabelError, match=why):
        zpl(item)


gtins = st.text("0123456789", min_size=13, max_size=13).map(lambda b: b + epc.gs1_check_digit(b))
values = st.text(AI82, min_size=1, max_size=20)


@settings(max_examples=300, deadline=None)
@given(
    gtins,
    st.none() | values,
    st.none() | st.dates(date(2001, 1, 1), date(2060, 12, 31)),
    st.none() | values,
    st.none() | st.integers(1, 99_999_999),
)
def test_every_label_scans_back_as_what_it_was_made_from(
    gtin: str, lot: str | None, expiry: date | None, serial: str | None, quantity: int | None
) -> None:
    item = ItemIdentity(source="gs1", gtin=gtin, lot=lot, expiry=expiry, serial=serial,
                        quantity=quantity)  # fmt: skip
    assert parse_scan(gs1_data(item)).to_json() == item.to_json()
    assert parse_scan(_matrix_as_scanned(zpl(item, write_tag=False))).to_json() == item.to_json()
