"""Requisitions on SQLite and PostgreSQL: requested in any pack unit, approved by the levels
the configuration asks for, issued first-expiry-first-out (never a locked or expired lot),
received by the destination's gate or by a person; every refusal of a person a 403 and of
a status a 409, through the API, table-driven."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from central import accounts, alerts, db
from central.accounts import Principal
from central.api import create_app
from central.config import ApprovalLevelConfig, RequisitionConfig
from central.errors import Conflict, Forbidden, Invalid
from central.imports import import_master_data
from central.ledger import Ledger, LineIn, PickIn, ReceiptLine
from central.models import Alert, Movement, Requisition, Signature
from central.vocab import AlertState, Role
from rules.events import Batch, BatchMovement, Direction, stamp
from tests.central.conftest import disposed, signed
from tests.conftest import TEST_NOW, days, fixed_clock

SALINE, DRESSING, BOX, MORPHINE = "04012345000016", "04012345000061", "14012345000068", "04012345000078"  # fmt: skip
PRODUCTS = (
    "gtin,name,unit_price,controlled\n"
    f"{SALINE},Sodium chloride 0.9% 500 ml,2.50,\n"
    f"{DRESSING},Foam dressing 10 x 10 cm,1.20,\n"
    f"{MORPHINE},Morphine 10 mg/ml,3.00,yes\n"
)
LOCATIONS = (
    "code,name,department\n"
    "s1/store,Central store,store\ns1/ward-5,Ward 5,ward-5\ns1/ward-7,Ward 7,ward-7\n"
)
SUPPLY = {"s1/ward-5": "s1/store", "s1/ward-7": "s1/store"}

ANNA = Principal("anna", Role.NURSE, departments=frozenset({"ward-5"}))
NINA = Principal("nina", Role.NURSE, departments=frozenset({"ward-5"}))
HANA = Principal("hana", Role.HEAD, departments=frozenset({"ward-5"}))
HUGO = Principal("hugo", Role.HEAD, departments=frozenset({"ward-7"}))
SAM = Principal("sam", Role.STOREKEEPER, sites=frozenset({"s1"}))
QUINN = Principal("quinn", Role.QUALITY, sites=frozenset({"s1"}))


def tags(serials: range) -> list[str]:
    return [f"urn:epc:id:sgtin:4012345.000001.{n}" for n in serials]


def ledger(url: str, rules: RequisitionConfig | None = None) -> Ledger:
    db.upgrade(url)
    lg = Ledger(db.engine(url), clock=fixed_clock(), requisitions=rules, supply=SUPPLY)
    disposed(lg)
    with lg.session.begin() as s:
        import_master_data(s, "products", PRODUCTS, actor="test")
        import_master_data(s, "locations", LOCATIONS, actor="test")
        import_master_data(s, "packs", f"gtin,product,level,quantity\n{BOX},{DRESSING},box,10\n",
                           actor="test")  # fmt: skip
    store = "s1/store"
    lines = [ReceiptLine(epc=e, gtin=SALINE, lot="LATE", expiry=days(200), location=store)
             for e in tags(range(1, 6))]  # fmt: skip
    lines += [ReceiptLine(epc=e, gtin=SALINE, lot="SOON", expiry=days(30), location=store)
              for e in tags(range(10, 13))]  # fmt: skip
    lines += [ReceiptLine(epc=e, gtin=SALINE, lot="RECALLED", expiry=days(10), location=store)
              for e in tags(range(20, 22))]  # fmt: skip
    lines += [ReceiptLine(epc="", gtin=DRESSING, lot="D1", expiry=days(300), location=store,
                          quantity=30),
              ReceiptLine(epc="", gtin=MORPHINE, lot="M1", expiry=days(300), location=store,
                          quantity=20)]  # fmt: skip
    lg.receive(lines, actor="test")
    old = [ReceiptLine(epc=e, gtin=SALINE, lot="EXPIRED", expiry=days(-1), location=store)
           for e in tags(range(30, 32))]  # fmt: skip
    lg.receive(old, actor="test", opening=True)
    lg.lock_batch(SALINE, "RECALLED", signed=signed(lg, "recall-officer"))
    return lg


def stock(lg: Ledger, location: str) -> dict[tuple[str, str], int]:
    return {(r["gtin"], r["lot"]): r["quantity"] for r in lg.stock(location)}


def gate(lg: Ledger, picks: list[dict[str, Any]], frm: str, to: str, seq: int,
         minutes: int = 5) -> None:  # fmt: skip
    """A portal reads the cart's tagged picks going from zone `frm` to zone `to`: one event
    per batch, as the edge sends them (it knows each tag's lot from the commissioning map)."""
    t = int((lg.clock.now() + timedelta(minutes=minutes)).timestamp() * 1e6)
    lots = sorted({p["lot"] for p in picks if p["epc"]})
    for i, lot in enumerate(lots):
        epcs = tuple(p["epc"] for p in picks if p["epc"] and p["lot"] == lot)
        e = BatchMovement(
            occurred_at_us=t, read_point="door", direction=Direction.IN, from_zone=frm,
            to_zone=to, biz_step="receiving", batch=Batch(gtin=SALINE, lot=lot),
            quantity=len(epcs), epcs=epcs, first_seen_us=t, last_seen_us=t, confidence=1.0,
            uncommissioned=False,
        )  # fmt: skip
        assert lg.apply(stamp(e, site="s1", gateway="gw1", seq=seq * 10 + i))


def test_nurse_requests_head_approves_store_issues_fefo_gate_receives(db_url: str) -> None:
    lg = ledger(db_url)
    req = lg.new_requisition(ANNA, to_location="s1/ward-5", priority="urgent",
                             lines=[LineIn(SALINE, 6), LineIn(BOX, 2)], note="for the night")  # fmt: skip
    assert req["status"] == "submitted" and req["department"] == "ward-5"
    assert req["from_location"] == "s1/store"
    assert [(ln["gtin"], ln["quantity"], ln["ordered_quantity"]) for ln in req["lines"]] == [
        (SALINE, 6, 6), (DRESSING, 20, 2)]  # a box of 10, asked for twice: 20 eaches  # fmt: skip
    assert req["value"] == "39.00" and req["waiting_for"] == [{"level": "head", "role": "head"}]
    approved = lg.approve_requisition(HANA, req["id"], "ok")
    assert approved["status"] == "approved"
    picks = lg.pick_list(SAM, req["id"])["lines"]
    saline = picks[0]["batches"]
    assert [(b["lot"], b["suggested"]) for b in saline] == [("SOON", 3), ("LATE", 3)]  # FEFO
    issued = lg.issue_requisition(SAM, req["id"])
    assert issued["status"] == "issued"
    assert sorted({p["lot"] for p in issued["picks"] if p["epc"]}) == ["LATE", "SOON"]
    assert stock(lg, "s1/store")[(SALINE, "LATE")] == 2 and (SALINE, "SOON") not in stock(
        lg, "s1/store")  # fmt: skip
    assert stock(lg, "s1/in-transit") == {(SALINE, "SOON"): 3, (SALINE, "LATE"): 3,
                                          (DRESSING, "D1"): 20}  # fmt: skip
    # the porter's cart leaves the store and enters ward 5: the readers move the tags
    gate(lg, issued["picks"], "store", "corridor", seq=1)
    gate(lg, issued["picks"], "corridor", "ward-5", seq=2, minutes=9)
    assert lg.watch_requisitions() == 0  # the dressings have no tag: a person confirms them
    with lg.session() as s:  # read on their way: moved, and no discrepancy
        assert s.scalar(select(Movement).where(Movement.kind == "batch_movement")) is not None
        assert not s.scalars(select(Alert).where(Alert.kind == "discrepancy")).all()
    done = lg.receive_requisition(NINA, req["id"], "all there")
    assert done["status"] == "received"
    assert stock(lg, "s1/ward-5") == {(SALINE, "SOON"): 3, (SALINE, "LATE"): 3,
                                      (DRESSING, "D1"): 20}  # fmt: skip
    assert stock(lg, "s1/in-transit") == {}
    assert [h["action"] for h in done["history"]] == ["submit", "approve", "issue", "receive"]
    assert [h["actor"] for h in done["history"]] == ["anna", "hana", "sam", "nina"]


def test_the_gate_alone_receives_a_tagged_requisition(db_url: str) -> None:
    lg = ledger(db_url)
    rid = lg.new_requisition(ANNA, to_location="s1/ward-5", lines=[LineIn(SALINE, 2)])["id"]
    lg.approve_requisition(HANA, rid)
    picks = lg.issue_requisition(SAM, rid)["picks"]
    assert [p["epc"] for p in picks] == tags(range(10, 12))  # the first to expire, by EPC
    gate(lg, picks[:1], "corridor", "ward-5", seq=1)
    assert lg.watch_requisitions() == 0  # one of two arrived
    gate(lg, picks[1:], "corridor", "ward-5", seq=2)
    assert lg.watch_requisitions() == 1
    got = lg.requisition(ANNA, rid)
    assert got["status"] == "received" and got["history"][-1]["actor"] != "anna"
    assert all(p["received_at"] for p in got["picks"])
    with lg.session() as s:  # the tags' way through the corridor was no discrepancy
        assert not s.scalars(select(Alert).where(Alert.kind == "discrepancy")).all()


def test_fefo_never_offers_locked_or_expired_lots_and_other_lots_need_a_reason(
    db_url: str,
) -> None:
    lg = ledger(db_url)
    rid = lg.new_requisition(ANNA, to_location="s1/ward-5", lines=[LineIn(SALINE, 20)])["id"]
    lg.approve_requisition(HANA, rid)
    lots = [b["lot"] for b in lg.pick_list(SAM, rid)["lines"][0]["batches"]]
    assert lots == ["SOON", "LATE"]
    for lot, message in (("RECALLED", "recalled"), ("EXPIRED", "expired"), ("NOPE", "not in")):
        with pytest.raises(Invalid, match=message):
            lg.issue_requisition(SAM, rid, [PickIn(SALINE, lot, 1)])
    with pytest.raises(Invalid, match="reason"):
        lg.issue_requisition(SAM, rid, [PickIn(SALINE, "LATE", 2)])
    out = lg.issue_requisition(SAM, rid, [PickIn(SALINE, "LATE", 2, reason="closer shelf")])
    assert out["status"] == "issued" and out["lines"][0]["back_order"] == 18
    assert {p["reason"] for p in out["picks"]} == {"closer shelf"}
    # the back-order: FEFO takes what there is (3 SOON, 3 LATE), 12 stay open
    out = lg.issue_requisition(SAM, rid)
    assert out["lines"][0]["issued"] == 8 and out["lines"][0]["back_order"] == 12
    with pytest.raises(Invalid, match="nothing"):
        lg.issue_requisition(SAM, rid)
    out = lg.receive_requisition(ANNA, rid)
    assert out["status"] == "received" and out["lines"][0]["received"] == 8
    with pytest.raises(Conflict):
        lg.receive_requisition(ANNA, rid)
    # the store gives the rest up: nothing is open any more
    out = lg.issue_requisition(SAM, rid, [], close=True)
    assert out["status"] == "received" and out["lines"][0]["back_order"] == 0
    assert out["history"][-1]["comment"] == "back-order closed"
    with pytest.raises(Conflict):
        lg.issue_requisition(SAM, rid)


def test_approval_levels_come_from_the_configuration(db_url: str) -> None:
    rules = RequisitionConfig(approval=(
        ApprovalLevelConfig(name="head", role="head"),
        ApprovalLevelConfig(name="pharmacy", role="quality", classes=("controlled",)),
        ApprovalLevelConfig(name="finance", role="purchasing", min_value=100),
    ))  # fmt: skip
    lg = ledger(db_url, rules)
    cheap = lg.new_requisition(ANNA, to_location="s1/ward-5", lines=[LineIn(DRESSING, 5)])
    assert [w["level"] for w in cheap["waiting_for"]] == ["head"]
    assert lg.approve_requisition(HANA, cheap["id"])["status"] == "approved"
    drug = lg.new_requisition(ANNA, to_location="s1/ward-5", lines=[LineIn(MORPHINE, 2)])
    lg.approve_requisition(HANA, drug["id"])
    waiting = lg.requisition(ANNA, drug["id"])
    assert waiting["status"] == "submitted" and waiting["waiting_for"][0]["level"] == "pharmacy"
    with pytest.raises(Forbidden, match="quality"):
        lg.approve_requisition(HANA, drug["id"])  # the head approved their level already
    assert lg.approve_requisition(QUINN, drug["id"])["status"] == "approved"
    dear = lg.new_requisition(ANNA, to_location="s1/ward-5", lines=[LineIn(BOX, 10)])
    assert dear["value"] == "120.00"
    lg.approve_requisition(HANA, dear["id"])
    assert lg.requisition(ANNA, dear["id"])["waiting_for"][0]["role"] == "purchasing"


def test_an_emergency_is_approved_at_once_and_reviewed_after(db_url: str) -> None:
    lg = ledger(db_url)
    req = lg.new_requisition(ANNA, to_location="s1/ward-5", priority="emergency",
                             lines=[LineIn(SALINE, 1)])  # fmt: skip
    assert req["status"] == "approved" and req["needs_review"]
    lg.watch_requisitions()
    with lg.session() as s:
        review = s.scalars(select(Alert).where(Alert.kind == "requisition_review")).one()
        assert review.state == AlertState.RAISED and review.key.endswith(f"@{_loc(lg)}")
    lg.issue_requisition(SAM, req["id"])  # the store does not wait for the review
    with pytest.raises(Forbidden):
        lg.review_requisition(ANNA, req["id"])
    assert not lg.review_requisition(HANA, req["id"], "was right")["needs_review"]
    with pytest.raises(Conflict):
        lg.review_requisition(HANA, req["id"])
    lg.watch_requisitions()
    with lg.session() as s:
        assert s.scalars(select(Alert).where(Alert.kind == "requisition_review")).one().state == (
            AlertState.CLEARED)  # fmt: skip


def _loc(lg: Ledger) -> int:
    from central.models import Location

    with lg.session() as s:
        found = s.scalar(select(Location.id).where(Location.code == "s1/ward-5"))
        assert found is not None
        return found


def test_waiting_approvals_and_missing_goods_raise_alerts_that_clear(db_url: str) -> None:
    lg = ledger(db_url, RequisitionConfig(approval_alert_s=600, receipt_alert_s=3600))
    clock = lg.clock
    rid = lg.new_requisition(ANNA, to_location="s1/ward-5", lines=[LineIn(SALINE, 1)])["id"]
    lg.watch_requisitions()
    assert not _open(lg, "requisition_approval")
    clock.advance(timedelta(minutes=11))  # type: ignore[attr-defined]
    lg.watch_requisitions()
    assert _open(lg, "requisition_approval") == [f"requisition #{rid} for s1/ward-5 waits for"
                                                 " the head's approval"]  # fmt: skip
    lg.approve_requisition(HANA, rid)
    lg.issue_requisition(SAM, rid)
    lg.watch_requisitions()
    assert not _open(lg, "requisition_approval") and not _open(lg, "requisition_receipt")
    clock.advance(timedelta(hours=2))  # type: ignore[attr-defined]
    lg.watch_requisitions()
    assert _open(lg, "requisition_receipt") == [
        f"requisition #{rid} for s1/ward-5: issued goods have not arrived"]  # fmt: skip
    lg.receive_requisition(ANNA, rid)
    lg.watch_requisitions()
    assert not _open(lg, "requisition_receipt")


def _open(lg: Ledger, kind: str) -> list[str]:
    with lg.session() as s:
        return [a.message for a in alerts.open_alerts(s) if a.kind == kind]


def test_low_stock_makes_a_system_requisition_on_the_same_list(db_url: str) -> None:
    from central.agv import LogAgvAdapter, dispatch_replenishments

    lg = ledger(db_url)
    with lg.session.begin() as s:
        import_master_data(s, "limits", f"location,gtin,min,max\ns1/ward-5,{SALINE},2,4\n",
                           actor="test")  # fmt: skip
        alerts.evaluate(s, lg.clock.today(), lg.clock.now(), (30,), full=True)
        orders = dispatch_replenishments(s, LogAgvAdapter(), SUPPLY, "log", lg.clock.now())
        assert len(orders) == 1 and orders[0].requisition_id is not None
    listed = lg.requisitions(HANA)
    assert [(r["requester"], r["status"], r["transport"]) for r in listed] == [
        ("system", "approved", "agv")]  # fmt: skip
    with lg.session.begin() as s:  # never two for one alert
        assert dispatch_replenishments(s, LogAgvAdapter(), SUPPLY, "log", lg.clock.now()) == []
    issued = lg.issue_requisition(SAM, listed[0]["id"])
    assert issued["lines"][0]["issued"] == 4


def test_a_requisition_that_asks_for_an_agv_gets_one_once_approved(db_url: str) -> None:
    from central.agv import LogAgvAdapter, dispatch_requisitions

    lg = ledger(db_url)
    rid = lg.new_requisition(ANNA, to_location="s1/ward-5", lines=[LineIn(SALINE, 1)],
                             transport="agv")["id"]  # fmt: skip
    adapter = LogAgvAdapter()
    with lg.session.begin() as s:
        assert dispatch_requisitions(s, adapter, "log", lg.clock.now()) == []  # not approved
    lg.approve_requisition(HANA, rid)
    with lg.session.begin() as s:
        (order,) = dispatch_requisitions(s, adapter, "log", lg.clock.now())
        assert (order.source, order.destination, order.requisition_id) == (
            "s1/store", "s1/ward-5", rid)  # fmt: skip
        assert dispatch_requisitions(s, adapter, "log", lg.clock.now()) == []


# --- who may do what: every refusal, through the API -------------------------------------
@dataclass(frozen=True)
class Case:
    actor: str
    action: str
    state: str  # the requisition's status before (made by `prepare`)
    expect: int
    why: str


CASES = [
    Case("anna", "create", "-", 201, "a nurse requests for her ward"),
    Case("hugo", "create", "-", 403, "a head requests for another department's ward"),
    Case("sam", "create", "-", 403, "the storekeeper role does not request"),
    Case("vic", "create", "-", 403, "a viewer does not request"),
    Case("hana", "approve", "submitted", 200, "the ward's head approves"),
    Case("anna", "approve", "submitted", 403, "a nurse does not approve"),
    Case("hugo", "approve", "submitted", 403, "another department's head"),
    Case("hugo_all", "approve", "submitted", 403, "a head outside the department's scope"),
    Case("hana_own", "approve", "submitted", 403, "nobody approves their own requisition"),
    Case("sam", "approve", "submitted", 403, "the store does not approve"),
    Case("quinn", "approve", "submitted", 403, "quality is not the head level"),
    Case("ada", "approve", "submitted", 200, "an admin may act for a level"),
    Case("hana", "approve", "approved", 409, "approved already"),
    Case("hana", "approve", "cancelled", 409, "a cancelled one"),
    Case("hana", "reject", "submitted", 200, "the head rejects with a reason"),
    Case("anna", "reject", "submitted", 403, "a nurse does not reject"),
    Case("hana", "reject", "issued", 409, "issued already"),
    Case("anna", "cancel", "submitted", 200, "the requester cancels"),
    Case("anna", "cancel", "approved", 200, "the requester cancels an approved one"),
    Case("nina", "cancel", "submitted", 403, "only the requester cancels"),
    Case("hana", "cancel", "submitted", 403, "not even the head"),
    Case("anna", "cancel", "issued", 409, "too late once issued"),
    Case("anna", "cancel", "rejected", 409, "a rejected one"),
    Case("sam", "issue", "approved", 200, "the store issues"),
    Case("sam", "issue", "submitted", 409, "not approved yet"),
    Case("sam", "issue", "rejected", 409, "rejected"),
    Case("sam", "issue", "cancelled", 409, "cancelled"),
    Case("sam_other", "issue", "approved", 403, "a storekeeper of another site"),
    Case("anna", "issue", "approved", 403, "a nurse does not issue"),
    Case("hana", "issue", "approved", 403, "a head does not issue"),
    Case("anna", "receive", "issued", 200, "the ward confirms"),
    Case("nina", "receive", "issued", 200, "anyone of the ward confirms"),
    Case("sam", "receive", "issued", 403, "the store does not confirm its own issue"),
    Case("hugo_all", "receive", "issued", 403, "outside the destination's scope"),
    Case("anna", "receive", "approved", 409, "nothing issued yet"),
    Case("anna", "receive", "received", 409, "received already"),
    Case("quinn", "read", "submitted", 200, "quality reads the site's requisitions"),
    Case("hugo", "read", "submitted", 403, "another department's are not shown"),
    Case("hana", "read", "missing", 404, "one that does not exist"),
]
USERS: dict[str, tuple[str, list[str], list[str]]] = {  # id: role, sites, departments
    "anna": ("nurse", [], ["ward-5"]), "nina": ("nurse", [], ["ward-5"]),
    "hana": ("head", [], ["ward-5"]), "hana_own": ("head", [], ["ward-5"]),
    "hugo": ("head", [], ["ward-7"]), "hugo_all": ("head", ["s1"], ["ward-7", "store"]),
    "sam": ("storekeeper", ["s1"], []), "sam_other": ("storekeeper", ["s2"], []),
    "quinn": ("quality", ["s1"], []), "ada": ("admin", [], []), "vic": ("viewer", [], []),
}  # fmt: skip


@pytest.fixture
def api(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[TestClient, dict[str, dict[str, str]]]:
    from argon2 import PasswordHasher

    # eleven users per case: hashed cheaply (logins are not what this tests)
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))
    lg = ledger(db_url)
    headers = {}
    with lg.session.begin() as s:
        for uid, (role, sites, depts) in USERS.items():
            accounts.add_user(s, uid, role=role, password="long enough password", sites=sites,
                              departments=depts)  # fmt: skip
            token = accounts.add_token(s, uid, TEST_NOW)
            headers[uid] = {"Authorization": f"Bearer {token}"}
    return TestClient(create_app(lg, {})), headers


