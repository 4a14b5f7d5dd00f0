"""Replenishment proposals from the ledger's own consumption and supplier KPIs measured from
its own receipts, on both databases."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select

from central import db
from central.accounts import Principal
from central.config import PurchasingConfig
from central.errors import Conflict, Forbidden
from central.imports import import_master_data
from central.ledger import (
    DeliveredLine,
    Ledger,
    NoticeLineIn,
    OrderLineIn,
    ProposalEdit,
    ReceiptLine,
    ScanPurpose,
)
from central.models import StockLimit
from central.supplier_kpis import supplier_kpis
from central.vocab import Role
from tests.central.conftest import disposed
from tests.central.test_purchasing import GLOVES, OFFERS, PAULA, PETE, PRODUCTS, SALINE, SUPPLIERS
from tests.conftest import TEST_NOW, fixed_clock

STORE, WARD = "s1/store", "s1/ward-5"
SAM = Principal("sam", Role.STOREKEEPER, sites=frozenset({"s1"}))
ANNA = Principal("anna", Role.NURSE, departments=frozenset({"ward-5"}))
MIA = Principal("mia", Role.SUPPLIER, supplier="medline")
HISTORY_DAYS = 70


def ledger(url: str) -> Ledger:
    db.upgrade(url)
    lg = Ledger(
        db.engine(url),
        clock=fixed_clock(),
        supply={WARD: STORE},
        purchasing=PurchasingConfig(store=STORE, review_days=7),
    )
    disposed(lg)
    with lg.session.begin() as s:
        import_master_data(s, "products", PRODUCTS, actor="test")
        import_master_data(
            s,
            "locations",
            "code,name,department\ns1/store,Store,store\ns1/ward-5,Ward 5,ward-5\n",
            actor="test",
        )
        import_master_data(s, "suppliers", SUPPLIERS, actor="test")
        import_master_data(s, "supplier-products", OFFERS, actor="test")
    return lg


def scan(gtin: str, lot: str) -> str:
    return f"(01){gtin}(17)301231(10){lot}"


def consume(lg: Ledger, days: int, seed: int = 2) -> None:
    """`days` days before now: the store issues ~10 saline a weekday to the ward, the ward
    dispenses what it got."""
    rng = np.random.default_rng(seed)
    lg.clock.advance(timedelta(days=-days))  # type: ignore[attr-defined]
    lg.receive(
        [
            ReceiptLine(
                epc="",
                gtin=SALINE,
                lot="S1",
                expiry=TEST_NOW.date() + timedelta(days=900),
                location=STORE,
                quantity=days * 20,
            )
        ],
        actor="test",
    )
    for _day in range(days):
        weekday = lg.clock.now().weekday() < 5
        n = int(rng.poisson(10 if weekday else 3))
        if n:
            lg.move_scans(
                ScanPurpose.ISSUE,
                [scan(SALINE, "S1")] * n,
                location=STORE,
                user="sam",
                to_location=WARD,
            )
            lg.move_scans(
                ScanPurpose.DISPENSE,
                [scan(SALINE, "S1")] * n,
                location=WARD,
                user="anna",
                case_id="c1",
            )
        lg.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]


def test_demand_is_what_a_location_consumed_or_issued(db_url: str) -> None:
    lg = ledger(db_url)
    consume(lg, 14)
    today = lg.clock.today()
    with lg.session() as s:
        history = lg.consumption_history(s, today - timedelta(days=14), today - timedelta(days=1))
    store, ward = history[(STORE, SALINE)], history[(WARD, SALINE)]
    assert len(store.values) == 14 and store.end == today - timedelta(days=1)
    assert store.values.tolist() == ward.values.tolist()  # issued there, dispensed there
    assert store.values.sum() > 50


def test_proposals_are_decided_by_a_person(db_url: str) -> None:
    lg = ledger(db_url)
    consume(lg, HISTORY_DAYS)
    left = {r["lot"]: r["quantity"] for r in lg.stock(STORE)}["S1"]
    lg.book(
        "scrap",
        location=STORE,
        user="sam",
        reason="water damage",
        gtin=SALINE,
        lot="S1",
        quantity=left - 20,
    )  # 20 left: below any sensible minimum
    assert lg.propose_replenishment() == 2
    found = {p["location"]: p for p in lg.proposals(PAULA)}
    store, ward = found[STORE], found[WARD]
    assert store["supplier"] == "medline" and not store["lead_time_measured"]
    assert store["lead_time_days"] == 5.0 and ward["lead_time_days"] == 1.0  # quoted; internal
    assert 6 < store["daily_demand"] < 11
    assert store["proposed_min"] > store["daily_demand"] * 5  # the lead time's demand and more
    assert ward["proposed_min"] < store["proposed_min"]  # a day's lead time needs less
    assert store["on_hand"] == 20 and store["order_quantity"] > 0
    assert store["order_quantity"] % 20 == 0  # the supplier's packs
    assert store["order_quantity"] >= store["proposed_max"] - store["on_hand"]
    assert [p["location"] for p in lg.proposals(SAM)] == [STORE, WARD]
    with pytest.raises(Forbidden):
        lg.proposals(ANNA)
    with pytest.raises(Forbidden, match="purchasing"):
        lg.decide_proposal(SAM, store["id"], accept=True)
    ward_done = lg.decide_proposal(
        SAM,
        ward["id"],
        accept=True,
        edit=ProposalEdit(minimum=ward["proposed_min"] + 2, maximum=ward["proposed_max"] + 2),
    )
    assert ward_done["status"] == "edited"
    with pytest.raises(Conflict, match="edited"):
        lg.decide_proposal(SAM, ward["id"], accept=False)
    done = lg.decide_proposal(PAULA, store["id"], accept=True, comment="as proposed")
    assert done["status"] == "accepted" and done["purchase_order_id"]
    order = lg.purchase_order(PAULA, done["purchase_order_id"])
    assert order["status"] == "draft" and order["lines"][0]["quantity"] == store["order_quantity"]
    with lg.session() as s:
        limits = {(lim.location_id, lim.min_quantity) for lim in s.scalars(select(StockLimit))}
    assert len(limits) == 2
    assert any(m == ward["proposed_min"] + 2 for _, m in limits)
    lg.approve_purchase_order(PETE, order["id"])
    assert lg.propose_replenishment() <= 2  # what is on order counts: no second order
    again = {p["location"]: p for p in lg.proposals(PAULA)}
    assert again.get(STORE, {"order_quantity": 0})["order_quantity"] == 0


def test_supplier_kpis_are_measured_from_receipts(db_url: str) -> None:
    lg = ledger(db_url)
    start = lg.clock.now()
    first = lg.new_purchase_order(
        PAULA, supplier="medline", lines=[OrderLineIn(SALINE, 5), OrderLineIn(GLOVES, 2)]
    )
    second = lg.new_purchase_order(PAULA, supplier="medline", lines=[OrderLineIn(SALINE, 1)])
    for o in (first, second):
        lg.approve_purchase_order(PETE, o["id"])
        lg.mark_purchase_order_sent(PAULA, o["id"], ["email"])
    day = lg.clock.today()
    lg.confirm_purchase_order(MIA, first["id"], day + timedelta(days=3))
    lg.confirm_purchase_order(MIA, second["id"], day + timedelta(days=3))
    lg.submit_ship_notice(
        MIA,
        second["id"],
        number="DA-2",
        lines=[NoticeLineIn(SALINE, "A", day + timedelta(days=400), 20)],
    )
    lg.clock.advance(timedelta(days=2))  # type: ignore[attr-defined]
    expiry = day + timedelta(days=400)
    lg.receive_purchase_order(
        SAM,
        first["id"],
        [DeliveredLine(SALINE, "L1", expiry, 100), DeliveredLine(GLOVES, "G1", expiry, 200)],
    )
    lg.clock.advance(timedelta(days=3))  # type: ignore[attr-defined]  # 5 days: late
    lg.receive_purchase_order(
        SAM,
        second["id"],
        [DeliveredLine(SALINE, "B", expiry, 15)],
        accept=True,
        comment="other lot, fewer",
    )
    end = lg.clock.now() + timedelta(days=1)
    with lg.session() as s:
        (row,) = supplier_kpis(s, start, end)
    assert row["supplier"] == "medline" and (row["orders"], row["delivered"]) == (2, 2)
    assert row["lead_time_days_mean"] == 3.5 and row["lead_time_days_sd"] == pytest.approx(
        2.12, abs=0.01
    )
    assert (row["on_time_rate"], row["in_full_rate"], row["otif_rate"]) == (0.5, 0.5, 0.5)
    assert row["receipts"] == 2 and row["variance_rate"] == 0.5
    assert row["variance_rate_by_kind"]["lot"] == 0.5 and row["variance_rate_by_kind"]["price"] == 0
    saline = next(p for p in row["products"] if p["gtin"] == SALINE)
    assert (saline["orders"], saline["delivered"], saline["in_full_rate"]) == (2, 2, 0.5)
    gloves = next(p for p in row["products"] if p["gtin"] == GLOVES)
    assert (gloves["orders"], gloves["lead_time_days_mean"], gloves["otif_rate"]) == (1, 2.0, 1.0)
    with lg.session() as s:
        assert supplier_kpis(s, end, end + timedelta(days=1)) == []


def test_an_accepted_ward_level_feeds_the_automatic_requisitions(db_url: str) -> None:
    """A ward's new minimum above what it holds: the low-stock alert, then the system's
    requisition from its store (the way every limit feeds replenishment)."""
    from central import alerts
    from central.agv import LogAgvAdapter, dispatch_replenishments
    from central.models import Requisition, RequisitionLine

    lg = ledger(db_url)
    consume(lg, HISTORY_DAYS)
    lg.propose_replenishment()
    (ward,) = [p for p in lg.proposals(SAM) if p["location"] == WARD]
    assert ward["on_hand"] == 0 and ward["supplier"] is None  # supplied by the store
    lg.decide_proposal(SAM, ward["id"], accept=True)
    with lg.session.begin() as s:
        alerts.evaluate(s, lg.clock.today(), lg.clock.now())
        dispatch_replenishments(s, LogAgvAdapter(), {WARD: STORE}, "log", lg.clock.now())
    with lg.session() as s:
        (req, line) = s.execute(
            select(Requisition, RequisitionLine).join(
                RequisitionLine, RequisitionLine.requisition_id == Requisition.id
            )
        ).one()
    assert (req.requester, req.status, line.gtin) == ("system", "approved", SALINE)
    assert line.quantity == ward["proposed_max"]
