"""The API keeps to the user's scope as the pages do: stock, alerts, bookings, stocktakes,
receipts and reports of the user's sites and departments only; hospital-wide figures for
users without a scope. Table-driven, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.central.test_requisitions import SALINE, api  # noqa: F401 (a fixture)

Api = tuple[TestClient, dict[str, dict[str, str]]]
BOOK_STORE = {"kind": "scrap", "location": "s1/store", "reason": "broken", "gtin": SALINE,
              "lot": "LATE", "quantity": 1}  # fmt: skip
RECEIPT = [{"epc": "urn:epc:id:sgtin:4012345.000001.900", "gtin": SALINE, "lot": "NEW",
            "expiry": "2199-01-01", "location": "s1/store"}]  # fmt: skip
CASES: list[tuple[str, str, str, Any, int]] = [  # user, method, path, body, status
    ("anna", "post", "/bookings", BOOK_STORE, 403),  # a ward nurse, the store's stock
    ("hana", "post", "/stocktakes", {"location": "s1/store", "epcs": []}, 403),
    ("hana", "post", "/stocktakes", {"location": "s1/ward-5", "epcs": []}, 201),
    ("sam_other", "post", "/receipts", RECEIPT, 403),  # a storekeeper of another site
    ("sam", "post", "/receipts", RECEIPT, 201),
    ("anna", "get", "/reports/kpis", None, 403),
    ("anna", "get", "/reports/top-consumers", None, 403),
    ("anna", "get", "/reports/consumption", None, 200),
    ("ada", "get", "/reports/kpis", None, 200),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]} {c[1]} {c[2]} {c[4]}")
def test_scope_is_kept(api: Api, case: tuple[str, str, str, Any, int]) -> None:  # noqa: F811
    client, h = api
    user, method, path, body, status = case
    r = client.request(method.upper(), path, json=body, headers=h[user])
    assert r.status_code == status, r.text


def test_stock_and_alerts_are_the_users_scope(api: Api) -> None:  # noqa: F811
    client, h = api
    everything = {r["location"] for r in client.get("/stock", headers=h["ada"]).json()}
    assert "s1/store" in everything
    assert client.get("/stock", headers=h["anna"]).json() == []  # ward 5 holds nothing yet
    assert {r["location"] for r in client.get("/stock", headers=h["sam"]).json()} == everything
    every_alert = client.get("/alerts", headers=h["ada"]).json()
    assert any(a["kind"] == "recall" for a in every_alert)  # keyed by batch: hospital-wide
    mine = client.get("/alerts", headers=h["hugo"]).json()
    assert {a["id"] for a in mine} <= {a["id"] for a in every_alert}
