"""The ledger API: roles, stock, receiving, trace, recall, alerts, dead letters."""

from __future__ import annotations

from fastapi.testclient import TestClient

from central.api import create_app, hash_token
from tests.central.conftest import SIGNING_PASSWORD, signed
from tests.central.test_ledger import ledger

TOKENS = {
    hash_token("v-token"): {"user": "vera", "role": "viewer"},
    hash_token("s-token"): {"user": "sam", "role": "storekeeper"},
    hash_token("q-token"): {"user": "quinn", "role": "quality"},
    hash_token("a-token"): {"user": "ada", "role": "admin"},
}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_roles_and_endpoints(db_url: str) -> None:
    lg = ledger(db_url)
    signed(lg, "quinn")  # quinn logs in too: a recall lock is signed with the password
    api = TestClient(create_app(lg, TOKENS))
    assert api.get("/health").json() == {"status": "ok"}
    assert api.get("/stock").status_code == 401
    assert api.get("/stock", headers=auth("wrong")).status_code == 401
    receipt = [{"epc": f"urn:epc:id:sgtin:4012345.000001.{i}", "gtin": "04012345000016", "lot": "L1",
                "expiry": "2026-12-01", "location": "s1/store"} for i in range(1, 4)]  # fmt: skip
    assert api.post("/receipts", json=receipt, headers=auth("v-token")).status_code == 403
    r = api.post("/receipts", json=receipt, headers=auth("s-token"))
    assert r.status_code == 201, r.text
    assert api.get("/stock", headers=auth("v-token")).json()[0]["quantity"] == 3
    trace = api.get("/batches/04012345000016/L1/trace", headers=auth("v-token")).json()
    assert len(trace["units"]) == 3
    # a viewer cannot lock a batch; quality can, signed
    lock, sign = "/batches/04012345000016/L1/lock", {"password": SIGNING_PASSWORD, "reason": "R-7"}
    assert api.post(lock, json=sign, headers=auth("v-token")).status_code == 403
    assert api.post(lock, json=sign, headers=auth("s-token")).status_code == 403
    assert api.post(lock, headers=auth("q-token")).status_code == 422  # unsigned
    wrong = {"password": "not quinn's", "reason": "R-7"}
    assert api.post(lock, json=wrong, headers=auth("q-token")).status_code == 403
    assert api.post(lock, json={**sign, "reason": " "}, headers=auth("q-token")).status_code == 422
    assert api.post(lock, json=sign, headers=auth("q-token")).json()["locked"] is True
    assert (
        api.post("/batches/0000/none/lock", json=sign, headers=auth("q-token")).status_code == 404
    )
    open_alerts = api.get("/alerts", headers=auth("v-token")).json()
    kinds = {a["kind"] for a in open_alerts}
    assert "recall" in kinds and "expiry" in kinds  # expiry within 30 days, raised at receiving
    first = open_alerts[0]["id"]
    assert (
        api.post(f"/alerts/{first}/ack", json={"comment": "x"}, headers=auth("v-token")).status_code
        == 403
    )
    assert (
        api.post(f"/alerts/{first}/ack", json={"comment": "on it"}, headers=auth("s-token")).json()[
            "state"
        ]
        == "acknowledged"
    )
    assert api.get("/dead-letters", headers=auth("q-token")).status_code == 403
    assert api.get("/dead-letters", headers=auth("a-token")).json() == []
    bad = [dict(receipt[0], expiry="2001-01-01")]
    assert api.post("/receipts", json=bad, headers=auth("s-token")).status_code == 422
    assert "/stock" in api.get("/openapi.json").json()["paths"]
