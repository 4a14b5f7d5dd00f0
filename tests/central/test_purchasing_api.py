"""Purchase orders through the HTTP API on both databases: sent by e-mail to a local SMTP
server (the PDF and the CSV attached, their figures read back) and as a FHIR R5 bundle to a
local receiver (validated by fhir.resources), confirmed and announced by the supplier's own
token, received with the variances a person accepts."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from fastapi.testclient import TestClient
from fhir.resources.bundle import Bundle
from fhir.resources.supplyrequest import SupplyRequest
from pypdf import PdfReader

from central import db
from central.accounts import hash_token
from central.api import create_app
from central.config import PurchasingConfig, SmtpConfig, ToleranceConfig
from central.imports import import_master_data
from central.ledger import Ledger
from tests.central.conftest import disposed
from tests.central.test_purchasing import OFFERS, PRODUCTS, SALINE, STORE
from tests.conftest import days, fixed_clock
from tests.support import free_port, http_receiver, smtp_server

TOKENS = {
    hash_token("t-paula"): {"user": "paula", "role": "purchasing"},
    hash_token("t-pete"): {"user": "pete", "role": "purchasing"},
    hash_token("t-sam"): {"user": "sam", "role": "storekeeper"},
    hash_token("t-anna"): {"user": "anna", "role": "nurse"},
    hash_token("t-mia"): {"user": "mia", "role": "supplier", "supplier": "medline"},
    hash_token("t-otto"): {"user": "otto", "role": "supplier", "supplier": "other"},
}


def h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer t-{token}"}


def api(url: str, smtp_port: int | None, fhir_url: str = "") -> TestClient:
    db.upgrade(url)
    rules = PurchasingConfig(
        store=STORE,
        buyer="City Hospital",
        smtp=SmtpConfig(port=smtp_port, sender="buyer@city-hospital.example")
        if smtp_port
        else None,
        tolerance=ToleranceConfig(quantity_pct=Decimal(5)),
    )
    lg = Ledger(db.engine(url), clock=fixed_clock(), purchasing=rules)
    disposed(lg)
    with lg.session.begin() as s:
        import_master_data(s, "products", PRODUCTS, actor="test")
        import_master_data(s, "locations", "code,name\ns1/store,Central store\n", actor="test")
        import_master_data(
            s,
            "suppliers",
            "code,name,email,fhir_url\n"
            f"medline,Medline GmbH,orders@medline.example,{fhir_url}\n"
            "other,Other AG,,\n",
            actor="test",
        )
        import_master_data(s, "supplier-products", OFFERS, actor="test")
    return TestClient(create_app(lg, TOKENS))


def approved(client: TestClient) -> int:
    got = client.post(
        "/purchase-orders",
        headers=h("paula"),
        json={
            "supplier": "medline",
            "lines": [{"gtin": SALINE, "order_units": 5}],
            "note": "weekly",
        },
    )
    assert got.status_code == 201, got.text
    order_id = int(got.json()["id"])
    assert (
        client.post(f"/purchase-orders/{order_id}/approve", headers=h("paula")).status_code == 403
    )
    assert client.post(f"/purchase-orders/{order_id}/approve", headers=h("pete")).status_code == 200
    return order_id


def test_sent_by_email_and_fhir_confirmed_announced_received(db_url: str) -> None:
    with smtp_server() as mailbox, http_receiver() as fhir:
        client = api(db_url, mailbox.port, fhir.url + "/fhir")
        order_id = approved(client)
        assert client.get("/purchase-orders", headers=h("mia")).json() == []  # not sent yet
        sent = client.post(f"/purchase-orders/{order_id}/send", headers=h("paula"))
        assert sent.status_code == 200, sent.text
        assert sent.json()["status"] == "sent"
        assert sent.json()["history"][-1]["comment"] == "email, fhir"
        (mail,) = mailbox.messages
        assert mail["To"] == "orders@medline.example" and "PO-" in mail["Subject"]
        files = {p.get_filename(): p.get_content() for p in mail.iter_attachments()}
        number = sent.json()["number"]
        pdf_text = PdfReader(io.BytesIO(files[f"{number}.pdf"])).pages[0].extract_text()
        assert number in pdf_text and SALINE in pdf_text and "240.00" in pdf_text
        rows = list(csv.DictReader(io.StringIO(files[f"{number}.csv"])))
        assert [(r["gtin"], r["order_units"], r["quantity"], r["line_value"]) for r in rows] == [
            (SALINE, "5", "100", "240.00")
        ]
        ((path, bundle),) = fhir.posts
        assert path == "/fhir/"
        parsed = Bundle.model_validate(bundle)
        assert parsed.type == "transaction"
        request = SupplyRequest.model_validate(bundle["entry"][0]["resource"])
        assert request.quantity.value == 100
        concept = request.item.concept
        assert concept is not None and concept.coding and concept.coding[0].code == SALINE
    listed = client.get("/purchase-orders", headers=h("mia")).json()
    assert [o["id"] for o in listed] == [order_id]
    assert client.get(f"/purchase-orders/{order_id}", headers=h("otto")).status_code == 404
    pdf = client.get(f"/purchase-orders/{order_id}/document?format=pdf", headers=h("mia"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    confirmed = client.post(
        f"/purchase-orders/{order_id}/confirm",
        headers=h("mia"),
        json={"delivery_date": days(3).isoformat()},
    )
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"
    notice = {
        "number": "DA-1",
        "sscc": "040123450000000017",
        "lines": [{"gtin": SALINE, "lot": "L1", "expiry": days(400).isoformat(), "quantity": 100}],
    }
    bad = client.post(f"/purchase-orders/{order_id}/ship-notices", headers=h("mia"), json=notice)
    assert bad.status_code == 422 and "not an SSCC" in bad.json()["detail"]
    notice["sscc"] = "040123450000000016"
    got = client.post(f"/purchase-orders/{order_id}/ship-notices", headers=h("mia"), json=notice)
    assert got.status_code == 201, got.text
    assert (
        client.post(
            f"/purchase-orders/{order_id}/ship-notices", headers=h("anna"), json=notice
        ).status_code
        == 403
    )
    other_lot = {
        "lines": [{"gtin": SALINE, "lot": "L7", "expiry": days(400).isoformat(), "quantity": 100}]
    }
    refused = client.post(f"/purchase-orders/{order_id}/receipts", headers=h("sam"), json=other_lot)
    assert refused.status_code == 409
    assert refused.json()["variances"] == [
        {"gtin": SALINE, "kind": "lot", "expected": "L1", "got": "L7", "needs_acceptance": True}
    ]
    assert (
        client.post(
            f"/purchase-orders/{order_id}/receipts", headers=h("mia"), json=other_lot
        ).status_code
        == 403
    )
    done = client.post(
        f"/purchase-orders/{order_id}/receipts",
        headers=h("sam"),
        json=other_lot | {"accept": True, "comment": "lot relabelled by supplier"},
    )
    assert done.status_code == 200 and done.json()["status"] == "received"
    assert done.json()["variances"][0]["accepted_by"] == "sam"
    assert done.json()["ship_notices"][0]["receipt"]  # in: its SSCC books nothing more


def test_a_failed_send_leaves_the_order_approved(db_url: str) -> None:
    client = api(db_url, free_port())  # nobody listens there
    order_id = approved(client)
    got = client.post(f"/purchase-orders/{order_id}/send", headers=h("paula"))
    assert got.status_code == 502 and "did not take the e-mail" in got.json()["detail"]
    assert client.get(f"/purchase-orders/{order_id}", headers=h("paula")).json()["status"] == (
        "approved"
    )
    assert client.post(f"/purchase-orders/{order_id}/send", headers=h("sam")).status_code == 403
    manual = client.post(
        f"/purchase-orders/{order_id}/send", headers=h("paula"), json={"channels": ["manual"]}
    )
    assert manual.status_code == 200 and manual.json()["status"] == "sent"
    csv_doc = client.get(f"/purchase-orders/{order_id}/document?format=csv", headers=h("paula"))
    assert csv_doc.status_code == 200 and SALINE in csv_doc.text


def test_an_order_without_a_way_to_send_it_says_so(db_url: str) -> None:
    client = api(db_url, None)
    order_id = approved(client)
    got = client.post(f"/purchase-orders/{order_id}/send", headers=h("paula"))
    assert got.status_code == 422 and "by hand" in got.json()["detail"]
    cancelled = client.post(
        f"/purchase-orders/{order_id}/cancel",
        headers=h("paula"),
        json={"reason": "ordered elsewhere"},
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = client.post(
        f"/purchase-orders/{order_id}/cancel", headers=h("paula"), json={"reason": "twice"}
    )
    assert again.status_code == 409


def test_a_delivery_note_as_csv_or_epcis_and_the_kpis(db_url: str) -> None:
    client = api(db_url, None)
    order_id = approved(client)
    client.post(
        f"/purchase-orders/{order_id}/send", headers=h("paula"), json={"channels": ["manual"]}
    )
    bad = client.post(
        f"/purchase-orders/{order_id}/receipts/csv",
        headers=h("sam") | {"Content-Type": "text/csv"},
        content="gtin,lot,expiry,quantity\nx,L1,2026-13-01,5\n",
    )
    assert bad.status_code == 422 and "line 2: expiry" in bad.json()["detail"]
    note = f"gtin,lot,expiry,quantity,unit_price\n{SALINE},L1,{days(300)},60,2.40\n"
    got = client.post(
        f"/purchase-orders/{order_id}/receipts/csv",
        headers=h("sam") | {"Content-Type": "text/csv"},
        content=note,
    )
    assert got.status_code == 200, got.text
    assert got.json()["status"] == "partially_received" and got.json()["lines"][0]["open"] == 40
    epcs = [f"urn:epc:id:sgtin:4012345.000001.{n}" for n in range(1, 41)]
    doc = {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-11-24T08:00:00Z",
        "epcisBody": {
            "eventList": [
                {
                    "type": "ObjectEvent",
                    "action": "ADD",
                    "bizStep": "commissioning",
                    "eventTime": "2026-11-23T10:00:00Z",
                    "eventTimeZoneOffset": "+00:00",
                    "epcList": epcs,
                    "ilmd": {
                        "cbvmda:lotNumber": "L2",
                        "cbvmda:itemExpirationDate": days(300).isoformat(),
                    },
                }
            ]
        },
    }
    done = client.post(f"/purchase-orders/{order_id}/receipts/epcis", headers=h("sam"), json=doc)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "received"
    stock = client.get("/stock?location=s1/store", headers=h("sam")).json()
    assert {(r["lot"], r["quantity"]) for r in stock} >= {("L1", 60), ("L2", 40)}
    kpis = client.get("/reports/supplier-kpis", headers=h("paula"))
    assert kpis.status_code == 200 and kpis.json()[0]["supplier"] == "medline"
    assert kpis.json()[0]["receipts"] == 2 and kpis.json()[0]["in_full_rate"] == 0.0
    assert client.get("/reports/supplier-kpis", headers=h("sam")).status_code == 403
    assert client.get("/proposals", headers=h("anna")).status_code == 403
    assert client.post("/proposals/run", headers=h("sam")).status_code == 403
    assert client.post("/proposals/run", headers=h("paula")).json() == {"made": 0}
    assert client.post("/proposals/7/accept", headers=h("paula")).status_code == 404