def prepare(client: TestClient, h: dict[str, dict[str, str]], state: str, by: str) -> int:
    """A requisition of ward 5 in `state`, requested by `by` (hana_own for her own)."""
    body = {"to_location": "s1/ward-5", "lines": [{"gtin": SALINE, "quantity": 2}]}
    made = client.post("/requisitions", json=body, headers=h[by])
    assert made.status_code == 201, made.text
    rid: int = made.json()["id"]
    steps = {"submitted": [], "approved": ["approve"], "cancelled": ["cancel"],
             "rejected": ["reject"], "issued": ["approve", "issue"],
             "received": ["approve", "issue", "receive"]}[state]  # fmt: skip
    actor = {"approve": "hana", "reject": "hana", "cancel": by, "issue": "sam", "receive": by}
    for step in steps:
        r = client.post(f"/requisitions/{rid}/{step}", json=_body(step), headers=h[actor[step]])
        assert r.status_code == 200, r.text
    return rid


def _body(action: str) -> dict[str, Any]:
    return {"reason": "not needed"} if action == "reject" else {}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.why)
def test_who_may_do_what(api: tuple[TestClient, dict[str, dict[str, str]]], case: Case) -> None:
    client, h = api
    if case.action == "create":
        ward = "s1/ward-5"
        r = client.post("/requisitions", headers=h[case.actor],
                        json={"to_location": ward, "lines": [{"gtin": SALINE, "quantity": 1}]})  # fmt: skip
    else:
        requester = "hana_own" if case.actor == "hana_own" else "anna"
        rid = 999 if case.state == "missing" else prepare(client, h, case.state, requester)
        actor = "hana_own" if case.actor == "hana_own" else case.actor
        if case.action == "read":
            r = client.get(f"/requisitions/{rid}", headers=h[actor])
        else:
            r = client.post(f"/requisitions/{rid}/{case.action}", json=_body(case.action),
                            headers=h[actor])  # fmt: skip
    assert r.status_code == case.expect, r.text
    if case.expect >= 400:
        assert r.json()["detail"]


