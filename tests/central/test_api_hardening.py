"""The API under hostile and careless input, each case one that once gave a 500, leaked a
secret, blocked the server or loaded too much: on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from central.api import create_app, hash_token
from central.models import DeadLetter
from tests.central.conftest import finish_job
from tests.central.test_ledger import epcs, ledger
from tests.central.test_operations import COMMISSIONING, GTIN, _epcis, stocked
from tests.conftest import days
from tests.support import api_process

ADMIN = {"Authorization": "Bearer admin-token"}
TOKENS = {hash_token("admin-token"): {"user": "ada", "role": "admin"}}


def client(db_url: str, n: int = 3) -> TestClient:
    return TestClient(create_app(stocked(db_url, n), TOKENS), raise_server_exceptions=False)


def problem(resp: Any) -> str:
    return json.dumps(resp.json()["detail"])


def test_out_of_range_numbers_are_422_naming_the_field(db_url: str) -> None:
    api = client(db_url)
    for path, field in [
        ("/reports/slow-movers?days=1000000000", "days"),
        ("/reports/near-expiry?days=-5", "days"),
        ("/reports/top-consumers?n=0", "n"),
        ("/reports/kpis?start=9999-12-31", "start"),
        ("/stocktakes/1180591620717411303424", "stocktake_id"),  # 2**70
        ("/stocktakes/2147483648", "stocktake_id"),  # INTEGER + 1: PostgreSQL would refuse it
        ("/dead-letters?limit=100000", "limit"),
    ]:
        resp = api.get(path, headers=ADMIN)
        assert resp.status_code == 422, (path, resp.text)
        assert field in problem(resp), (path, resp.text)
    resp = api.post("/alerts/1180591620717411303424/ack", json={}, headers=ADMIN)
    assert resp.status_code == 422 and "alert_id" in problem(resp)
    resp = api.get("/reports/kpis?start=2026-02-01&end=2026-01-01", headers=ADMIN)
    assert resp.status_code == 422 and "start must be before end" in resp.text
    resp = api.get("/stock?locaton=s1/store", headers=ADMIN)  # a typo is not "everything"
    assert resp.status_code == 422 and "locaton" in resp.text


def test_odd_documents_and_files_are_422_with_the_reason(db_url: str) -> None:
    api = client(db_url)
    doc = _epcis([{**COMMISSIONING, "ilmd": []}])
    resp = api.post("/receipts/epcis?location=s1/store", json=doc, headers=ADMIN)
    assert resp.status_code == 422 and "ilmd" in resp.text, resp.text
    resp = api.post("/receipts/epcis?location=s1/store", json={"type": "EPCISDocument",
                    "epcisBody": {"eventList": {"a": 1}}}, headers=ADMIN)  # fmt: skip
    assert resp.status_code == 422 and "eventList" in resp.text
    users = "id,name,badge\nu1,Ann,B-1\nu2,Bob,B-1\n"
    job = finish_job(api, api.post("/master-data/users", content=users, headers=ADMIN), ADMIN)
    assert job["state"] == "failed" and "badge 'B-1' belongs to user 'u1'" in job["error"]
    huge = "code,name\nicu," + "x" * 140_000 + "\n"
    job = finish_job(api, api.post("/master-data/departments", content=huge, headers=ADMIN), ADMIN)
    assert job["state"] == "failed" and "field larger than field limit" in job["error"]
    long_name = "code,name\nicu," + "x" * 300 + "\n"  # PostgreSQL's VARCHAR(200) would refuse it
    job = finish_job(api, api.post("/master-data/departments", content=long_name,
                                   headers=ADMIN), ADMIN)  # fmt: skip
    assert job["state"] == "failed" and "name is longer than 200" in job["error"]
    resp = api.post("/master-data/departments", content="no,columns\n1,2\n", headers=ADMIN)
    assert resp.status_code == 422 and "lacks columns" in resp.text


def test_locations_and_epcs_are_what_they_claim(db_url: str) -> None:
    api = client(db_url)
    assert api.get("/stock?location=%25", headers=ADMIN).json() == []  # `%`: no wildcard
    assert api.get("/stock?location=s1", headers=ADMIN).json()[0]["quantity"] == 3
    booking = {"kind": "scrap", "location": "", "reason": "x", "epcs": [epcs(1)[0]]}
    resp = api.post("/bookings", json=booking, headers=ADMIN)
    assert resp.status_code == 422 and "location" in problem(resp)
    line = {"epc": "not-an-epc", "gtin": GTIN, "lot": "L9", "expiry": str(days(400)),
            "location": "s1/store"}  # fmt: skip
    resp = api.post("/receipts", json=[line], headers=ADMIN)
    assert resp.status_code == 422 and "epc" in problem(resp) and "not an EPC" in problem(resp)
    resp = api.post("/receipts", json=[{**line, "epc": epcs(1, 900)[0], "location": "store"}],
                    headers=ADMIN)  # fmt: skip
    assert resp.status_code == 422 and "location code" in problem(resp)


def test_a_stocktake_with_70_000_unexpected_epcs(db_url: str) -> None:
    """More EPCs than PostgreSQL's 65 535 statement parameters: queried in chunks."""
    lg = stocked(db_url, 3)
    counted = [*epcs(3), *epcs(70_000, 10_000)]
    report = lg.stocktake("s1/store", counted, user="t")
    assert (report["expected"], report["counted"], report["matched"]) == (3, 70_003, 3)
    assert len(report["lines"]) == 70_000


