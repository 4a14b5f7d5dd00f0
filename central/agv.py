"""AGV dispatch behind one protocol: a log adapter and a VDA 5050 v2 adapter over MQTT.

A transport order moves a cart from a source location to a destination with the items it
carries. The VDA 5050 adapter sends `order` messages (pick at the source node, drop at the
destination node, one released edge between them) on
`<interface>/v2/<manufacturer>/<serialNumber>/order`, tracks the vehicle's `state` topic and
cancels with a `cancelOrder` instant action. Messages validate against the official VDA 5050
2.1.0 JSON schemas (tested).
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from paho.mqtt.client import Client, MQTTMessage
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.clock import SYSTEM_CLOCK, Clock, as_utc
from central.ledger.requisitions import system_requisition
from central.models import (
    Alert,
    Batch,
    Location,
    Movement,
    Requisition,
    RequisitionLine,
    RequisitionPick,
    Stock,
    StockLimit,
)
from central.models import TransportOrder as OrderRow
from central.vocab import OPEN_STATES, OrderState

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportOrder:
    source: str  # location code, also the VDA 5050 node id
    destination: str
    items: tuple[str, ...] = ()  # EPC URIs on the cart
    reason: str = ""


class AgvAdapter(Protocol):
    def dispatch(self, order: TransportOrder) -> str: ...

    def state(self, order_id: str) -> OrderState: ...

    def cancel(self, order_id: str) -> None: ...


@dataclass(slots=True)
class LogAgvAdapter:
    """For sites without AGVs: orders are logged (a porter does the run) and stay 'sent'."""

    orders: dict[str, TransportOrder] = field(default_factory=dict)
    states: dict[str, OrderState] = field(default_factory=dict)

    def dispatch(self, order: TransportOrder) -> str:
        order_id = f"hwms-{uuid.uuid4()}"
        self.orders[order_id] = order
        self.states[order_id] = OrderState.SENT
        log.info(
            "transport order",
            order_id=order_id,
            source=order.source,
            destination=order.destination,
            items=len(order.items),
            reason=order.reason,
        )
        return order_id

    def state(self, order_id: str) -> OrderState:
        return self.states[order_id]

    def cancel(self, order_id: str) -> None:
        self.states[order_id] = OrderState.CANCELLED


def _stamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


class Vda5050Adapter:
    VERSION = "2.1.0"

    def __init__(
        self,
        client: Client,
        *,
        interface: str = "uagv",
        manufacturer: str,
        serial_number: str,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.client = client
        self.clock = clock
        self.base = f"{interface}/v2/{manufacturer}/{serial_number}"
        self.manufacturer = manufacturer
        self.serial_number = serial_number
        self._header_ids: dict[str, int] = {}
        self._states: dict[str, OrderState] = {}
        self._lock = threading.Lock()
        client.message_callback_add(f"{self.base}/state", self._on_state)
        client.subscribe(f"{self.base}/state", qos=0)

    def _header(self, topic: str) -> dict[str, Any]:
        with self._lock:
            self._header_ids[topic] = self._header_ids.get(topic, -1) + 1
            header_id = self._header_ids[topic]
        return {
            "headerId": header_id,
            "timestamp": _stamp(self.clock.now()),
            "version": self.VERSION,
            "manufacturer": self.manufacturer,
            "serialNumber": self.serial_number,
        }

    def order_message(self, order_id: str, order: TransportOrder) -> dict[str, Any]:
        def action(kind: str) -> dict[str, Any]:
            params = [{"key": "items", "value": list(order.items)}] if order.items else []
            return {
                "actionId": f"{order_id}-{kind}",
                "actionType": kind,
                "blockingType": "HARD",
                "actionParameters": params,
            }

        return {
            **self._header("order"),
            "orderId": order_id,
            "orderUpdateId": 0,
            "nodes": [
                {
                    "nodeId": order.source,
                    "sequenceId": 0,
                    "released": True,
                    "actions": [action("pick")],
                },
                {
                    "nodeId": order.destination,
                    "sequenceId": 2,
                    "released": True,
                    "actions": [action("drop")],
                },
            ],
            "edges": [
                {
                    "edgeId": f"{order.source}->{order.destination}",
                    "sequenceId": 1,
                    "released": True,
                    "startNodeId": order.source,
                    "endNodeId": order.destination,
                    "actions": [],
                }
            ],
        }

    def dispatch(self, order: TransportOrder) -> str:
        order_id = f"hwms-{uuid.uuid4()}"
        self.client.publish(
            f"{self.base}/order", json.dumps(self.order_message(order_id, order)), qos=1
        )
        with self._lock:
            self._states[order_id] = OrderState.SENT
        return order_id

    def cancel_message(self, order_id: str) -> dict[str, Any]:
        return {
            **self._header("instantActions"),
            "actions": [
                {
                    "actionId": f"cancel-{order_id}",
                    "actionType": "cancelOrder",
                    "blockingType": "NONE",
                }
            ],
        }

    def cancel(self, order_id: str) -> None:
        self.client.publish(
            f"{self.base}/instantActions", json.dumps(self.cancel_message(order_id)), qos=1
        )
        with self._lock:
            self._states[order_id] = OrderState.CANCELLED

    def state(self, order_id: str) -> OrderState:
        with self._lock:
            return self._states.get(order_id, OrderState.UNKNOWN)

    def _on_state(self, _c: Any, _u: Any, msg: MQTTMessage) -> None:
        try:
            st = json.loads(msg.payload)
            order_id = st["orderId"]
            nodes, edges = st.get("nodeStates", []), st.get("edgeStates", [])
            failed = any(e.get("errorLevel") == "FATAL" for e in st.get("errors", []))
            actions = st.get("actionStates", [])
            dropped = any(
                a.get("actionType") == "drop" and a.get("actionStatus") == "FINISHED"
                for a in actions
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("unreadable VDA 5050 state message", topic=msg.topic)
            return
        with self._lock:
            if order_id not in self._states or self._states[order_id] == OrderState.CANCELLED:
                return
            if failed:
                self._states[order_id] = OrderState.FAILED
            elif dropped or (not nodes and not edges and not st.get("driving")):
                self._states[order_id] = OrderState.FINISHED
            else:
                self._states[order_id] = OrderState.RUNNING


def replenishment(
    alert_kind: str, location: str, gtin: str, quantity: int, supply: dict[str, str]
) -> TransportOrder | None:
    """A low-stock or stockout alert at a ward that has a supplying warehouse -> an order."""
    if alert_kind not in ("low_stock", "stockout") or location not in supply:
        return None
    return TransportOrder(
        source=supply[location],
        destination=location,
        reason=f"replenish {quantity} x {gtin} ({alert_kind})",
    )


def dispatch_replenishments(
    s: Session, adapter: AgvAdapter, supply: dict[str, str], adapter_name: str, now: datetime
) -> list[OrderRow]:
    """One system requisition and its transport order per open low-stock/stockout alert of
    a supplied location, never two: both are unique per alert. The quantity brings the
    location back to its maximum (or is the limit's reorder quantity)."""
    if not supply:
        return []
    ordered = select(OrderRow.alert_id).where(OrderRow.alert_id.is_not(None))
    candidates = s.scalars(
        select(Alert).where(
            Alert.kind.in_(("low_stock", "stockout")),
            Alert.state.in_(OPEN_STATES),
            Alert.id.not_in(ordered),
        )
    ).all()
    out = []
    for alert in candidates:
        gtin, _, loc_id = alert.key.partition("@")
        place = s.get(Location, int(loc_id))
        limit = s.get(StockLimit, (int(loc_id), gtin))
        if place is None or limit is None:
            continue
        have = s.scalar(
            select(func.coalesce(func.sum(Stock.quantity), 0))
            .join(Batch, Batch.id == Stock.batch_id)
            .where(Stock.location_id == int(loc_id), Batch.gtin == gtin)
        )
        quantity = limit.reorder_quantity or max(1, limit.max_quantity - int(have or 0))
        order = replenishment(alert.kind, place.code, gtin, quantity, supply)
        if order is None:
            continue
        source = s.scalars(select(Location).where(Location.code == order.source)).one_or_none()
        if source is None:
            source = Location(code=order.source, name=order.source.rpartition("/")[2])
            s.add(source)
            s.flush()
        req = system_requisition(
            s,
            alert_id=alert.id,
            to_location_id=place.id,
            from_location_id=source.id,
            department=place.department,
            gtin=gtin,
            quantity=quantity,
            now=now,
            transport="agv",
        )
        order = replace(order, reason=f"requisition #{req.id}: {order.reason}")
        row = _dispatch(s, adapter, adapter_name, order, gtin, quantity, now, alert.id, req.id)
        out.append(row)
    return out


def _dispatch(
    s: Session,
    adapter: AgvAdapter,
    adapter_name: str,
    order: TransportOrder,
    gtin: str,
    quantity: int,
    now: datetime,
    alert_id: int | None,
    requisition_id: int,
) -> OrderRow:
    order_id = adapter.dispatch(order)
    row = OrderRow(
        id=order_id,
        alert_id=alert_id,
        source=order.source,
        destination=order.destination,
        gtin=gtin,
        quantity=quantity,
        adapter=adapter_name,
        state=OrderState.SENT,
        created_at=now,
        requisition_id=requisition_id,
    )
    s.add(row)
    log.info(
        "transport ordered",
        order_id=order_id,
        source=order.source,
        destination=order.destination,
        gtin=gtin,
        quantity=quantity,
        reason=order.reason,
    )
    return row


def dispatch_requisitions(
    s: Session, adapter: AgvAdapter, adapter_name: str, now: datetime
) -> list[OrderRow]:
    """An AGV for each approved or issued requisition that asked for one and has none yet,
    from its store to its destination with the items issued so far."""
    ordered = select(OrderRow.requisition_id).where(OrderRow.requisition_id.is_not(None))
    out = []
    for req in s.scalars(
        select(Requisition).where(
            Requisition.transport == "agv",
            Requisition.status.in_(("approved", "issued")),
            Requisition.from_location_id.is_not(None),
            Requisition.id.not_in(ordered),
        )
    ):
        codes = dict(
            s.execute(
                select(Location.id, Location.code).where(
                    Location.id.in_([req.to_location_id, req.from_location_id])
                )
            ).all()
        )
        lines = s.execute(
            select(RequisitionLine.gtin, RequisitionLine.quantity)
            .where(RequisitionLine.requisition_id == req.id)
            .order_by(RequisitionLine.id)
        ).all()
        epcs = tuple(
            s.scalars(
                select(RequisitionPick.epc).where(
                    RequisitionPick.requisition_id == req.id, RequisitionPick.epc.is_not(None)
                )
            )
        )
        if not lines or req.from_location_id not in codes:
            continue
        order = TransportOrder(
            source=codes[req.from_location_id],
            destination=codes[req.to_location_id],
            items=tuple(e for e in epcs if e),
            reason=f"requisition #{req.id}",
        )
        quantity = sum(q for _g, q in lines)
        out.append(
            _dispatch(s, adapter, adapter_name, order, lines[0][0], quantity, now, None, req.id)
        )
    return out


def confirm_deliveries(s: Session) -> int:
    """Transport orders whose product a portal or read point has since seen arriving at
    the destination are delivered (run on the ledger's schedule, not per event)."""
    done = 0
    moving = (OrderState.SENT, OrderState.RUNNING)
    for order in s.scalars(select(OrderRow).where(OrderRow.state.in_(moving))):
        site, _, zone = order.destination.rpartition("/")
        arrived = s.scalar(
            select(func.min(Movement.occurred_at))
            .join(Batch, Batch.id == Movement.batch_id)
            .join(Location, Location.id == Movement.to_location_id)
            .where(
                Movement.kind == "batch_movement",
                Location.code == order.destination,
                Batch.gtin == order.gtin,
                Movement.recorded_at >= order.created_at,
            )
        )
        if arrived is not None:
            order.state, order.delivered_at = OrderState.DELIVERED, as_utc(arrived)
            done += 1
            log.info("transport order delivered", order_id=order.id, site=site, zone=zone)
    return done
