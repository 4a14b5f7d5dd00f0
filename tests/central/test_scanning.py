"""Scans against the ledger on SQLite and PostgreSQL: receiving, issue, dispensing, returns
and counts by scan make the same stock and movements as gates and cabinets."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from central import db, reports
from central.imports import import_master_data
from central.ledger import Ledger, ScanBookingError, ScanPurpose
from central.models import Movement
from rules import epc, hibc
from rules.labels import gs1_data
from rules.scan import ItemIdentity
from tests.central.conftest import signed
from tests.conftest import TEST_NOW, days, fixed_clock

SALINE, STENT, DRUG = "04012345000016", "04012345000023", "04012345000047"
PRODUCTS = (
    "gtin,name,hibc,trace_prefix\n"
    f"{SALINE},Sodium chloride 0.9% 500 ml,,\n"
    f"{STENT},Coronary stent 3.0x18,+A123STENT301,\n"
    f"{DRUG},头孢唑林钠 1 g,,8100001\n"
)


def scan(gtin: str, *, lot: str | None = None, expiry: date | None = None,
         serial: str | None = None, quantity: int | None = None) -> str:  # fmt: skip
    """What a keyboard-wedge scanner types for a GS1 DataMatrix with these fields."""
    ident = ItemIdentity(source="gs1", gtin=gtin, lot=lot, expiry=expiry, serial=serial,
                         quantity=quantity)  # fmt: skip
    return "]d2" + gs1_data(ident)


def ledger(url: str) -> Ledger:
    db.upgrade(url)
    lg = Ledger(db.engine(url), clock=fixed_clock())
    with lg.session.begin() as s:
        import_master_data(s, "products", PRODUCTS, actor="test")
    return lg


def stock(lg: Ledger, location: str) -> dict[tuple[str, str], int]:
    return {(r["gtin"], r["lot"]): r["quantity"] for r in lg.stock(location)}


def test_receive_by_scan_serialised_and_untagged_and_hibc(db_url: str) -> None:
    lg = ledger(db_url)
    exp = days(400)
    codes = [
        scan(STENT, lot="S1", expiry=exp, serial="1001"),
        scan(STENT, lot="S1", expiry=exp, serial="1002"),
        scan(SALINE, lot="L1", expiry=exp),
        scan(SALINE, lot="L1", expiry=exp),
        "]C1"
        + gs1_data(
            ItemIdentity(source="gs1", gtin=SALINE, lot="L1", expiry=exp, quantity=12),
            contents=True,
        ),
        SALINE[1:],  # a bare EAN-13: lot and expiry typed by the storekeeper
    ]
    primary = hibc.encode_primary("A123", "STENT30", 1)
    secondary = hibc.encode_secondary(
        hibc.HibcLabel(form="secondary", lot="H7", expiry=exp, date_format="3"), primary[-1]
    )
    codes += [primary, secondary]  # a two-line HIBC label: one item
    fill = {SALINE: ("L2", days(300))}
    resolved = lg.resolve_scans(codes, ScanPurpose.RECEIVE, "s1/store", fill=fill)
    assert [r.problem for r in resolved] == [""] * 7
    assert resolved[0].epc == "urn:epc:id:sgtin:4012345.000002.1001"
    assert resolved[-1].gtin == STENT and resolved[-1].lot == "H7"
    n = lg.receive_scans(codes, location="s1/store", actor="sam", number="D-1", fill=fill)
    assert n == 2 + 2 + 12 + 1 + 1
    assert stock(lg, "s1/store") == {
        (SALINE, "L1"): 14,
        (SALINE, "L2"): 1,
        (STENT, "S1"): 2,
        (STENT, "H7"): 1,
    }
    # the same serial cannot be received twice while in stock
    again = lg.resolve_scans([codes[0]], ScanPurpose.RECEIVE, "s1/store")
    assert again[0].problem == "serial already in stock at s1/store"
    # the tag of a scanned item is the one an RFID read of it gives
    hex96 = epc.encode_sgtin96(STENT, 1001, company_prefix_length=7)
    assert lg.epc_history(epc.decode(hex96).uri)["location"] == "s1/store"


@pytest.mark.parametrize(
    ("codes", "why"),
    [
        ([scan(SALINE, lot="L1", expiry=days(-1))], "expired on"),
        ([scan(SALINE)], "lot and expiry needed"),
        ([scan("04012345000030", lot="X", expiry=days(100))], "not in the product master data"),
        (
            [
                scan(STENT, lot="S", expiry=days(9), serial="7"),
                scan(STENT, lot="S", expiry=days(9), serial="7"),
            ],
            "scanned twice",
        ),
        (["0104012345000017"], "check digit"),
        (["]C100340123450000000017"], "SSCC"),
        (["81234567890123456789"], "drug code 8123456 is not in the product master data"),
        ([hibc.encode_primary("A123", "STENT30", 1)], "lot and expiry needed"),
        (
            [
                hibc.encode_concatenated(
                    hibc.HibcLabel(
                        form="concatenated",
                        lic="Z999",
                        pcn="NONE",
                        uom=1,
                        lot="X",
                        expiry=days(99),
                        date_format="3",
                    )
                )
            ],
            "HIBC product \\+Z999NONE1 is not in the",
        ),
    ],
)
def test_receiving_refuses_with_the_reason(db_url: str, codes: list[str], why: str) -> None:
    lg = ledger(db_url)
    with pytest.raises(ScanBookingError, match=why):
        lg.receive_scans(codes, location="s1/store", actor="sam")
    assert lg.stock() == []


def _stocked(db_url: str) -> Ledger:
    lg = ledger(db_url)
    codes = [scan(STENT, lot="S1", expiry=days(400), serial=str(i)) for i in (1, 2, 3)]
    codes += [scan(SALINE, lot="EARLY", expiry=days(30), quantity=2),
              scan(SALINE, lot="LATE", expiry=days(300), quantity=5)]  # fmt: skip
    lg.receive_scans(codes, location="s1/store", actor="sam", number="D-0")
    return lg


def test_issue_dispense_and_return_by_scan(db_url: str) -> None:
    lg = _stocked(db_url)
    issue = [scan(STENT, serial="1"), scan(STENT, serial="2"), SALINE[1:], SALINE[1:], SALINE[1:]]
    n = lg.move_scans(ScanPurpose.ISSUE, issue, location="s1/store", to_location="s1/ward-5",
                      user="sam")  # fmt: skip
    assert n == 5
    # FEFO: two from the early lot, then the late one
    assert stock(lg, "s1/ward-5") == {(STENT, "S1"): 2, (SALINE, "EARLY"): 2, (SALINE, "LATE"): 1}
    lg.move_scans(ScanPurpose.DISPENSE, [scan(STENT, serial="1"), SALINE[1:]], location="s1/ward-5",
                  user="anna", case_id="OR-7")  # fmt: skip
    assert stock(lg, "s1/ward-5") == {(STENT, "S1"): 1, (SALINE, "LATE"): 1, (SALINE, "EARLY"): 1}
    lg.move_scans(ScanPurpose.RETURN, [scan(STENT, serial="1")], location="s1/ward-5", user="anna",
                  reason="unused")  # fmt: skip
    assert stock(lg, "s1/ward-5")[(STENT, "S1")] == 2
    with lg.session() as s:
        kinds = [m.kind for m in s.scalars(select(Movement).order_by(Movement.id))]
        dispensed = s.scalars(select(Movement).where(Movement.kind == "dispense")).all()
        consumed = reports.consumption(s, TEST_NOW.replace(year=2000), TEST_NOW.replace(year=2100))
    assert kinds.count("issue") == 3 and kinds.count("dispense") == 2 and kinds.count("return") == 1
    assert {m.case_id for m in dispensed} == {"OR-7"}
    assert sum(r["quantity"] for r in consumed) == 1  # 2 dispensed, 1 came back


@pytest.mark.parametrize(
    ("purpose", "codes", "why"),
    [
        (
            ScanPurpose.DISPENSE,
            [scan(STENT, serial="1")],
            "not in stock here: the ledger has it at s1/store",
        ),
        (ScanPurpose.ISSUE, [scan(STENT, serial="99")], "never received"),
        (ScanPurpose.RETURN, [scan(STENT, serial="1")], "already in stock here"),
        (ScanPurpose.ISSUE, [scan(SALINE, lot="EARLY", quantity=3)], "only 2 of lot EARLY"),
        (ScanPurpose.RETURN, [SALINE[1:]], "lot is needed"),
        (ScanPurpose.DISPENSE, [SALINE[1:]], "names the case or patient"),
        (
            ScanPurpose.ISSUE,
            [scan(STENT, lot="OTHER", serial="1")],
            "the ledger has this item in lot S1",
        ),
    ],
)
def test_moves_refuse_with_the_reason(
    db_url: str, purpose: ScanPurpose, codes: list[str], why: str
) -> None:
    lg = _stocked(db_url)
    location = "s1/ward-5" if purpose == ScanPurpose.DISPENSE else "s1/store"
    case_id = "" if "case or patient" in why else "C-1"
    with pytest.raises(ScanBookingError, match=why):
        lg.move_scans(purpose, codes, location=location, to_location="s1/ward-5", user="sam",
                      case_id=case_id)  # fmt: skip


def test_a_recall_locked_or_expired_batch_is_never_picked(db_url: str) -> None:
    lg = _stocked(db_url)
    lg.lock_batch(SALINE, "EARLY", signed=signed(lg, "quinn"))
    lg.move_scans(
        ScanPurpose.ISSUE, [SALINE[1:]], location="s1/store", to_location="s1/ward-5", user="sam"
    )
    assert stock(lg, "s1/ward-5") == {(SALINE, "LATE"): 1}
    with pytest.raises(ScanBookingError, match="recall-locked"):
        lg.move_scans(ScanPurpose.ISSUE, [scan(SALINE, lot="EARLY")], location="s1/store",
                      to_location="s1/ward-5", user="sam")  # fmt: skip


def test_count_by_scan_merged_with_rfid_reads(db_url: str) -> None:
    lg = _stocked(db_url)
    rfid = (epc.decode(epc.encode_sgtin96(STENT, 1, company_prefix_length=7)).uri,)
    codes = (
        [scan(STENT, serial="2")]
        + [scan(SALINE, lot="LATE")] * 4
        + [scan(SALINE, lot="EARLY", quantity=2)]
    )
    report = lg.count_scans("s1/store", codes, user="sam", epcs=rfid)
    assert (report["source"], report["expected"], report["matched"]) == ("scan", 3, 2)
    findings = {
        (ln["finding"], ln.get("lot"), ln.get("expected_quantity"), ln.get("counted_quantity"))
        for ln in report["lines"]
    }
    assert findings == {("missing", None, None, None), ("short", "LATE", 5, 4)}
    lg.confirm_stocktake(report["id"], signed=signed(lg, "sam", role="storekeeper"))
    assert stock(lg, "s1/store") == {(STENT, "S1"): 2, (SALINE, "EARLY"): 2, (SALINE, "LATE"): 4}


def test_an_hibc_identifier_belongs_to_one_product(db_url: str) -> None:
    from central.imports import MasterDataError

    lg = ledger(db_url)
    for csv in (f"gtin,name,hibc\n{SALINE},Saline,+A123STENT301\n",
                f"gtin,name,hibc\n{SALINE},Saline,bad\n"):  # fmt: skip
        with pytest.raises(MasterDataError, match="hibc"), lg.session.begin() as s:
            import_master_data(s, "products", csv, actor="test")


def test_chinese_drug_traceability_codes_name_items_through_the_master_data(db_url: str) -> None:
    """A 20-digit code names one box: its first 7 digits the product (trace_prefix), the
    receipt its lot and expiry; later scans of the code find that box."""
    lg = ledger(db_url)
    codes = [f"810000112345678{i:04d}0" for i in range(3)]
    fill = {DRUG: ("CZ2611", days(500))}
    assert lg.receive_scans(codes, location="s1/pharmacy", actor="sam", fill=fill) == 3
    assert stock(lg, "s1/pharmacy") == {(DRUG, "CZ2611"): 3}
    lg.move_scans(ScanPurpose.DISPENSE, codes[:1], location="s1/pharmacy", user="anna",
                  case_id="P-9")  # fmt: skip
    assert stock(lg, "s1/pharmacy") == {(DRUG, "CZ2611"): 2}
    again = lg.resolve_scans(codes[:1], ScanPurpose.DISPENSE, "s1/pharmacy")
    assert again[0].problem == "not in stock here: the ledger has it out of stock"
    history = lg.epc_history(f"urn:hwms:item:cn-trace:{codes[0]}")
    assert [m["kind"] for m in history["movements"]] == ["receiving", "dispense"]
    assert lg.commissioning_map().records == {}  # no tag for an edge to read


def test_a_box_or_case_gtin_is_received_and_issued_as_its_eaches(db_url: str) -> None:
    from central.imports import MasterDataError
    from central.ledger import ReceiptLine

    lg = ledger(db_url)
    box, case = "14012345000013", "24012345000010"
    with lg.session.begin() as s:
        import_master_data(s, "packs", f"gtin,product,level,quantity\n{box},{SALINE},box,10\n"
                           f"{case},{SALINE},case,120\n", actor="test")  # fmt: skip
    # a file's line of one case, a scanned box (DataMatrix with lot) and a bare case GTIN-14
    lg.receive([ReceiptLine(epc="", gtin=case, lot="L1", expiry=days(300), location="s1/store")],
               actor="sam")  # fmt: skip
    lg.receive_scans([scan(box, lot="L1", expiry=days(300)), case], location="s1/store",
                     actor="sam", fill={SALINE: ("L1", days(300))})  # fmt: skip
    assert stock(lg, "s1/store") == {(SALINE, "L1"): 120 + 10 + 120}
    lg.move_scans(
        ScanPurpose.ISSUE, [box], location="s1/store", to_location="s1/ward-5", user="sam"
    )
    assert stock(lg, "s1/ward-5") == {(SALINE, "L1"): 10}
    refused = lg.resolve_scans(
        [scan(box, lot="L1", expiry=days(300), serial="7")], ScanPurpose.RECEIVE, "s1/store"
    )
    assert refused[0].problem == "a serialised pack: the ledger keeps serials of eaches"
    for bad, why in ((f"{box},{SALINE},box,1", "2 or more"), (f"{SALINE},{SALINE},box,5", "product's own GTIN"),
                     (f"{box},04012345000030,box,5", "not in the product master data")):  # fmt: skip
        with pytest.raises(MasterDataError, match=why), lg.session.begin() as s:
            import_master_data(s, "packs", f"gtin,product,level,quantity\n{bad}\n", actor="test")
    with pytest.raises(MasterDataError, match="a pack's GTIN"), lg.session.begin() as s:
        import_master_data(s, "products", f"gtin,name\n{box},Box\n", actor="test")
