"""Signatures on critical actions through the API (on SQLite and PostgreSQL): a cold-chain
excursion's acknowledgement and the approval of scrap are refused unsigned, and a signed
one is recorded with who, what and why, in the audit chain."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, text

from central import accounts, db
from central.api import create_app
from central.config import BookingApprovalConfig, RequisitionConfig
from central.ledger import Ledger
from central.models import Signature
from rules.events import AlarmState, ColdChainTransition, stamp
from tests.central.conftest import SIGNING_PASSWORD, disposed
from tests.central.test_coldchain import MIN_US, T0
from tests.central.test_ledger import epcs
from tests.central.test_operations import stocked
from tests.conftest import TEST_NOW, fixed_clock


def users(lg: Ledger, *people: tuple[str, str]) -> dict[str, dict[str, str]]:
    headers = {}
    with lg.session.begin() as s:
        for user, role in people:
            accounts.add_user(s, user, role=role, password=SIGNING_PASSWORD)
            headers[user] = {"Authorization": f"Bearer {accounts.add_token(s, user, TEST_NOW)}"}
    return headers


def signatures(lg: Ledger) -> list[tuple[str, str, str, str]]:
    with lg.session() as s:
        return [(g.user, g.action, g.subject, g.reason)
                for g in s.scalars(select(Signature).order_by(Signature.id))]  # fmt: skip


def test_an_excursion_is_acknowledged_signed(db_url: str) -> None:
    lg: Ledger = disposed(stocked(db_url, 1))
    alarm = ColdChainTransition(
        occurred_at_us=T0, sensor="fridge-1", unit="fridge-1",
        condition="high_alarm", from_state=AlarmState.PENDING, to_state=AlarmState.ACTIVE,
        value_c=9.1, threshold_c=8.0, excursion_started_us=T0 - 10 * MIN_US,
    )  # fmt: skip
    lg.apply(stamp(alarm, site="s1", gateway="gw1", seq=1))
    h = users(lg, ("nina", "nurse"))
    api = TestClient(create_app(lg, {}))
    (alert,) = [a for a in api.get("/alerts", headers=h["nina"]).json() if a["kind"] == "coldchain"]
    ack = f"/alerts/{alert['id']}/ack"
    unsigned = api.post(ack, json={"comment": "door shut"}, headers=h["nina"])
    assert unsigned.status_code == 403 and "signature" in unsigned.json()["detail"]
    wrong = api.post(ack, json={"comment": "door shut", "password": "x"}, headers=h["nina"])
    assert wrong.status_code == 403 and "password" in wrong.json()["detail"]
    no_reason = api.post(ack, json={"password": SIGNING_PASSWORD}, headers=h["nina"])
    assert no_reason.status_code == 422
    done = api.post(ack, json={"comment": "door shut, stock moved to fridge 2",
                               "password": SIGNING_PASSWORD}, headers=h["nina"])  # fmt: skip
    assert done.status_code == 200 and done.json()["state"] == "acknowledged"
    (sig,) = signatures(lg)
    assert sig[:2] == ("nina", "excursion_ack") and sig[3] == "door shut, stock moved to fridge 2"
    with lg.engine.connect() as c:  # recorded in the chain like the acknowledgement's rows
        chained = c.execute(text("select content from audit_record where table_name ="
                                 " 'signature'")).scalars().all()  # fmt: skip
    assert len(chained) == 1 and "excursion_ack" in chained[0]


def scrap_waiting(db_url: str, signed_from: Decimal) -> tuple[Ledger, TestClient, Any, str]:
    """A scrap asked for by sam, waiting for hana's (a head's) approval, which is signed
    from `signed_from`: the ledger, the API, the users' headers, the approval's path."""
    rules = RequisitionConfig(
        bookings=(BookingApprovalConfig(kinds=("scrap",), role="head"),),
        signed_bookings_min_value=signed_from,
    )
    stocked(db_url, 3).engine.dispose()
    lg: Ledger = disposed(Ledger(db.engine(db_url), fixed_clock(), requisitions=rules))
    h = users(lg, ("sam", "storekeeper"), ("hana", "head"))
    api = TestClient(create_app(lg, {}))
    body = {"kind": "scrap", "location": "s1/store", "reason": "vial cracked",
            "epcs": [epcs(1)[0]]}  # fmt: skip
    pending = api.post("/bookings", json=body, headers=h["sam"]).json()["pending"]
    return lg, api, h, f"/bookings/{pending}/approve"


def test_approving_scrap_is_signed_from_the_configured_value(db_url: str) -> None:
    lg, api, h, approve = scrap_waiting(db_url, Decimal("0"))
    refused = api.post(approve, json={"comment": "seen"}, headers=h["hana"])
    assert refused.status_code == 403 and "signature" in refused.json()["detail"]
    ok = api.post(approve, json={"comment": "seen the vial", "password": SIGNING_PASSWORD},
                  headers=h["hana"])  # fmt: skip
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    booking = approve.split("/")[2]
    assert signatures(lg) == [("hana", "scrap_approval", f"booking {booking}", "seen the vial")]


def test_below_the_configured_value_an_approval_is_not_signed(db_url: str) -> None:
    lg, api, h, approve = scrap_waiting(db_url, Decimal("1000"))
    ok = api.post(approve, json={"comment": "cheap"}, headers=h["hana"])
    assert ok.status_code == 200 and signatures(lg) == []  # worth less than 1000