def test_api_contract_errors_name_the_field(
    api: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, h = api
    bad = [
        ({"to_location": "s1/ward-5", "lines": []}, "lines"),
        ({"to_location": "s1/ward-5", "lines": [{"gtin": "123", "quantity": 1}]}, "gtin"),
        ({"to_location": "s1/ward-5", "lines": [{"gtin": SALINE, "quantity": 0}]}, "quantity"),
        ({"to_location": "s1/nowhere", "lines": [{"gtin": SALINE, "quantity": 1}]},
         "to_location"),
        ({"to_location": "s1/ward-5", "lines": [{"gtin": "04012345999999", "quantity": 1}]},
         "gtin"),
        ({"to_location": "s1/ward-5", "lines": [{"gtin": SALINE, "quantity": 1}],
          "priority": "asap"}, "priority"),
    ]  # fmt: skip
    for body, field in bad:
        r = client.post("/requisitions", json=body, headers=h["anna"])
        assert r.status_code == 422 and field in r.text, (body, r.text)
    rid = prepare(client, h, "submitted", "anna")
    r = client.post(f"/requisitions/{rid}/reject", json={}, headers=h["hana"])
    assert r.status_code == 422 and "reason" in r.text
    got = client.get(f"/requisitions/{rid}", headers=h["anna"]).json()
    assert got["status"] == "submitted" and got["lines"][0]["quantity"] == 2
    listed = client.get("/requisitions?status=submitted", headers=h["sam"]).json()
    assert [r["id"] for r in listed] == [rid]
    assert client.get("/requisitions", headers=h["hugo"]).json() == []
    with TestClient(client.app) as c:  # a GTIN-13 is its GTIN-14
        r = c.post("/requisitions", headers=h["anna"],
                   json={"to_location": "s1/ward-5", "lines": [{"gtin": SALINE[1:], "quantity": 1}]})  # fmt: skip
        assert r.status_code == 201 and r.json()["lines"][0]["gtin"] == SALINE


def test_requisition_rows_survive_in_the_database(db_url: str) -> None:
    lg = ledger(db_url)
    rid = lg.new_requisition(ANNA, to_location="s1/ward-5", lines=[LineIn(SALINE, 1)])["id"]
    with lg.session() as s:
        row = s.get(Requisition, rid)
        assert row is not None and row.levels == "head:head" and row.requester == "anna"


# --- returns, loss, scrap and adjustments that wait for an approval -----------------------
def test_a_loss_above_the_rules_value_waits_for_the_head(db_url: str) -> None:
    from central.config import BookingApprovalConfig

    rules = RequisitionConfig(bookings=(
        BookingApprovalConfig(kinds=("loss", "scrap"), min_value=Decimal("5"), role="head"),
        BookingApprovalConfig(reasons=("found",), role="quality"),
    ))  # fmt: skip
    lg = ledger(db_url, rules)
    before = stock(lg, "s1/store")
    cheap = lg.request_booking(ANNA, "scrap", location="s1/store", reason="torn",
                               gtin=DRESSING, lot="D1", quantity=2)  # 2.40: at once  # fmt: skip
    assert cheap == {"booked": 2, "pending": None, "approver_role": None}
    dear = lg.request_booking(ANNA, "loss", location="s1/store", reason="not found",
                              gtin=DRESSING, lot="D1", quantity=10)  # fmt: skip
    assert dear["booked"] == 0 and dear["approver_role"] == "head"
    assert stock(lg, "s1/store")[(DRESSING, "D1")] == before[(DRESSING, "D1")] - 2
    found = lg.request_booking(NINA, "adjustment", location="s1/ward-5", reason="found on shelf",
                               epcs=tuple(tags(range(1, 2))))  # fmt: skip
    assert found["approver_role"] == "quality"
    pending = lg.pending_bookings(HANA)
    assert [p["id"] for p in pending] == [found["pending"]]  # the store's loss: not her scope
    assert {p["id"] for p in lg.pending_bookings(SAM)} == {dear["pending"], found["pending"]}
    with pytest.raises(Forbidden, match="head"):
        lg.decide_booking(QUINN, dear["pending"], approve=True)
    with pytest.raises(Forbidden, match="scope"):
        lg.decide_booking(HANA, dear["pending"], approve=True)  # ward 5's head, the store
    store_head = Principal("stan", Role.HEAD, departments=frozenset({"store"}))
    with pytest.raises(Forbidden, match="needs your signature"):  # a loss: approved signed
        lg.decide_booking(store_head, dear["pending"], approve=True, comment="searched")
    with pytest.raises(Forbidden, match="needs your signature"):  # someone else's will not do
        lg.decide_booking(store_head, dear["pending"], approve=True,
                          signed=signed(lg, "quinn-2", "searched"))  # fmt: skip
    out = lg.decide_booking(store_head, dear["pending"], approve=True, comment="searched",
                            signed=signed(lg, "stan", "searched", role="head"))  # fmt: skip
    assert out["status"] == "approved" and out["decided_by"] == "stan"
    with lg.session() as s:
        sig = s.scalars(select(Signature).where(Signature.action == "loss_approval")).one()
        assert (sig.user, sig.subject, sig.reason) == ("stan", f"booking {dear['pending']}",
                                                       "searched")  # fmt: skip
    assert stock(lg, "s1/store")[(DRESSING, "D1")] == before[(DRESSING, "D1")] - 12
    with pytest.raises(Conflict):
        lg.decide_booking(store_head, dear["pending"], approve=False)
    with pytest.raises(Forbidden, match="own"):
        lg.decide_booking(Principal("nina", Role.ADMIN), found["pending"], approve=True)
    lg.decide_booking(QUINN, found["pending"], approve=False, comment="it is the store's")
    assert stock(lg, "s1/ward-5") == {}
    with lg.session() as s:
        moved = s.scalars(select(Movement).where(Movement.kind == "loss")).one()
        assert moved.actor == "anna" and "approved by stan" in moved.reason


# --- two-person checks --------------------------------------------------------------------
def morphine(serials: range) -> list[str]:
    return [f"urn:epc:id:sgtin:4012345.000007.{n}" for n in serials]


def test_a_controlled_issue_needs_a_second_authorised_person(db_url: str) -> None:
    lg = ledger(db_url)
    rid = lg.new_requisition(ANNA, to_location="s1/ward-5", lines=[LineIn(MORPHINE, 2)])["id"]
    lg.approve_requisition(HANA, rid)
    with pytest.raises(
        Invalid, match="witness: a second person confirms the issue of 2 x Morphine"
    ):
        lg.issue_requisition(SAM, rid)
    with pytest.raises(Forbidden, match="someone else"):
        lg.issue_requisition(SAM, rid, witness=SAM)
    with pytest.raises(Forbidden, match="may not confirm issues from s1/store"):
        lg.issue_requisition(SAM, rid, witness=ANNA)  # a ward nurse, not the store's
    out = lg.issue_requisition(SAM, rid, witness=QUINN)
    assert out["status"] == "issued" and out["history"][-1]["comment"].endswith("witness quinn")
    assert stock(lg, "s1/in-transit") == {(MORPHINE, "M1"): 2}


def test_a_controlled_take_at_a_cabinet_waits_for_a_second_nurse(db_url: str) -> None:
    from rules.events import CabinetMovement

    lg = ledger(db_url, RequisitionConfig(witness_alert_s=600))
    cab = morphine(range(1, 4))
    lg.receive([ReceiptLine(epc=e, gtin=MORPHINE, lot="M2", expiry=days(300),
                            location="s1/ward-5") for e in cab], actor="test")  # fmt: skip
    t = int(lg.clock.now().timestamp() * 1e6)
    take = CabinetMovement(
        occurred_at_us=t, cabinet="ward-5", zone="ward-5", action="take",
        batch=Batch(gtin=MORPHINE, lot="M2"), quantity=1, epcs=tuple(cab[:1]), user_id="anna",
        case_id="P-1", session_id=None, attributed=True, uncommissioned=False,
    )  # fmt: skip
    assert lg.apply(stamp(take, site="s1", gateway="gw1", seq=1))
    lg.watch_requisitions()
    (check,) = lg.witness_checks(NINA)
    assert (check["actor"], check["what"], check["location"]) == ("anna", "1 x Morphine 10 mg/ml",
                                                                  "s1/ward-5")  # fmt: skip
    assert lg.witness_checks(HUGO) == []  # another ward's
    assert not _open(lg, "two_person")
    lg.clock.advance(timedelta(minutes=11))  # type: ignore[attr-defined]
    lg.watch_requisitions()
    assert _open(lg, "two_person") == [
        "1 x Morphine 10 mg/ml taken by anna at s1/ward-5 has no second person's confirmation"]  # fmt: skip
    with pytest.raises(Forbidden, match="someone else"):
        lg.confirm_witness(ANNA, check["id"])
    with pytest.raises(Forbidden):
        lg.confirm_witness(HUGO, check["id"])
    assert lg.confirm_witness(NINA, check["id"])["witness"] == "nina"
    with pytest.raises(Conflict):
        lg.confirm_witness(HANA, check["id"])
    lg.watch_requisitions()
    assert not _open(lg, "two_person") and lg.witness_checks(NINA) == []
    lg.watch_requisitions()  # a take is checked once
    with lg.session() as s:
        from central.models import WitnessCheck

        assert len(s.scalars(select(WitnessCheck)).all()) == 1


def test_the_api_takes_the_second_persons_login(
    api: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, h = api
    made = client.post("/requisitions", headers=h["anna"],
                       json={"to_location": "s1/ward-5", "lines": [{"gtin": MORPHINE, "quantity": 1}]})  # fmt: skip
    rid = made.json()["id"]
    assert client.post(f"/requisitions/{rid}/approve", headers=h["hana"]).status_code == 200
    r = client.post(f"/requisitions/{rid}/issue", headers=h["sam"], json={})
    assert r.status_code == 422 and "witness" in r.text
    wrong = {"witness": {"user": "quinn", "password": "not the password"}}
    r = client.post(f"/requisitions/{rid}/issue", headers=h["sam"], json=wrong)
    assert r.status_code == 403 and "wrong user or password" in r.text
    right = {"witness": {"user": "quinn", "password": "long enough password"}}
    r = client.post(f"/requisitions/{rid}/issue", headers=h["sam"], json=right)
    assert r.status_code == 200, r.text
    assert client.get("/witness-checks", headers=h["anna"]).json() == []


def test_a_second_badge_at_the_cabinet_confirms_the_take(db_url: str) -> None:
    from rules.events import CabinetMovement, CabinetWitness

    lg = ledger(db_url, RequisitionConfig(witness_alert_s=600))
    with lg.session.begin() as s:
        import_master_data(s, "users", "id,name,badge\nanna,Anna,B-ANNA\nnina,Nina,B-NINA\n",
                           actor="test")  # fmt: skip
    cab = morphine(range(1, 4))
    lg.receive([ReceiptLine(epc=e, gtin=MORPHINE, lot="M2", expiry=days(300),
                            location="s1/ward-5") for e in cab], actor="test")  # fmt: skip
    t0 = int(lg.clock.now().timestamp() * 1e6)
    take = CabinetMovement(
        occurred_at_us=t0 + 20_000_000, cabinet="ward-5", zone="ward-5", action="take",
        batch=Batch(gtin=MORPHINE, lot="M2"), quantity=2, epcs=tuple(cab[:2]),
        user_id="B-ANNA", case_id="P-1", session_id="ward-5-1", attributed=True,
        uncommissioned=False,
    )  # fmt: skip
    seen = CabinetWitness(occurred_at_us=t0 + 45_000_000, cabinet="ward-5", zone="ward-5",
                          user_id="B-NINA", of_user_id="B-ANNA", session_id="ward-5-1",
                          session_started_us=t0)  # fmt: skip
    assert lg.apply(stamp(take, site="s1", gateway="gw1", seq=1))
    assert lg.apply(stamp(seen, site="s1", gateway="gw1", seq=2))
    lg.clock.advance(timedelta(minutes=30))  # type: ignore[attr-defined]
    lg.watch_requisitions()
    assert lg.witness_checks(NINA) == [] and not _open(lg, "two_person")
    with lg.session() as s:
        from central.models import WitnessCheck

        (check,) = s.scalars(select(WitnessCheck)).all()
        assert (check.actor, check.witness, check.what) == ("anna", "nina", "2 x Morphine 10 mg/ml")


def test_a_count_at_the_ward_receives_what_it_finds(db_url: str) -> None:
    """A handheld read (or serialised barcodes) counted at the ward and confirmed puts the
    items there: the same receipt as a gate's."""
    lg = ledger(db_url)
    rid = lg.new_requisition(ANNA, to_location="s1/ward-5", lines=[LineIn(SALINE, 3)])["id"]
    lg.approve_requisition(HANA, rid)
    epcs = [p["epc"] for p in lg.issue_requisition(SAM, rid)["picks"]]
    take = lg.stocktake("s1/ward-5", epcs, user="nina", source="handheld")
    assert take["counted"] == 3
    lg.confirm_stocktake(take["id"], signed=signed(lg, "hana", role="storekeeper"))
    assert lg.watch_requisitions() == 1
    got = lg.requisition(ANNA, rid)
    assert got["status"] == "received" and got["history"][-1]["actor"] == "hana"
    assert stock(lg, "s1/ward-5") == {(SALINE, "SOON"): 3} and stock(lg, "s1/in-transit") == {}


def test_a_person_receives_what_was_last_read_on_the_way(db_url: str) -> None:
    lg = ledger(db_url)
    rid = lg.new_requisition(ANNA, to_location="s1/ward-5", lines=[LineIn(SALINE, 2)])["id"]
    lg.approve_requisition(HANA, rid)
    picks = lg.issue_requisition(SAM, rid)["picks"]
    gate(lg, picks, "store", "corridor", seq=1)  # the ward's own door did not read the cart
    assert stock(lg, "s1/corridor") == {(SALINE, "SOON"): 2}
    lg.clock.advance(timedelta(minutes=20))  # type: ignore[attr-defined]  # after the read
    lg.receive_requisition(NINA, rid, "on the shelf")
    assert stock(lg, "s1/ward-5") == {(SALINE, "SOON"): 2} and stock(lg, "s1/corridor") == {}
