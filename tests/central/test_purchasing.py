"""Purchase orders on SQLite and PostgreSQL: ordered in the supplier's packs, approved by
the levels their value needs (never by whoever made them), sent, confirmed by the supplier's
own user, received against their lines with the variances a person accepts above the
tolerance, and delivered by a ship notice that books itself at the gate or by its SSCC."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from central import db
from central.accounts import Principal
from central.config import ApprovalLevelConfig, PurchasingConfig, ToleranceConfig
from central.errors import Conflict, Forbidden, Invalid, NotFound
from central.imports import MasterDataError, import_master_data
from central.ledger import DeliveredLine, Ledger, NoticeLineIn, OrderLineIn, VarianceRefused
from central.models import Alert, Receipt
from central.vocab import AlertState, Role
from rules.epc import gs1_check_digit
from rules.events import Batch, BatchMovement, Direction, stamp
from rules.purchasing import PoAction
from tests.central.conftest import disposed
from tests.conftest import days, fixed_clock

SALINE, GLOVES = "04012345000016", "04012345000061"
PRODUCTS = f"gtin,name,unit_price\n{SALINE},Saline 500 ml,2.50\n{GLOVES},Gloves M,0.10\n"
SUPPLIERS = (
    "code,name,contact,email,phone,fhir_url\n"
    "medline,Medline GmbH,Mia Berg,orders@medline.example,+49 30 1234,\n"
    "other,Other AG,,sales@other.example,,\n"
)
OFFERS = (
    "supplier,gtin,reference,unit_price,pack,min_order,lead_time_days\n"
    f"medline,{SALINE},ML-500,2.40,20,1,5\n"
    f"medline,{GLOVES},ML-GM,0.08,100,2,5\n"
    f"other,{SALINE},O-1,2.60,10,1,3\n"
)
STORE = "s1/store"
PAULA = Principal("paula", Role.PURCHASING, sites=frozenset({"s1"}))
PETE = Principal("pete", Role.PURCHASING, sites=frozenset({"s1"}))
ADA = Principal("ada", Role.ADMIN)
SAM = Principal("sam", Role.STOREKEEPER, sites=frozenset({"s1"}))
ANNA = Principal("anna", Role.NURSE, departments=frozenset({"ward-5"}))
MIA = Principal("mia", Role.SUPPLIER, supplier="medline")
OTTO = Principal("otto", Role.SUPPLIER, supplier="other")


def ledger(url: str, rules: PurchasingConfig | None = None) -> Ledger:
    db.upgrade(url)
    lg = Ledger(
        db.engine(url),
        clock=fixed_clock(),
        purchasing=rules
        or PurchasingConfig(
            store=STORE,
            tolerance=ToleranceConfig(
                quantity_pct=Decimal(5), price_pct=Decimal(2), min_shelf_life_days=90
            ),
        ),
    )
    disposed(lg)
    with lg.session.begin() as s:
        import_master_data(s, "products", PRODUCTS, actor="test")
        import_master_data(s, "locations", "code,name\ns1/store,Central store\n", actor="test")
        import_master_data(s, "suppliers", SUPPLIERS, actor="test")
        import_master_data(s, "supplier-products", OFFERS, actor="test")
    return lg


def sent_order(lg: Ledger, saline_packs: int = 5, gloves_packs: int = 2) -> int:
    po = lg.new_purchase_order(
        PAULA,
        supplier="medline",
        lines=[OrderLineIn(SALINE, saline_packs), OrderLineIn(GLOVES, gloves_packs)],
    )
    lg.approve_purchase_order(PETE, po["id"])
    lg.mark_purchase_order_sent(PAULA, po["id"], ["email"])
    return int(po["id"])


def tags(serials: range) -> tuple[str, ...]:
    return tuple(f"urn:epc:id:sgtin:4012345.000001.{n}" for n in serials)


def sscc(serial: int) -> str:
    body = f"0401234500{serial:07d}"
    return body + gs1_check_digit(body)


def test_ordered_approved_sent_confirmed_received(db_url: str) -> None:
    lg = ledger(db_url)
    po = lg.new_purchase_order(
        PAULA,
        supplier="medline",
        note="monthly",
        lines=[OrderLineIn(SALINE, 5), OrderLineIn(GLOVES, 2)],
    )
    assert po["status"] == "draft" and po["number"] == f"PO-{po['id']:06d}"
    assert [(ln["order_units"], ln["quantity"], ln["unit_price"]) for ln in po["lines"]] == [
        (5, 100, "2.40"),
        (2, 200, "0.08"),
    ]
    assert po["value"] == "256.00" and po["waiting_for"] == [
        {"level": "purchasing", "role": "purchasing"}
    ]
    with pytest.raises(Forbidden, match="they made"):
        lg.approve_purchase_order(PAULA, po["id"])
    with pytest.raises(NotFound):  # a supplier sees nothing before it is sent
        lg.purchase_order(MIA, po["id"])
    assert lg.approve_purchase_order(PETE, po["id"])["status"] == "approved"
    assert lg.mark_purchase_order_sent(PAULA, po["id"], ["email"])["status"] == "sent"
    assert [o["id"] for o in lg.purchase_orders(MIA)] == [po["id"]]
    assert lg.purchase_orders(OTTO) == []
    with pytest.raises(NotFound):  # another supplier's order does not exist for them
        lg.purchase_order(OTTO, po["id"])
    with pytest.raises(Invalid, match="before the order was sent"):
        lg.confirm_purchase_order(MIA, po["id"], days(-1))
    got = lg.confirm_purchase_order(MIA, po["id"], days(4), "two pallets")
    assert got["status"] == "confirmed" and got["delivery_date"] == days(4).isoformat()
    assert all(h["action"] != "approve" for h in got["history"])  # the supplier's view
    lg.clock.advance(timedelta(days=4))  # type: ignore[attr-defined]
    done = lg.receive_purchase_order(
        SAM,
        po["id"],
        [
            DeliveredLine(SALINE, "L1", days(400), 100, Decimal("2.40")),
            DeliveredLine(GLOVES, "G1", days(700), 200),
        ],
        number="DN-1",
    )
    assert done["status"] == "received" and done["variances"] == []
    assert [ln["open"] for ln in done["lines"]] == [0, 0]
    assert {(r["gtin"], r["lot"]): r["quantity"] for r in lg.stock(STORE)} == {
        (SALINE, "L1"): 100,
        (GLOVES, "G1"): 200,
    }
    with lg.session() as s:
        assert s.get(Receipt, "DN-1").purchase_order_id == po["id"]  # type: ignore[union-attr]
    with pytest.raises(Conflict, match="received purchase order cannot be cancelled"):
        lg.end_purchase_order(PAULA, po["id"], PoAction.CANCEL, "too late")


def test_value_thresholds_add_approval_levels(db_url: str) -> None:
    rules = PurchasingConfig(
        store=STORE,
        approval=(
            ApprovalLevelConfig(name="purchasing", role="purchasing"),
            ApprovalLevelConfig(name="director", role="admin", min_value=Decimal(1000)),
        ),
    )
    lg = ledger(db_url, rules)
    small = lg.new_purchase_order(PAULA, supplier="medline", lines=[OrderLineIn(SALINE, 10)])
    assert lg.approve_purchase_order(PETE, small["id"])["status"] == "approved"
    big = lg.new_purchase_order(PAULA, supplier="medline", lines=[OrderLineIn(SALINE, 30)])
    assert big["value"] == "1440.00"
    after_one = lg.approve_purchase_order(PETE, big["id"])
    assert after_one["status"] == "draft"
    assert after_one["waiting_for"] == [{"level": "director", "role": "admin"}]
    with pytest.raises(Forbidden, match="director"):
        lg.approve_purchase_order(Principal("pia", Role.PURCHASING), big["id"])
    assert lg.approve_purchase_order(ADA, big["id"])["status"] == "approved"
    with pytest.raises(Conflict, match="approved purchase order cannot be approved"):
        lg.approve_purchase_order(ADA, big["id"])


@pytest.mark.parametrize(
    ("who", "lines", "error", "match"),
    [
        (ANNA, [OrderLineIn(SALINE, 1)], Forbidden, "may not order"),
        (SAM, [OrderLineIn(SALINE, 1)], Forbidden, "may not order"),
        (MIA, [OrderLineIn(SALINE, 1)], Forbidden, "may not order"),
        (PAULA, [], Invalid, "between 1"),
        (PAULA, [OrderLineIn("04012345000023", 1)], Invalid, "does not sell"),
        (PAULA, [OrderLineIn(GLOVES, 1)], Invalid, "minimum order of 2"),
        (PAULA, [OrderLineIn(SALINE, 1), OrderLineIn(SALINE, 2)], Invalid, "ordered twice"),
    ],
)
def test_who_may_order_what(
    db_url: str, who: Principal, lines: list[OrderLineIn], error: type[Exception], match: str
) -> None:
    lg = ledger(db_url)
    with pytest.raises(error, match=match):
        lg.new_purchase_order(who, supplier="medline", lines=lines)


def test_an_order_goes_to_a_known_place_of_the_users_scope(db_url: str) -> None:
    lg = ledger(db_url)
    with pytest.raises(Invalid, match="no location 's1/stroe'"):
        lg.new_purchase_order(
            PAULA, supplier="medline", location="s1/stroe", lines=[OrderLineIn(SALINE, 1)]
        )
    with lg.session.begin() as s:
        import_master_data(s, "locations", "code,name\ns2/store,Other site\n", actor="test")
    with pytest.raises(Forbidden, match="not in your scope"):
        lg.new_purchase_order(
            PAULA, supplier="medline", location="s2/store", lines=[OrderLineIn(SALINE, 1)]
        )


def test_refusals_by_role_and_supplier(db_url: str) -> None:
    lg = ledger(db_url)
    po = sent_order(lg)
    acts: list[Callable[[], object]] = [
        lambda: lg.mark_purchase_order_sent(SAM, po, []),
        lambda: lg.confirm_purchase_order(ANNA, po, days(3)),
        lambda: lg.receive_purchase_order(MIA, po, [DeliveredLine(SALINE, "L", days(400))]),
        lambda: lg.end_purchase_order(MIA, po, PoAction.CANCEL, "no"),
        lambda: lg.accept_variances(SAM, po, "fine"),
    ]
    for act in acts:
        with pytest.raises(Forbidden):
            act()
    with pytest.raises(NotFound):
        lg.confirm_purchase_order(OTTO, po, days(3))
    with pytest.raises(Conflict, match="sent purchase order cannot be sent"):
        lg.mark_purchase_order_sent(PAULA, po, ["email"])


def test_variances_above_tolerance_wait_for_a_person(db_url: str) -> None:
    lg = ledger(db_url)
    po = sent_order(lg)
    over = [DeliveredLine(SALINE, "L1", days(400), 110, Decimal("2.40"))]  # 10 % over, 5 % ok
    with pytest.raises(VarianceRefused) as refused:
        lg.receive_purchase_order(SAM, po, over)
    assert [(v["kind"], v["expected"], v["got"]) for v in refused.value.variances] == [
        ("quantity", "100", "110")
    ]
    assert lg.stock(STORE) == []  # nothing booked
    with pytest.raises(Invalid, match="say why"):
        lg.receive_purchase_order(SAM, po, over, accept=True)
    priced = [DeliveredLine(SALINE, "L1", days(400), 100, Decimal("2.50"))]  # 4.2 % > 2 %
    with pytest.raises(VarianceRefused, match=r"price: expected 2\.40, got 2\.50"):
        lg.receive_purchase_order(SAM, po, priced)
    near = [DeliveredLine(SALINE, "L1", days(30), 100)]
    with pytest.raises(VarianceRefused, match="shelf_life"):
        lg.receive_purchase_order(SAM, po, near)
    small = [DeliveredLine(SALINE, "L1", days(400), 103, Decimal("2.42"))]  # within tolerance
    got = lg.receive_purchase_order(SAM, po, small)
    assert got["status"] == "partially_received"  # the gloves are still to come
    assert {(v["kind"], v["needs_acceptance"]) for v in got["variances"]} == {
        ("quantity", False),
        ("price", False),
    }
    short = lg.receive_purchase_order(SAM, po, [DeliveredLine(GLOVES, "G1", days(700), 150)])
    assert short["status"] == "partially_received" and short["lines"][1]["open"] == 50
    assert short["variances"][-1] | {"at": None} == {
        "receipt": short["variances"][-1]["receipt"],
        "gtin": GLOVES,
        "kind": "quantity",
        "expected": "200",
        "got": "150",
        "needs_acceptance": False,
        "accepted_by": None,
        "at": None,
    }
    accepted = lg.receive_purchase_order(
        SAM, po, [DeliveredLine(GLOVES, "G2", days(700), 60)], accept=True, comment="whole box"
    )
    assert accepted["status"] == "received"
    assert accepted["variances"][-1]["accepted_by"] == "sam"
    closed = sent_order(lg)
    lg.receive_purchase_order(SAM, closed, [DeliveredLine(SALINE, "L3", days(400), 100)])
    with pytest.raises(Invalid, match="say why"):
        lg.end_purchase_order(PAULA, closed, PoAction.CLOSE, " ")
    ended = lg.end_purchase_order(PAULA, closed, PoAction.CLOSE, "gloves discontinued")
    assert ended["status"] == "closed"


def test_a_ship_notice_is_checked_and_received_by_its_sscc(db_url: str) -> None:
    lg = ledger(db_url)
    po = sent_order(lg)
    bad = [
        ([NoticeLineIn("04012345000023", "X", days(400), 1)], "not on the order"),
        ([NoticeLineIn(SALINE, "L1", days(-2), 1)], "not in the future"),
        ([NoticeLineIn(SALINE, "L1", days(400), 2, epcs=tags(range(1, 2)))], "as many EPCs"),
        (
            [NoticeLineIn(SALINE, "L1", days(400), 1, epcs=("urn:epc:id:sgtin:4012345.000006.1",))],
            "another GTIN",
        ),
    ]
    for lines, match in bad:
        with pytest.raises(Invalid, match=match):
            lg.submit_ship_notice(MIA, po, number="DA-1", lines=lines)
    with pytest.raises(Invalid, match="not an SSCC"):
        lg.submit_ship_notice(
            MIA,
            po,
            number="DA-1",
            sscc="123456789012345678",
            lines=[NoticeLineIn(SALINE, "L1", days(400), 100)],
        )
    notice = lg.submit_ship_notice(
        MIA,
        po,
        number="DA-1",
        sscc=sscc(1),
        expected_on=days(3),
        lines=[
            NoticeLineIn(SALINE, "L1", days(400), 60),
            NoticeLineIn(SALINE, "L2", days(500), 40),
            NoticeLineIn(GLOVES, "G1", days(700), 200),
        ],
    )["ship_notices"][0]
    assert notice["sscc"] == sscc(1) and len(notice["lines"]) == 3
    with pytest.raises(Conflict, match="announced already"):
        lg.submit_ship_notice(
            MIA, po, number="DA-2", sscc=sscc(1), lines=[NoticeLineIn(SALINE, "L1", days(400), 1)]
        )
    wrong_lot = [DeliveredLine(SALINE, "L9", days(400), 100)]
    with pytest.raises(VarianceRefused, match="lot: expected L1, L2, got L9"):
        lg.receive_purchase_order(SAM, po, wrong_lot)
    assert lg.ship_notice_by_sscc(sscc(1)) == notice["id"]
    got = lg.receive_ship_notice(SAM, notice["id"])
    assert got["status"] == "received" and got["variances"] == []
    assert got["ship_notices"][0]["received_at"] is not None
    assert lg.ship_notice_by_sscc(sscc(1)) is None
    with pytest.raises(Conflict, match="was received"):
        lg.receive_ship_notice(SAM, notice["id"])


def gate_read(lg: Ledger, epcs: tuple[str, ...], seq: int) -> None:
    """The receiving portal reads tags coming in from outside; the edge knows no lot yet."""
    t = int(lg.clock.now().timestamp() * 1e6)
    e = BatchMovement(
        occurred_at_us=t,
        read_point="dock-door",
        direction=Direction.IN,
        from_zone=None,
        to_zone="store",
        biz_step="receiving",
        batch=Batch(gtin=SALINE, lot=None),
        quantity=len(epcs),
        epcs=epcs,
        first_seen_us=t,
        last_seen_us=t,
        confidence=1.0,
        uncommissioned=True,
    )
    assert lg.apply(stamp(e, site="s1", gateway="gw1", seq=seq))


def test_a_ship_notice_books_itself_when_its_tags_cross_the_gate(db_url: str) -> None:
    lg = ledger(db_url)
    po = lg.new_purchase_order(PAULA, supplier="medline", lines=[OrderLineIn(SALINE, 1)])
    lg.approve_purchase_order(PETE, po["id"])
    lg.mark_purchase_order_sent(PAULA, po["id"], ["fhir"])
    lg.submit_ship_notice(
        MIA,
        po["id"],
        number="DA-7",
        lines=[NoticeLineIn(SALINE, "T1", days(400), 20, epcs=tags(range(100, 120)))],
    )
    lg.clock.advance(timedelta(hours=20))  # type: ignore[attr-defined]
    gate_read(lg, tags(range(100, 118)), seq=1)  # two tags (10 %) were not read
    assert lg.match_ship_notices() == 0  # the cart may still be passing
    lg.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
    assert lg.match_ship_notices() == 1
    assert lg.match_ship_notices() == 0
    assert {(r["gtin"], r["lot"]): r["quantity"] for r in lg.stock(STORE)} == {(SALINE, "T1"): 18}
    got = lg.purchase_order(PAULA, po["id"])
    assert got["status"] == "partially_received" and got["lines"][0]["received"] == 18
    assert [
        (v["kind"], v["expected"], v["got"], v["needs_acceptance"]) for v in got["variances"]
    ] == [("quantity", "20", "18", True)]
    assert got["history"][-1]["actor"] == "gate:s1/store"
    with lg.session() as s:
        alert = s.scalars(select(Alert).where(Alert.kind == "purchase_variance")).one()
        assert alert.state == AlertState.RAISED and "PO-" in alert.message
    lg.accept_variances(PAULA, po["id"], "two tags unreadable; counted by hand")
    with lg.session() as s:
        alert = s.scalars(select(Alert).where(Alert.kind == "purchase_variance")).one()
        assert alert.state == AlertState.CLEARED


def test_supplier_master_data_is_checked(db_url: str) -> None:
    lg = ledger(db_url)
    cases = [
        ("suppliers", "code,name,email\nbad code,X,\n", "is not a code"),
        ("suppliers", "code,name,email\nx,X,not-an-address\n", "not an e-mail address"),
        ("suppliers", "code,name,fhir_url\nx,X,ftp://x\n", "not an http"),
        ("supplier-products", f"supplier,gtin\nnobody,{SALINE}\n", "not known"),
        ("supplier-products", "supplier,gtin\nmedline,04012345000023\n", "not in the product"),
        ("supplier-products", f"supplier,gtin,pack\nmedline,{SALINE},0\n", "pack '0'"),
        ("supplier-products", f"supplier,gtin,unit_price\nmedline,{SALINE},abc\n", "not a number"),
    ]
    for kind, text, match in cases:
        with lg.session() as s, pytest.raises(MasterDataError, match=match):
            import_master_data(s, kind, text)


def test_a_notice_received_by_hand_cannot_book_again(db_url: str) -> None:
    """The storekeeper books the announced lot at the form: the notice is received with it,
    so scanning its SSCC later does not book the goods twice."""
    lg = ledger(db_url)
    po = sent_order(lg)
    notice = lg.submit_ship_notice(
        MIA, po, number="DA-9", sscc=sscc(9), lines=[NoticeLineIn(SALINE, "L1", days(400), 100)]
    )["ship_notices"][0]
    got = lg.receive_purchase_order(SAM, po, [DeliveredLine(SALINE, "L1", days(400), 100)])
    assert got["ship_notices"][0]["receipt"] is not None
    assert lg.ship_notice_by_sscc(sscc(9)) is None
    with pytest.raises(Conflict, match="was received"):
        lg.receive_ship_notice(SAM, notice["id"])
    assert {(r["lot"], r["quantity"]) for r in lg.stock(STORE)} == {("L1", 100)}