def test_dead_letters_come_in_pages_without_their_payloads(db_url: str) -> None:
    lg = ledger(db_url)
    big = b"{" + b"x" * 5_000_000
    with lg.session.begin() as s:
        for i in range(5):
            s.add(DeadLetter(topic=f"hwms/v1/s1/gw/{i}", payload=big, reason="too big",
                             received_at=datetime(2026, 11, 24, tzinfo=UTC)))  # fmt: skip
    api = TestClient(create_app(lg, TOKENS))
    page = api.get("/dead-letters?limit=2", headers=ADMIN).json()
    assert [d["size"] for d in page] == [len(big)] * 2
    assert all(len(d["prefix"]) == 256 for d in page)
    rest = api.get(f"/dead-letters?after_id={page[-1]['id']}", headers=ADMIN).json()
    assert len(rest) == 3
    full = api.get(f"/dead-letters/{rest[0]['id']}/payload", headers=ADMIN)
    assert full.content == big
    assert api.get("/dead-letters/999999/payload", headers=ADMIN).status_code == 404


@pytest.fixture
def api_server(tmp_path: Path) -> Any:
    """`hwms central api` as its own process on SQLite, its log in a file."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    stocked(url, 3)
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    log = tmp_path / "api.log"
    for base in api_process(url, log, "--tokens", str(tokens)):
        yield {"base": base, "log": log, "db": tmp_path / "ledger.db"}


def call(base: str, path: str, data: bytes | None = None, token: str = "admin-token") -> Any:
    req = urllib.request.Request(f"{base}{path}", data=data,
                                 headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def test_a_failing_request_logs_the_error_but_never_the_token(api_server: dict[str, Any]) -> None:
    import sqlite3

    with sqlite3.connect(api_server["db"]) as db:  # the database breaks under the API
        db.execute("DROP TABLE stock")
    status, _, _ = call(api_server["base"], "/stock")
    assert status == 500
    time.sleep(0.5)
    log = api_server["log"].read_text()
    assert "no such table: stock" in log  # the error is there, for the operator
    assert "admin-token" not in log


def test_a_large_import_runs_as_a_job_and_the_api_keeps_answering(
    api_server: dict[str, Any],
) -> None:
    """20 000 products: accepted at once (202); /health answers while the job runs."""
    from rules.epc import gs1_check_digit

    rows = [f"0{40_000_000 + i:012d}" for i in range(20_000)]
    csv = "gtin,name\n" + "".join(f"{g}{gs1_check_digit(g)},product {g}\n" for g in rows)
    status, headers, body = call(api_server["base"], "/master-data/products", csv.encode())
    assert status == 202, body
    job_path = headers["Location"]
    answered_while_running = 0
    latencies: list[float] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        t = time.monotonic()
        assert call(api_server["base"], "/health")[0] == 200
        latencies.append(time.monotonic() - t)
        job = json.loads(call(api_server["base"], job_path)[2])
        if job["state"] == "running":
            answered_while_running += 1
        if job["state"] in ("done", "failed"):
            break
        time.sleep(0.05)
    assert (job["state"], job["imported"], job["rows_total"]) == ("done", 20_000, 20_000)
    assert answered_while_running >= 1
    print(f"\n/health during a 20 000-row import: {len(latencies)} calls, "
          f"max {max(latencies) * 1000:.0f} ms")  # fmt: skip
