"""FHIR resources pushed to a subscribed system (a local receiver) on both databases: a
received requisition's SupplyDelivery PUT once, retried with a growing wait when the system
fails, given up into the dead letters after the configured attempts, and retried from there."""

from __future__ import annotations

from datetime import timedelta

from fhir.resources.supplydelivery import SupplyDelivery

from central import fhir_push
from central.accounts import Principal
from central.config import FhirConfig, FhirSubscription
from central.ledger import Ledger, LineIn
from central.vocab import Role
from tests.central.test_fhir import api
from tests.support import http_receiver

ADMIN = Principal("ada", Role.ADMIN)


def received_requisition(ledger: Ledger) -> int:
    from tests.central.test_operations import GTIN

    req = ledger.new_requisition(ADMIN, to_location="s1/ward-5", lines=[LineIn(GTIN, 1)])
    ledger.approve_requisition(Principal("hugo", Role.ADMIN), req["id"])
    ledger.issue_requisition(ADMIN, req["id"], None, from_location="s1/store")
    ledger.receive_requisition(ADMIN, req["id"])
    return int(req["id"])


def test_a_delivery_is_pushed_once_and_retried_until_given_up(db_url: str) -> None:
    client, system, admin = api(db_url)
    ledger: Ledger = client.app.state.ledger  # type: ignore[attr-defined]
    rid = received_requisition(ledger)
    now = ledger.clock.now()
    with http_receiver() as his:
        cfg = FhirConfig(
            subscriptions=(FhirSubscription(url=his.url + "/fhir", resources=("SupplyDelivery",)),),
            max_attempts=2,
            retry_s=30,
        )
        assert fhir_push.enqueue(ledger, cfg, now) == 1
        assert fhir_push.enqueue(ledger, cfg, now) == 0  # queued once
        assert fhir_push.deliver(ledger, cfg, now) == 1
        ((path, body),) = his.posts
        assert path == f"/fhir/SupplyDelivery/requisition-{rid}"
        assert SupplyDelivery.model_validate(body).status == "completed"
        assert fhir_push.deliver(ledger, cfg, now) == 0  # nothing due any more
        other = FhirConfig(
            subscriptions=(FhirSubscription(url=his.url + "/other"),), max_attempts=2, retry_s=30
        )
        his.status = 503
        assert fhir_push.enqueue(ledger, other, now) == 1
        assert fhir_push.deliver(ledger, other, now) == 0
        (waiting,) = fhir_push.pushes(ledger, "waiting")
        assert waiting["attempts"] == 1 and "HTTP 503" in waiting["last_error"]
        assert fhir_push.deliver(ledger, other, now + timedelta(seconds=29)) == 0  # not yet due
        assert len(his.posts) == 2
        assert fhir_push.deliver(ledger, other, now + timedelta(seconds=31)) == 0
        assert fhir_push.pushes(ledger, "waiting") == []
        (dead,) = client.get("/fhir-push?state=dead", headers=admin).json()
        assert dead["resource"] == f"SupplyDelivery/requisition-{rid}" and dead["attempts"] == 2
        assert client.get("/fhir-push", headers=system).status_code == 403
        assert client.post(f"/fhir-push/{dead['id']}/retry", headers=admin).status_code == 204
        assert client.post(f"/fhir-push/{dead['id']}/retry", headers=admin).status_code == 409
        his.status = 200
        assert fhir_push.deliver(ledger, other, now + timedelta(seconds=40)) == 1
        assert len(fhir_push.pushes(ledger, "delivered")) == 2


def test_nothing_is_queued_without_subscribers(db_url: str) -> None:
    client, _his, _admin = api(db_url)
    ledger: Ledger = client.app.state.ledger  # type: ignore[attr-defined]
    received_requisition(ledger)
    assert fhir_push.enqueue(ledger, FhirConfig(), ledger.clock.now()) == 0
