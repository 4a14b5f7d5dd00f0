"""The EPCIS 2.0 query interface on SQLite and PostgreSQL: the ledger's movements as an
EPCISQueryDocument that validates against GS1's schema, each event with its CBV 2.0 hash ID,
found by EPC, class, time, business step, read point and location, a page at a time, in the
caller's scope."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from central import accounts
from central.api import create_app
from central.ledger import Ledger, ReceiptLine
from rules.events import Direction
from tests.central.conftest import disposed, signed
from tests.central.test_ledger import epcs, move
from tests.central.test_operations import GTIN, stocked
from tests.conftest import TEST_NOW, days
from tests.rules.test_events import _validator

HASH_ID = re.compile(r"^ni:///sha-256;[0-9a-f]{64}\?ver=CBV2\.0$")


def hospital(db_url: str) -> tuple[TestClient, dict[str, dict[str, str]]]:
    """s1: 3 tagged items received into the store (a person), 2 of them picked to the ward by
    the door portal (an edge event), 1 scrapped; 10 untagged of lot U1; lot L1 recalled.
    s2: 4 tagged items of lot S2."""
    lg: Ledger = disposed(stocked(db_url, 3))  # lot L1, by storekeeper-1
    half_an_hour_on = int(TEST_NOW.timestamp() + 1800) * 1_000_000
    lg.apply(move(Direction.OUT, "store", "ward", epcs(2), t=half_an_hour_on))  # gw1's portal
    lg.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    lg.book("scrap", location="s1/ward", user="anna", reason="dropped", epcs=epcs(1))
    lg.receive([ReceiptLine(epc="", gtin=GTIN, lot="U1", expiry=days(90), location="s1/store",
                            quantity=10)], actor="sam", today=days(-300))  # fmt: skip
    lg.receive([ReceiptLine(epc=e, gtin=GTIN, lot="S2", expiry=days(90), location="s2/store")
                for e in epcs(4, 80)], actor="sam", today=days(-300))  # fmt: skip
    lg.lock_batch(GTIN, "L1", signed=signed(lg, "quinn", "supplier notice R-9"))
    with lg.session.begin() as s:
        accounts.add_user(s, "auditor", role="system", password="x" * 12)
        accounts.add_user(s, "s2-supplier", role="system", password="x" * 12, sites=["s2"])
        tokens = {u: accounts.add_token(s, u, TEST_NOW) for u in ("auditor", "s2-supplier")}
    headers = {u: {"Authorization": f"Bearer {t}"} for u, t in tokens.items()}
    return TestClient(create_app(lg, {})), headers


def query(api: TestClient, h: dict[str, str], **params: Any) -> tuple[list[dict[str, Any]], Any]:
    got = api.get("/epcis/events", params=params, headers=h)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("application/ld+json")
    assert got.headers["GS1-EPCIS-Version"] == "2.0.0"
    doc = got.json()
    errors = sorted(_validator().iter_errors(doc), key=str)
    assert not errors, "\n".join(e.message for e in errors[:5])
    assert doc["type"] == "EPCISQueryDocument"
    return doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"], got


def test_every_movement_is_an_event_with_its_hash_id(db_url: str) -> None:
    api, h = hospital(db_url)
    everything, _ = query(api, h["auditor"], perPage=100)
    assert [(e["bizStep"], len(e["epcList"])) for e in everything] == [
        ("receiving", 3),  # s1/store, by a person
        ("picking", 2),  # the portal's event
        ("destroying", 1),  # the scrap
        ("receiving", 0),  # untagged lot U1
        ("receiving", 4),  # s2
        ("holding", 0),  # the recall lock of lot L1
    ]
    ids = [e["eventID"] for e in everything]
    assert all(HASH_ID.match(i) for i in ids) and len(set(ids)) == len(ids)
    again, _ = query(api, h["auditor"], perPage=100)
    assert [e["eventID"] for e in again] == ids  # a hash of the event: the same every time
    untagged = everything[3]
    assert untagged["quantityList"] == [{"epcClass": f"https://id.gs1.org/01/{GTIN}/10/U1",
                                         "quantity": 10, "uom": "EA"}]  # fmt: skip
    picked = everything[1]
    assert picked["sourceList"] == [{"type": "location", "source": "urn:hwms:s1:zone:store"}]
    assert picked["bizLocation"] == {"id": "urn:hwms:s1:zone:ward"}
    assert everything[5]["disposition"] == "recalled"


def test_an_items_and_a_batchs_history(db_url: str) -> None:
    api, h = hospital(db_url)
    item, _ = query(api, h["auditor"], MATCH_epc=epcs(1)[0])
    assert [e["bizStep"] for e in item] == ["receiving", "picking", "destroying"]
    assert all(epcs(1)[0] in e["epcList"] for e in item)
    lot, _ = query(api, h["auditor"], MATCH_epcClass=f"https://id.gs1.org/01/{GTIN}/10/L1")
    assert [e["bizStep"] for e in lot] == ["receiving", "picking", "destroying", "holding"]
    product, _ = query(api, h["auditor"], MATCH_epcClass=f"https://id.gs1.org/01/{GTIN}")
    assert len(product) == 6
    both, _ = query(api, h["auditor"], EQ_bizStep="destroying|holding")
    assert [e["bizStep"] for e in both] == ["destroying", "holding"]
    ward, _ = query(api, h["auditor"], EQ_readPoint="urn:hwms:s1:zone:ward")
    assert [e["bizStep"] for e in ward] == ["picking", "destroying"]
    stored, _ = query(api, h["auditor"], EQ_bizLocation="urn:hwms:s2:zone:store")
    assert [len(e["epcList"]) for e in stored] == [4]
    portal = (TEST_NOW + timedelta(minutes=30)).isoformat()
    later, _ = query(api, h["auditor"], GE_eventTime=portal)
    assert [e["bizStep"] for e in later] == ["picking", "destroying", "receiving", "receiving",
                                             "holding"]  # fmt: skip
    before, _ = query(api, h["auditor"], LT_eventTime=portal)
    assert [e["bizStep"] for e in before] == ["receiving"]  # the first receipt


def test_pages_follow_the_next_page_token_and_scope_holds(db_url: str) -> None:
    api, h = hospital(db_url)
    first, got = query(api, h["auditor"], perPage=4)
    assert len(first) == 4 and 'rel="next"' in got.headers["Link"]
    token = re.search(r"nextPageToken=([0-9]+)", got.headers["Link"])
    assert token is not None
    rest, got = query(api, h["auditor"], perPage=4, nextPageToken=token.group(1))
    assert len(rest) == 2 and "Link" not in got.headers
    mine, _ = query(api, h["s2-supplier"], perPage=100)  # scoped to s2
    assert [len(e["epcList"]) for e in mine] == [4]


def test_bad_parameters_are_refused_by_name(db_url: str) -> None:
    api, h = hospital(db_url)
    bad = api.get("/epcis/events", params={"MATCH_epcClass": "urn:x:y"}, headers=h["auditor"])
    assert bad.status_code == 422 and "MATCH_epcClass" in bad.json()["detail"]
    bad = api.get("/epcis/events", params={"GE_eventTime": "yesterday"}, headers=h["auditor"])
    assert bad.status_code == 422 and "GE_eventTime" in bad.json()["detail"]
    bad = api.get("/epcis/events", params={"EQ_readPoint": "urn:epc:id:sgln:1.2.3"},
                  headers=h["auditor"])  # fmt: skip
    assert bad.status_code == 422 and "EQ_readPoint" in bad.json()["detail"]
    assert api.get("/epcis/events").status_code == 401
