"""FHIR R5 on both databases: the CapabilityStatement, batches as InventoryItems searched by
GTIN with paging, a location's stock as an InventoryReport snapshot; every answer validated
with fhir.resources; a HIS's `system` token reads what its scope covers."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi.testclient import TestClient
from fhir.resources.bundle import Bundle
from fhir.resources.capabilitystatement import CapabilityStatement
from fhir.resources.inventoryitem import InventoryItem
from fhir.resources.inventoryreport import InventoryReport

from central import accounts
from central.api import create_app
from central.imports import import_master_data
from central.ledger import ReceiptLine
from tests.central.conftest import disposed
from tests.central.test_ledger import epcs
from tests.central.test_operations import GTIN, stocked
from tests.conftest import TEST_NOW, days


def api(db_url: str) -> tuple[TestClient, dict[str, str], dict[str, str]]:
    lg = disposed(stocked(db_url, 3))  # 3 of lot L1 in s1/store
    lg.receive(
        [
            ReceiptLine(epc=e, gtin=GTIN, lot="W5", expiry=days(200), location="s1/ward-5")
            for e in epcs(2, 50)
        ],
        actor="t",
        today=days(0),
    )
    lg.receive(
        [
            ReceiptLine(epc=e, gtin=GTIN, lot="S2", expiry=days(90), location="s2/store")
            for e in epcs(4, 80)
        ],
        actor="t",
        today=days(0),
    )
    with lg.session.begin() as s:
        import_master_data(s, "products", f"gtin,name\n{GTIN},Saline 0.9%\n", actor="t")
        accounts.add_user(s, "his", role="system", password="x" * 12, sites=["s1"])
        accounts.add_user(s, "ada", role="admin", password="x" * 12)
        his = accounts.add_token(s, "his", TEST_NOW)
        ada = accounts.add_token(s, "ada", TEST_NOW)
    client = TestClient(create_app(lg, {}))
    return client, {"Authorization": f"Bearer {his}"}, {"Authorization": f"Bearer {ada}"}


def entries(got: Any) -> list[dict[str, Any]]:
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate(got.json())
    assert bundle.type == "searchset"
    return [e["resource"] for e in got.json().get("entry", [])]


def test_metadata_items_and_a_snapshot(db_url: str) -> None:
    client, his, ada = api(db_url)
    meta = client.get("/fhir/metadata")
    assert CapabilityStatement.model_validate(meta.json()).fhirVersion == "5.0.0"
    assert [r["type"] for r in meta.json()["rest"][0]["resource"]] == [
        "InventoryItem",
        "InventoryReport",
        "SupplyRequest",
        "SupplyDelivery",
        "DeviceDispense",
    ]

    items = entries(
        client.get(f"/fhir/InventoryItem?code=https://www.gs1.org/gtin|{GTIN}", headers=his)
    )
    for item in items:
        InventoryItem.model_validate(item)
    assert sorted(i["instance"]["lotNumber"] for i in items) == ["L1", "S2", "W5"]
    w5 = next(i for i in items if i["instance"]["lotNumber"] == "W5")
    assert w5["instance"]["expiry"].startswith(days(200).isoformat())
    assert w5["code"][0]["coding"][0] == {"system": "https://www.gs1.org/gtin", "code": GTIN}
    assert w5["name"][0]["name"] == "Saline 0.9%"
    one = client.get(f"/fhir/InventoryItem/{w5['id']}", headers=his)
    assert InventoryItem.model_validate(one.json()).id == w5["id"]
    assert client.get("/fhir/InventoryItem/9999", headers=his).status_code == 404

    first = client.get("/fhir/InventoryItem?_count=2", headers=his)
    assert len(entries(first)) == 2 and first.json()["total"] == 3
    (nxt,) = [link["url"] for link in first.json()["link"] if link["relation"] == "next"]
    assert len(entries(client.get(nxt.replace("http://testserver", ""), headers=his))) == 1

    (report,) = entries(client.get("/fhir/InventoryReport?location=s1", headers=his))
    parsed = InventoryReport.model_validate(report)
    assert parsed.countType == "snapshot"
    listed = {
        (li["location"]["display"], item["quantity"]["value"])
        for li in report["inventoryListing"]
        for item in li["item"]
    }
    assert listed == {("s1/store", 3), ("s1/ward-5", 2)}  # s2 is outside the HIS's scope
    (everywhere,) = entries(client.get("/fhir/InventoryReport?location=s2", headers=ada))
    assert [li["location"]["display"] for li in everywhere["inventoryListing"]] == ["s2/store"]
    (none,) = entries(client.get("/fhir/InventoryReport?location=s2", headers=his))
    assert none.get("inventoryListing", []) == []
    assert client.get("/fhir/InventoryReport?location=s9", headers=his).status_code == 404
    assert client.get("/fhir/InventoryItem?colour=red", headers=his).status_code == 422
    assert client.get("/fhir/InventoryItem").status_code == 401
    assert client.post("/receipts", json=[], headers=his).status_code == 403  # reads only


def test_a_supply_request_is_followed_to_its_supply_delivery(db_url: str) -> None:
    """IHE SUPPLY's ward supply: the HIS posts a SupplyRequest (a requisition), the head
    approves, the store issues, the ward receives: its SupplyDelivery, based on the request."""
    from fhir.resources.supplydelivery import SupplyDelivery
    from fhir.resources.supplyrequest import SupplyRequest

    from central.accounts import Principal
    from central.ledger import Ledger
    from central.vocab import Role

    client, his, _admin = api(db_url)
    ledger: Ledger = client.app.state.ledger  # type: ignore[attr-defined]
    body = {
        "resourceType": "SupplyRequest",
        "status": "active",
        "priority": "asap",
        "identifier": [{"system": "urn:his:order", "value": "HIS-77"}],
        "item": {"concept": {"coding": [{"system": "https://www.gs1.org/gtin", "code": GTIN}]}},
        "quantity": {"value": 2},
        "deliverTo": {"identifier": {"system": "urn:hwms:location", "value": "s1/ward-5"}},
        "reason": [{"concept": {"text": "patient in bed 4"}}],
    }
    assert (
        client.post(
            "/fhir/SupplyRequest", json=body | {"quantity": {"value": 0}}, headers=his
        ).status_code
        == 422
    )
    assert (
        client.post(
            "/fhir/SupplyRequest", json={"resourceType": "SupplyRequest"}, headers=his
        ).status_code
        == 422
    )
    outside = body | {
        "deliverTo": {"identifier": {"system": "urn:hwms:location", "value": "s2/store"}}
    }
    assert client.post("/fhir/SupplyRequest", json=outside, headers=his).status_code == 403
    made = client.post("/fhir/SupplyRequest", json=body, headers=his)
    assert made.status_code == 201, made.text
    request = SupplyRequest.model_validate(made.json())
    assert (request.status, request.priority) == ("active", "urgent")
    rid = int(request.id or 0)
    assert made.headers["Location"] == f"/fhir/SupplyRequest/{rid}"
    empty = client.get(f"/fhir/SupplyDelivery?based-on=SupplyRequest/{rid}", headers=his)
    assert entries(empty) == []
    admin = Principal("ada", Role.ADMIN)
    ledger.approve_requisition(admin, rid)
    ledger.issue_requisition(admin, rid, None, from_location="s1/store")
    (moving,) = entries(
        client.get(f"/fhir/SupplyDelivery?based-on=SupplyRequest/{rid}", headers=his)
    )
    assert moving["status"] == "in-progress"
    ledger.receive_requisition(admin, rid, "arrived")
    (done,) = entries(client.get(f"/fhir/SupplyDelivery?based-on={rid}", headers=his))
    delivery = SupplyDelivery.model_validate(done)
    assert delivery.status == "completed" and done["basedOn"] == [
        {"reference": f"SupplyRequest/{rid}"}
    ]
    assert done["suppliedItem"][0]["quantity"]["value"] == 2
    read = client.get(f"/fhir/SupplyRequest/{rid}", headers=his).json()
    assert (
        read["status"] == "completed"
        and "HIS urn:his:order|HIS-77" in read["reason"][0]["concept"]["text"]
    )
    second = client.post("/fhir/SupplyRequest", json=body, headers=his).json()
    searched = entries(client.get("/fhir/SupplyRequest", headers=his))  # newest first
    assert [SupplyRequest.model_validate(r).id for r in searched] == [second["id"], str(rid)]
    active = entries(client.get("/fhir/SupplyRequest?status=active", headers=his))
    assert [r["id"] for r in active] == [second["id"]]
    page = client.get("/fhir/SupplyRequest?_count=1", headers=his).json()
    assert page["total"] == 2 and len(page["entry"]) == 1
    assert client.get("/fhir/SupplyRequest?status=nope", headers=his).status_code == 422


def test_implants_used_in_a_case_are_device_dispenses(db_url: str) -> None:
    from datetime import timedelta

    from fhir.resources.devicedispense import DeviceDispense

    from central.ledger import Ledger
    from rules.events import Batch as EventBatch
    from rules.events import CabinetMovement, stamp

    client, his, admin = api(db_url)
    ledger: Ledger = client.app.state.ledger  # type: ignore[attr-defined]
    stems = epcs(3, 700)
    ledger.receive(
        [
            ReceiptLine(epc=e, gtin=GTIN, lot="ST1", expiry=days(400), location="s1/or-cab")
            for e in stems
        ],
        actor="t",
        today=days(0),
    )
    with ledger.session.begin() as s:
        import_master_data(s, "products", f"gtin,name,high_value\n{GTIN},Hip stem,yes\n")
    at = TEST_NOW + timedelta(minutes=5)
    take = CabinetMovement(
        occurred_at_us=int(at.timestamp() * 1e6),
        cabinet="or-cab",
        zone="or-cab",
        action="take",
        batch=EventBatch(gtin=GTIN, lot="ST1"),
        quantity=2,
        epcs=tuple(stems[:2]),
        user_id="olga",
        case_id="OP-7",
        session_id=None,
        attributed=True,
        uncommissioned=False,
    )
    assert ledger.apply(stamp(take, site="s1", gateway="gw1", seq=1))
    found = entries(client.get("/fhir/DeviceDispense?encounter=OP-7", headers=his))
    assert len(found) == 2
    for d in found:
        DeviceDispense.model_validate(d)
        assert d["encounter"]["identifier"]["value"] == "OP-7"
        assert (
            d["location"]["display"] == "s1/or-cab"
            and d["performer"][0]["actor"]["display"] == "olga"
        )
    serial = stems[0].rsplit(".", 1)[1]
    udi = f"(01){GTIN}(17){days(400):%y%m%d}(10)ST1(21){serial}"
    assert any(udi in d["device"]["concept"]["text"] for d in found)
    assert entries(client.get("/fhir/DeviceDispense?encounter=OP-8", headers=his)) == []
    assert len(entries(client.get("/fhir/DeviceDispense", headers=admin))) == 2
    # the cabinet's door cycle as a difference report: two stems out for the case
    (cycle,) = entries(client.get("/fhir/InventoryReport?location=s1/or-cab&countType=difference",
                                  headers=his))  # fmt: skip
    report = InventoryReport.model_validate(cycle)
    assert report.countType == "difference"
    (listing,) = cycle["inventoryListing"]
    assert listing["location"]["display"] == "s1/or-cab"
    assert [
        (i["quantity"]["value"], i["item"]["reference"]["reference"]) for i in listing["item"]
    ] == [(-2, f"InventoryItem/{_batch_id(ledger, 'ST1')}")]
    assert cycle["note"][0]["text"] == "cabinet door cycle: olga, case OP-7"
    later = int((at + timedelta(minutes=40)).timestamp() * 1e6)
    back = dataclasses.replace(
        take, action="return", quantity=1, epcs=tuple(stems[1:2]), occurred_at_us=later
    )
    assert ledger.apply(stamp(back, site="s1", gateway="gw1", seq=2))
    newest, oldest = entries(client.get(
        "/fhir/InventoryReport?location=s1&countType=difference", headers=his))  # fmt: skip
    assert newest["inventoryListing"][0]["item"][0]["quantity"]["value"] == 1  # returned
    assert oldest["id"] == cycle["id"]
    page = client.get("/fhir/InventoryReport?location=s1&countType=difference&_count=1",
                      headers=his).json()  # fmt: skip
    assert page["total"] == 2 and any(link["relation"] == "next" for link in page["link"])
    assert client.get("/fhir/InventoryReport?location=s1&countType=sum",
                      headers=his).status_code == 422  # fmt: skip
    differences = "/fhir/InventoryReport?location=s1&countType=difference&date="
    day = at.date().isoformat()
    assert len(entries(client.get(differences + day, headers=his))) == 2  # that day
    late = (at + timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [r["id"] for r in entries(client.get(differences + "ge" + late, headers=his))] == [
        newest["id"]
    ]
    assert [r["id"] for r in entries(client.get(differences + "lt" + late, headers=his))] == [
        cycle["id"]
    ]
    snapshot = "/fhir/InventoryReport?location=s1&date="
    assert len(entries(client.get(snapshot + "ge" + day, headers=his))) == 1  # now: after
    assert entries(client.get(snapshot + "lt" + day, headers=his)) == []
    assert client.get(snapshot + "yesterday", headers=his).status_code == 422


def _batch_id(ledger: Any, lot: str) -> int:
    from sqlalchemy import select

    from central.models import Batch

    with ledger.session() as s:
        return int(s.scalar(select(Batch.id).where(Batch.lot == lot)))
