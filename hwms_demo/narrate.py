"""What happens, readable: the broker's traffic and the transport orders as sentences on
the day's clock."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any, TextIO

from hwms_common.config import MqttConnection
from hwms_common.mqtt import connect, mqtt_client
from hwms_demo.day import Day
from rules import topics


class LiveLog:
    """Prints the broker's traffic as sentences, with the day's clock."""

    def __init__(self, day: Day, out: TextIO, t0: float) -> None:
        self.day = day
        self.out = out
        self.t0 = t0
        self.lock = threading.Lock()
        self.alerts_seen: set[tuple[int, str, str]] = set()
        self.gateways: dict[str, Any] = {}

    def say(self, text: str) -> None:
        with self.lock:
            clock = max(0.0, time.time() - self.t0)
            self.out.write(f"[{clock:6.1f}s] {text}\n")
            self.out.flush()

    def name(self, gtin: str | None) -> str:
        return self.day.names.get(gtin or "", gtin or "unknown product")

    def on_message(self, topic: str, payload: bytes) -> None:
        try:
            data = json.loads(payload)
        except ValueError:
            return
        if topic.startswith(topics.ALERTS_PREFIX + "/"):
            tier = f" (escalated to {data['notify']})" if data.get("notify") else ""
            key = (data["id"], data["state"], data["severity"])
            again = " (reminder)" if key in self.alerts_seen else ""
            self.alerts_seen.add(key)
            self.say(f"ALERT {data['state']}{again} [{data['severity']}] {data['message']}{tier}")
            return
        if topic.endswith("/commissioning"):
            self.say(f"commissioning map v{data['version']}: {len(data['records'])} tags")
            return
        where = topics.parse_gateway_topic(topic)
        if where is not None and where.leaf == "status" and not where.rest:
            if self.gateways.get(where.gateway) != data.get("state"):
                self.gateways[where.gateway] = data.get("state")
                self.say(f"gateway {where.gateway} is {data.get('state')}")
            return
        if where is None or where.kind is None:
            return
        b = data.get("body", {})
        kind = where.kind
        if kind == "batch_movement":
            batch = b["batch"]
            self.say(
                f"{b['read_point']}: {b['direction']} {b['quantity']} x {self.name(batch['gtin'])}"
                f" lot {batch['lot'] or '(not yet known)'} ({b['from_zone']} -> {b['to_zone']},"
                f" {b['biz_step']})"
            )
        elif kind == "cabinet_movement":
            batch = b["batch"]
            self.say(
                f"cabinet {b['cabinet']}: {b['user_id'] or 'someone'} {b['action']}s"
                f" {b['quantity']} x {self.name(batch['gtin'])} lot {batch['lot']}"
                f" (case {b['case_id'] or '-'})"
            )
        elif kind == "coldchain_transition":
            value = "" if b["value_c"] is None else f" at {b['value_c']:.1f} °C"
            self.say(f"{b['unit']}: {b['condition']} {b['from_state']} -> {b['to_state']}{value}")
        elif kind in ("sensor_status", "reader_status", "cabinet_alert"):
            what = b.get("sensor") or b.get("reader") or b.get("cabinet")
            state = b.get("status") or b.get("state") or b.get("reason")
            self.say(f"{kind.replace('_', ' ')}: {what} {state} {b.get('reason', '')}".rstrip())


# --- the outcome -------------------------------------------------------------------------


def watch(port: int, v5: bool, live: LiveLog, timeout_s: float = 20.0) -> Any:
    """An MQTT client that prints the broker's traffic, returned once its subscription
    is confirmed: the first cart must not pass unseen. It subscribes again on every
    connect, and a short keepalive lets it notice a lost CONNACK (seen with amqtt)."""
    conn = MqttConnection(port=port, protocol="v5" if v5 else "v311",
                          username="hwms-demo-watcher", keepalive_s=5)  # fmt: skip
    subscribed = threading.Event()
    watcher = mqtt_client(conn)
    watcher.on_connect = lambda c, _u, _f, rc, _p: (
        None if rc.is_failure else c.subscribe([(f"{topics.PREFIX}/#", 1)])
    )
    watcher.on_subscribe = lambda _c, _u, _m, _rc, _p: subscribed.set()
    watcher.on_message = lambda _c, _u, m: live.on_message(m.topic, bytes(m.payload))
    connect(watcher, conn)
    watcher.loop_start()
    if not subscribed.wait(timeout_s):
        watcher.loop_stop()
        raise RuntimeError(f"could not subscribe to the broker on port {port} in {timeout_s:g} s")
    return watcher


def report_orders(lg: Any, seen: dict[str, str], live: LiveLog, day: Day) -> None:
    """Print transport orders that are new or changed state (the ledger's log adapter has
    no AGV to report to; the database is where the orders are), requisitions received and
    purchase orders that the receiving gate booked."""
    from sqlalchemy import select
    from sqlalchemy.exc import OperationalError

    from central.models import (
        PurchaseOrder,
        PurchaseOrderStep,
        Requisition,
        RequisitionStep,
        TransportOrder,
    )

    with contextlib.suppress(OperationalError), lg.session() as s:  # SQLite busy: next time
        for r, step in s.execute(
            select(Requisition, RequisitionStep)
            .join(RequisitionStep, RequisitionStep.requisition_id == Requisition.id)
            .where(Requisition.status == "received", RequisitionStep.action == "receive")
        ):
            if seen.get(f"requisition-{r.id}") != r.status:
                seen[f"requisition-{r.id}"] = r.status
                live.say(f"requisition #{r.id} received: read at its destination by {step.actor}")
        for po, po_step in s.execute(
            select(PurchaseOrder, PurchaseOrderStep)
            .join(PurchaseOrderStep, PurchaseOrderStep.order_id == PurchaseOrder.id)
            .where(
                PurchaseOrderStep.action == "receive", PurchaseOrderStep.actor.startswith("gate:")
            )
        ):
            if seen.get(f"po-{po.id}") != po.status:
                seen[f"po-{po.id}"] = po.status
                live.say(
                    f"PO-{po.id:06d} {po.status.replace('_', ' ')}: the {po_step.actor}"
                    f" reads matched the ship notice ({po_step.comment})"
                )
        for o in s.scalars(select(TransportOrder)):
            if seen.get(o.id) != o.state:
                seen[o.id] = o.state
                live.say(
                    f"AGV order {o.state}: {o.quantity} x {day.names.get(o.gtin, o.gtin)}"
                    f" {o.source.split('/')[-1]} -> {o.destination.split('/')[-1]}"
                )
