"""Bookings (returns, loss, scrap, adjustments), stocktake, item history, master data and
EPCIS imports, reports and KPIs, on SQLite and PostgreSQL; their API endpoints and CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from central import reports
from central.api import create_app, hash_token
from central.errors import Conflict
from central.imports import MasterDataError, import_master_data
from central.ledger import BookingError, Ledger, ReceiptError, ReceiptLine, epcis_receipt
from central.models import Movement
from rules.events import Batch, CabinetMovement, stamp
from tests.central.conftest import SIGNING_PASSWORD, finish_job, signed
from tests.central.test_ledger import T, epcs, ledger
from tests.conftest import days, wall_days

GTIN = "04012345000016"
SHARED = Path(__file__).resolve().parents[3] / "shared"


def stocked(db_url: str, n: int = 5, where: str = "s1/store") -> Ledger:
    lg = ledger(db_url)
    lines = [ReceiptLine(epc=e, gtin=GTIN, lot="L1", expiry=days(47), location=where)
             for e in epcs(n)]  # fmt: skip
    lg.receive(lines, actor="storekeeper-1", today=days(-327))
    return lg


def qty(lg: Ledger, location: str) -> int:
    return sum(r["quantity"] for r in lg.stock(location))


def test_scrap_loss_return_and_adjustment_carry_reason_and_user(db_url: str) -> None:
    lg = stocked(db_url)
    e = epcs(5)
    assert lg.book("scrap", location="s1/store", user="anna", reason="broken vial",
                   epcs=e[:1]) == 1  # fmt: skip
    assert lg.book("loss", location="s1/store", user="anna", reason="not found", epcs=e[1:2]) == 1
    assert qty(lg, "s1/store") == 3
    assert lg.book("return", location="s1/store", user="ben", reason="unused, sealed",
                   epcs=e[1:2], case_id="case-9") == 1  # fmt: skip
    assert qty(lg, "s1/store") == 4
    # untagged goods: a signed quantity of a batch, never below zero
    assert lg.book("adjustment", location="s1/store", user="anna", reason="count",
                   gtin=GTIN, lot="L1", quantity=-2) == 2  # fmt: skip
    assert qty(lg, "s1/store") == 2
    with pytest.raises(BookingError, match="cannot book"):
        lg.book("scrap", location="s1/store", user="anna", reason="x", gtin=GTIN, lot="L1",
                quantity=5)  # fmt: skip
    with pytest.raises(BookingError, match="reason"):
        lg.book("loss", location="s1/store", user="anna", reason=" ", epcs=e[:1])
    with pytest.raises(BookingError, match="not commissioned"):
        lg.book("loss", location="s1/store", user="anna", reason="x",
                epcs=("urn:epc:id:sgtin:4012345.000001.999",))  # fmt: skip
    with lg.session() as s:
        booked = [(m.kind, m.actor, m.reason, m.quantity) for m in s.query(Movement)
                  .filter(Movement.kind != "receiving").order_by(Movement.id)]  # fmt: skip
    assert booked == [("scrap", "anna", "broken vial", 1), ("loss", "anna", "not found", 1),
                      ("return", "ben", "unused, sealed", 1), ("adjustment", "anna", "count", 2)]  # fmt: skip
    history = lg.epc_history(e[1])
    assert [(m["kind"], m["to"], m["actor"]) for m in history["movements"]] == [
        ("receiving", "s1/store", "storekeeper-1"),
        ("loss", None, "anna"),
        ("return", "s1/store", "ben"),
    ]


def test_stocktake_accuracy_lines_and_confirmation(db_url: str) -> None:
    lg = stocked(db_url, 5)
    lg.receive([ReceiptLine(epc=epcs(1, 50)[0], gtin=GTIN, lot="L1", expiry=days(47),
                            location="s1/ward")], actor="t", today=days(-327))  # fmt: skip
    counted = [*epcs(4), epcs(1, 50)[0]]  # #5 is missing; #50 is here though booked to the ward
    report = lg.stocktake("s1/store", counted, user="anna")
    assert (report["expected"], report["counted"], report["matched"]) == (5, 5, 4)
    assert report["accuracy"] == round(4 / 6, 4)
    assert [(ln["finding"], ln["ledger_location"]) for ln in report["lines"]] == [
        ("missing", "s1/store"),
        ("unexpected", "s1/ward"),
    ]
    assert qty(lg, "s1/store") == 5  # nothing moves until someone confirms
    done = lg.confirm_stocktake(report["id"], signed=signed(lg, "head-nurse", role="storekeeper"))
    assert done["state"] == "confirmed"
    assert qty(lg, "s1/store") == 5 and qty(lg, "s1/ward") == 0
    again = lg.stocktake("s1/store", counted, user="anna")
    assert again["accuracy"] == 1.0 and again["lines"] == []
    with pytest.raises(Conflict, match="already confirmed"):
        lg.confirm_stocktake(report["id"], signed=signed(lg, "head-nurse", role="storekeeper"))


def test_master_data_import_checks_and_upserts(db_url: str) -> None:
    lg = ledger(db_url)
    with lg.session.begin() as s:
        assert import_master_data(s, "departments", "code,name\nsurgery,Surgery\nicu,ICU\n") == 2
        assert (
            import_master_data(s, "users", "id,name,badge,department\nnurse-7,Ann,B77,surgery\n")
            == 1
        )
        assert import_master_data(
            s, "products",
            f"gtin,name,unit,category,cold_chain_class,high_value,unit_price\n{GTIN},Saline,EA,iv,,no,1.20\n",
        ) == 1  # fmt: skip
        assert (
            import_master_data(
                s,
                "locations",
                "code,name,kind,parent\ns1,Site,site,\ns1/store,Store,warehouse,s1\n",
            )
            == 2
        )
    for kind, text, error in [
        ("products", "gtin,name\n04012345000017,Bad check digit\n", "not a valid GTIN"),
        ("users", "id,name,department\nx,X,cardiology\n", "not known"),
        ("locations", "code,name,parent\na,A,nowhere\n", "not a known location"),
        ("products", "name\nx\n", "lacks columns"),
    ]:
        with pytest.raises(MasterDataError, match=error), lg.session.begin() as s:
            import_master_data(s, kind, text)


def _take(lg: Ledger, tags: tuple[str, ...], user: str, action: str, seq: int, t: int) -> None:
    e = CabinetMovement(
        occurred_at_us=t, cabinet="or-3", zone="store", action=action,  # type: ignore[arg-type]
        batch=Batch(gtin=GTIN, lot="L1", expiry="2027-01-10"), quantity=len(tags), epcs=tags,
        user_id=user, case_id=f"case-{seq}", session_id=None, attributed=True,
        uncommissioned=False,
    )  # fmt: skip
    lg.apply(stamp(e, site="s1", gateway="gw1", seq=seq))


def test_reports_and_kpis(db_url: str) -> None:
    lg = stocked(db_url, 10)
    with lg.session.begin() as s:
        import_master_data(s, "departments", "code,name\nsurgery,Surgery\n")
        import_master_data(s, "users", "id,name,badge,department\nnurse-7,Ann,B-0042,surgery\n")
        import_master_data(s, "products", f"gtin,name,unit_price\n{GTIN},Saline,2.50\n")
    now = datetime.fromtimestamp(T / 1e6, UTC)
    _take(lg, epcs(3), "B-0042", "take", 1, T)  # the cabinet saw her badge, not her id
    _take(lg, epcs(1), "nurse-7", "return", 2, T + 1_000_000)
    _take(lg, epcs(2, 9), "dr-who", "take", 3, T + 2_000_000)
    lg.book("scrap", location="s1/store", user="anna", reason="broken", epcs=epcs(1, 5))
    lg.stocktake("s1/store", list(epcs(10)), user="anna")
    start, end = now - timedelta(days=1), now + timedelta(days=1)
    with lg.session() as s:
        assert reports.consumption(s, start, end) == [
            {"department": "surgery", "gtin": GTIN, "product": "Saline", "quantity": 2,
             "value": "5.00"},
            {"department": "unknown", "gtin": GTIN, "product": "Saline", "quantity": 2,
             "value": "5.00"},
        ]  # fmt: skip
        assert reports.top_consumers(s, start, end) == [
            {"user": "dr-who", "items": 2, "cases": 1},
            {"user": "nurse-7", "items": 2, "cases": 1},
        ]
        near = reports.near_expiry_value(s, days(7), days=90)
        assert near["total_value"] == "12.50" and near["lines"][0]["quantity"] == 5
        k = reports.kpis(s, datetime(2020, 1, 1, tzinfo=UTC), datetime(2099, 1, 1, tzinfo=UTC),
                         days(189))  # fmt: skip
        assert k["scrap"] == {"items": 1, "value": "2.50"}
        assert k["expired_on_hand"] == {"items": 5, "value": "12.50"}
        assert k["consumed_items"] == 4 and k["on_hand_items"] == 5
        assert k["inventory_turnover"] == pytest.approx(0.8)
        assert k["stock_accuracy"] == pytest.approx(0.5)  # 5 of 10 counted tags are still there
        slow = reports.slow_movers(s, now + timedelta(days=200), days=90)
        assert [(r["location"], r["quantity"]) for r in slow] == [("s1/store", 5)]
        assert reports.slow_movers(s, now, days=90) == []


def _epcis(events: Sequence[Mapping[str, object]]) -> dict[str, object]:
    return {"@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
            "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": "2026-11-24T08:00:00Z", "epcisBody": {"eventList": events}}  # fmt: skip


COMMISSIONING = {
    "type": "ObjectEvent", "eventTime": "2026-11-20T10:00:00Z", "eventTimeZoneOffset": "+01:00",
    "action": "ADD", "bizStep": "commissioning", "disposition": "active",
    "epcList": list(epcs(3, 700)),
    "ilmd": {"cbvmda:lotNumber": "LX9", "cbvmda:itemExpirationDate": "2028-05-31"},
}  # fmt: skip


def test_epcis_commissioning_import(db_url: str) -> None:
    doc = _epcis([COMMISSIONING, {**COMMISSIONING, "action": "OBSERVE", "ilmd": None}])
    schema = SHARED / "epcis" / "schema" / "epcis-json-schema-2.0.1.json"
    if schema.exists():  # the document we test with is valid EPCIS 2.0
        import jsonschema

        jsonschema.validate(_epcis([COMMISSIONING]), json.loads(schema.read_text()))
    lines = epcis_receipt(doc, "s1/store")
    assert {(ln.gtin, ln.lot, ln.expiry) for ln in lines} == {(GTIN, "LX9", days(554))}
    lg = ledger(db_url)
    assert lg.receive(lines, actor="t", today=days(0)) == 3
    assert lg.trace(GTIN, "LX9")["units"][0]["location"] == "s1/store"
    with pytest.raises(ReceiptError, match="not a date"):
        epcis_receipt(_epcis([{**COMMISSIONING, "ilmd": {"cbvmda:lotNumber": "A"}}]), "s1/x")
    with pytest.raises(ReceiptError, match="no commissioning"):
        epcis_receipt(_epcis([]), "s1/x")


def test_api_bookings_stocktake_reports_and_roles(db_url: str) -> None:
    lg = stocked(db_url, 3)
    tokens = {hash_token(t): {"user": u, "role": r} for t, u, r in [
        ("v", "vera", "viewer"), ("k", "kim", "storekeeper"), ("a", "ada", "admin")]}  # fmt: skip
    api = TestClient(create_app(lg, tokens))

    def h(tok: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tok}"}

    body = {"kind": "scrap", "location": "s1/store", "reason": "dropped", "epcs": [epcs(1)[0]]}
    assert api.post("/bookings", json=body, headers=h("v")).status_code == 403
    assert api.post("/bookings", json=body, headers=h("k")).json() == {
        "booked": 1,
        "pending": None,
        "approver_role": None,
    }
    bad = {**body, "kind": "teleport"}
    assert api.post("/bookings", json=bad, headers=h("k")).status_code == 422
    take = api.post("/stocktakes", json={"location": "s1/store", "epcs": list(epcs(3))[1:]},
                    headers=h("k")).json()  # fmt: skip
    assert take["accuracy"] == 1.0
    confirm = f"/stocktakes/{take['id']}/confirm"
    signed(lg, "kim", role="storekeeper")  # kim logs in too: a confirmation is signed
    assert api.post(confirm, headers=h("k")).status_code == 422  # no signature
    wrong = {"password": "not kim's", "reason": "counted twice"}
    assert api.post(confirm, json=wrong, headers=h("k")).status_code == 403
    right = {"password": SIGNING_PASSWORD, "reason": "counted twice"}
    assert api.post(confirm, json=right, headers=h("k")).json()["state"] == "confirmed"
    hist = api.get(f"/epcs/{epcs(1)[0]}", headers=h("v")).json()
    assert [m["kind"] for m in hist["movements"]] == ["receiving", "scrap"]
    assert api.get("/epcs/urn:epc:id:sgtin:0.0.0", headers=h("v")).status_code == 404
    assert api.post("/master-data/departments", content="code,name\nicu,ICU\n",
                    headers=h("k")).status_code == 403  # fmt: skip
    job = finish_job(api, api.post("/master-data/departments", content="code,name\nicu,ICU\n",
                                   headers=h("a")), h("a"))  # fmt: skip
    assert (job["state"], job["imported"]) == ("done", 1)
    assert api.get("/reports/kpis", headers=h("v")).json()["scrap"]["items"] == 1
    for path in ("consumption", "top-consumers", "slow-movers", "near-expiry"):
        assert api.get(f"/reports/{path}", headers=h("v")).status_code == 200, path
    doc = _epcis([COMMISSIONING])
    got = api.post("/receipts/epcis?location=s1/store", json=doc, headers=h("k"))
    assert got.status_code == 201 and got.json()["received"] == 3


def test_cli_book_stocktake_report_import(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    stocked(url, 3)

    def hwms(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hwms_cli", "central", *args, "--db", url],
                              capture_output=True, text=True, check=False)  # fmt: skip

    out = hwms("book", "scrap", "--location", "s1/store", "--user", "anna", "--reason",
               "dropped", "--epc", epcs(1)[0])  # fmt: skip
    assert out.returncode == 0 and "booked 1" in out.stdout, out.stderr
    counted = tmp_path / "count.txt"
    counted.write_text("\n".join(epcs(3)) + "\n")
    out = hwms("stocktake", "--location", "s1/store", "--epcs", str(counted), "--user", "anna")
    assert "accuracy 66.7%" in out.stdout and "unexpected" in out.stdout, out.stdout + out.stderr
    assert hwms("report", "kpis", "--json").returncode == 0
    csv = tmp_path / "d.csv"
    csv.write_text("code,name\nsurgery,Surgery\n")
    assert "imported 1 departments" in hwms("import", "departments", "--csv", str(csv)).stdout
    doc = tmp_path / "epcis.json"
    ilmd = {"cbvmda:lotNumber": "LX9", "cbvmda:itemExpirationDate": wall_days(1000).isoformat()}
    doc.write_text(json.dumps(_epcis([{**COMMISSIONING, "ilmd": ilmd}])))  # the CLI's clock
    out = hwms("receive", "--epcis", str(doc), "--location", "s1/store")
    assert "received 3" in out.stdout, out.stderr
    assert out.stderr == ""  # a command's output is what was asked for: no migration logs


def test_cli_errors_are_one_line_and_an_exit_code(tmp_path: Path) -> None:
    """The ledger's errors map to exit codes once (1 invalid, 3 not found, 4 conflict,
    5 database), with the message on stderr and no traceback."""
    url = f"sqlite:///{tmp_path / 'l.db'}"
    lg = stocked(url, 3)
    signed(lg, "q")  # who signs at the command line: the password on stdin
    signed(lg, "anna", role="storekeeper")
    lg.engine.dispose()

    def hwms(*args: str, db: str = url, stdin: str = SIGNING_PASSWORD + "\n"
             ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        return subprocess.run([sys.executable, "-m", "hwms_cli", "central", *args, "--db", db],
                              capture_output=True, text=True, check=False, input=stdin)  # fmt: skip

    recall = ("recall", "--gtin", GTIN, "--lot", "L1", "--user", "q", "--reason", "notice R-7")
    out = hwms(*recall, stdin="wrong\n")
    assert (out.returncode, out.stderr.strip()) == (
        6,
        "hwms central recall: signature: the password is not right",
    )
    assert hwms(*recall).returncode == 0
    out = hwms("recall", "--gtin", GTIN, "--lot", "NOPE", "--user", "q", "--reason", "x")
    assert (out.returncode, out.stderr.strip()) == (
        3,
        f"hwms central recall: no batch {GTIN} lot NOPE",
    )
    counted = tmp_path / "count.txt"
    counted.write_text("\n".join(epcs(3)) + "\n")
    take = json.loads(hwms("stocktake", "--location", "s1/store", "--epcs", str(counted),
                           "--user", "anna", "--json").stdout)  # fmt: skip
    confirm = ("stocktake", "--confirm", str(take["id"]), "--user", "anna")
    assert hwms(*confirm).returncode == 2  # the confirmation is signed: --reason
    assert hwms(*confirm, "--reason", "counted").returncode == 0
    again = hwms(*confirm, "--reason", "counted")
    assert again.returncode == 4 and "already confirmed" in again.stderr
    bad = hwms("book", "scrap", "--location", "", "--user", "a", "--reason", "r", "--epc",
               epcs(1)[0])  # fmt: skip
    assert bad.returncode == 1 and "not a location code" in bad.stderr
    empty = hwms("stock", db=f"sqlite:///{tmp_path / 'empty.db'}")
    assert empty.returncode == 5 and "hwms central db upgrade" in empty.stderr
    assert "Traceback" not in empty.stderr + bad.stderr + again.stderr


def test_receiving_untagged_goods_supplier_and_known_gtins(db_url: str) -> None:
    from central.ledger import parse_receipt_csv

    lg = ledger(db_url)
    lines = parse_receipt_csv(
        "epc,gtin,lot,expiry,location,quantity,supplier\n"
        f",{GTIN},U1,2028-01-01,s1/store,40,B. Braun\n"
        f"{epcs(1)[0]},{GTIN},U1,2028-01-01,s1/store,,B. Braun\n"
    )
    assert lg.receive(lines, actor="t", today=days(0)) == 41  # items
    assert qty(lg, "s1/store") == 41
    trace = lg.trace(GTIN, "U1")
    assert sorted((m["kind"], m["quantity"]) for m in trace["movements"]) == [
        ("receiving", 1),
        ("receiving", 40),
    ]
    with lg.session() as s:
        from central.models import Batch as BatchRow

        assert s.query(BatchRow).filter_by(lot="U1").one().supplier == "B. Braun"
    bad = [ReceiptLine(epc="", gtin=GTIN, lot="U2", expiry=days(403), location="s1/x",
                       quantity=0)]  # fmt: skip
    with pytest.raises(ReceiptError, match="quantity"):
        lg.receive(bad, actor="t", today=days(0))
    # once products are on file, a receipt may only name known products
    with lg.session.begin() as s:
        import_master_data(s, "products", "gtin,name\n04012345000023,Cefazolin\n")
    with pytest.raises(ReceiptError, match="not in the product master data"):
        lg.receive(lines[:1], actor="t", today=days(0))


def test_limits_import_and_audit_log(db_url: str) -> None:
    from central import alerts
    from central.models import AuditLog, StockLimit

    lg = stocked(db_url, 3)
    with lg.session.begin() as s:
        n = import_master_data(s, "limits", f"location,gtin,min,max,reorder\ns1/store,{GTIN},5,20,10\n"
                               f"s1/ward-9,{GTIN},2,8,\n", actor="pharmacist-1")  # fmt: skip
        assert n == 2
        alerts.evaluate(s, days(0), lg.clock.now())
    with lg.session() as s:
        kinds = sorted(a.kind for a in alerts.open_alerts(s))
        limits = sorted((x.min_quantity, x.max_quantity, x.reorder_quantity)
                        for x in s.query(StockLimit))  # fmt: skip
        audit = [(a.actor, a.action, a.detail) for a in s.query(AuditLog)]
    assert kinds == ["expiry", "low_stock", "stockout"]  # 3 < 5 in the store; none in the ward
    assert limits == [(2, 8, None), (5, 20, 10)]
    assert audit == [("pharmacist-1", "import limits", "2 row(s)")]
    with pytest.raises(MasterDataError, match="do not make sense"), lg.session.begin() as s:
        import_master_data(s, "limits", f"location,gtin,min,max\ns1/store,{GTIN},9,3\n")


def test_receipt_numbers_are_unique_and_stock_filters(db_url: str) -> None:
    lg = ledger(db_url)
    line = [ReceiptLine(epc="", gtin=GTIN, lot="N1", expiry=days(403),
                        location="s1/ward-5/cabinet-1", quantity=7)]  # fmt: skip
    assert lg.receive(line, actor="t", today=days(0), number="DN-4711") == 7
    with pytest.raises(Conflict, match="DN-4711 is already booked"):
        lg.receive(line, actor="t", today=days(0), number="DN-4711")
    assert qty(lg, "s1/ward-5/cabinet-1") == 7  # booked once only
    lg.receive(line, actor="t", today=days(0))  # no number: one is generated
    assert sum(r["quantity"] for r in lg.stock("s1/ward-5")) == 14  # the ward covers its cabinet
    assert lg.stock(gtin=GTIN, lot="N1")[0]["quantity"] == 14
    assert lg.stock(gtin="04012345000023") == []
    trace = lg.trace(GTIN, "N1")
    assert any(m["quantity"] == 7 for m in trace["movements"])
    with lg.session() as s:
        reasons = sorted(m.reason for m in s.query(Movement).filter_by(kind="receiving"))
    assert reasons[0] == "receipt DN-4711 (untagged)" and reasons[1].startswith("receipt R-")
