"""AGV adapters: VDA 5050 messages validate against the official schemas; order state over MQTT."""

from __future__ import annotations

import json
import time
from functools import cache
from typing import Any

import pytest

from central.agv import LogAgvAdapter, TransportOrder, Vda5050Adapter, replenishment
from tests.conftest import Mosquitto, shared_path
from tests.support import client

ORDER = TransportOrder(source="s1/central_store", destination="s1/ward-7", items=("urn:epc:id:sgtin:4012345.000001.1",),
                       reason="replenish")  # fmt: skip


@cache
def validator(name: str) -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(shared_path("vda5050", "v2.1.0", f"{name}.schema").read_text())
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_messages_validate_against_vda5050_schemas(mosquitto: Mosquitto) -> None:
    c = client(mosquitto.port, "fleet")
    try:
        agv = Vda5050Adapter(c, manufacturer="acme", serial_number="cart-01")
        order = agv.order_message("o-1", ORDER)
        errors = [e.message for e in validator("order").iter_errors(order)]
        assert not errors, errors
        assert [n["sequenceId"] for n in order["nodes"]] == [0, 2] and order["edges"][0][
            "sequenceId"
        ] == 1
        cancel = agv.cancel_message("o-1")
        assert not list(validator("instantActions").iter_errors(cancel))
        assert agv.order_message("o-2", ORDER)["headerId"] == order["headerId"] + 1  # per topic
        bad = dict(order)
        del bad["orderUpdateId"]
        assert list(validator("order").iter_errors(bad))  # the validator is not a pushover
    finally:
        c.loop_stop()


def test_dispatch_and_follow_the_vehicle_state(mosquitto: Mosquitto) -> None:
    fleet = client(mosquitto.port, "fleet")
    vehicle = client(mosquitto.port, "cart-01")
    received: list[dict[str, Any]] = []
    vehicle.on_message = lambda _c, _u, m: received.append(json.loads(m.payload))
    vehicle.subscribe("uagv/v2/acme/cart-01/order", qos=1)
    time.sleep(0.3)
    try:
        agv = Vda5050Adapter(fleet, manufacturer="acme", serial_number="cart-01")
        time.sleep(0.3)
        order_id = agv.dispatch(ORDER)
        end = time.monotonic() + 10
        while not received and time.monotonic() < end:
            time.sleep(0.05)
        assert received[0]["orderId"] == order_id and agv.state(order_id) == "sent"

        def state(**kw: Any) -> None:
            msg = {"headerId": 1, "timestamp": "2026-11-24T08:00:00.00Z", "version": "2.1.0", "manufacturer": "acme",
                   "serialNumber": "cart-01", "orderId": order_id, "orderUpdateId": 0, "lastNodeId": "s1/central_store",
                   "lastNodeSequenceId": 0, "driving": True, "operatingMode": "AUTOMATIC",
                   "nodeStates": [{"nodeId": "s1/ward-7", "sequenceId": 2, "released": True}],
                   "edgeStates": [], "actionStates": [], "errors": [],
                   "batteryState": {"batteryCharge": 80, "charging": False},
                   "safetyState": {"eStop": "NONE", "fieldViolation": False}, **kw}  # fmt: skip
            assert not list(validator("state").iter_errors(msg))
            vehicle.publish("uagv/v2/acme/cart-01/state", json.dumps(msg), qos=1).wait_for_publish(
                5
            )

        state()
        end = time.monotonic() + 5
        while agv.state(order_id) != "running" and time.monotonic() < end:
            time.sleep(0.05)
        assert agv.state(order_id) == "running"
        state(nodeStates=[], driving=False, actionStates=[{"actionId": f"{order_id}-drop", "actionType": "drop",
                                                            "actionStatus": "FINISHED"}])  # fmt: skip
        end = time.monotonic() + 5
        while agv.state(order_id) != "finished" and time.monotonic() < end:
            time.sleep(0.05)
        assert agv.state(order_id) == "finished"
    finally:
        fleet.loop_stop()
        vehicle.loop_stop()


def test_replenishment_rule_and_log_adapter() -> None:
    supply = {"s1/ward-7": "s1/central_store"}
    order = replenishment("low_stock", "s1/ward-7", "04012345000016", 16, supply)
    assert order is not None and (order.source, order.destination) == (
        "s1/central_store",
        "s1/ward-7",
    )
    assert replenishment("overstock", "s1/ward-7", "x", 1, supply) is None
    assert replenishment("low_stock", "s1/ward-9", "x", 1, supply) is None
    log = LogAgvAdapter()
    oid = log.dispatch(order)
    assert log.state(oid) == "sent"
    log.cancel(oid)
    assert log.state(oid) == "cancelled"
