"""GS1 EPCIS 2.0 JSON-LD for hwms events (batch and cabinet movements, cold-chain alarms).

Mapping (design choice, see README): portal and zone movements are `OBSERVE` ObjectEvents
with the zone rule's CBV bizStep; cabinet takes are `dispensing`/`dispensed`, returns
`storing`/`returned`; cold-chain transitions are sensor-only ObjectEvents with
`sensor_reporting`. `ilmd` is never emitted: it belongs only to `ADD` (commissioning).
"""

from __future__ import annotations

from typing import Any, Final

from rules.epc import escape_uri_component
from rules.events import (
    AlarmState,
    Batch,
    BatchMovement,
    CabinetMovement,
    ColdChainTransition,
    Event,
    us_to_iso,
)

EPCIS_CONTEXT: Final = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
HWMS_PREFIX: Final = "urn:hwms:epcis:"

# Our business steps -> CBV 2.0 bare words (or a private URI where CBV has none).
BIZ_STEPS: Final = {
    "receiving": "receiving",
    "storing": "storing",
    "picking": "picking",
    "departing": "departing",
    "shipping": "shipping",
    "arriving": "arriving",
    "dispensing": "dispensing",
    "returning": "urn:hwms:bizstep:returning",
    "stock_taking": "stock_taking",
}
_DISPOSITIONS: Final = {
    "receiving": "in_progress",
    "storing": "sellable_accessible",
    "picking": "in_progress",
    "departing": "in_transit",
    "shipping": "in_transit",
    "arriving": "in_progress",
    "dispensing": "dispensed",
    "returning": "returned",
}


def _location(site: str, kind: str, name: str) -> dict[str, str]:
    return {"id": f"urn:hwms:{escape_uri_component(site)}:{kind}:{escape_uri_component(name)}"}


def _quantity(batch: Batch, quantity: int) -> list[dict[str, Any]]:
    if batch.gtin is None:
        return []
    if batch.lot is not None and batch.company_prefix_length is not None:
        n = batch.company_prefix_length
        g = batch.gtin
        lot = escape_uri_component(batch.lot)
        cls = f"urn:epc:class:lgtin:{g[1 : 1 + n]}.{g[0]}{g[1 + n : 13]}.{lot}"
    elif batch.lot is not None:
        cls = f"https://id.gs1.org/01/{batch.gtin}/10/{escape_uri_component(batch.lot)}"
    else:
        cls = f"https://id.gs1.org/01/{batch.gtin}"
    return [{"epcClass": cls, "quantity": quantity, "uom": "EA"}]


def _common(event: Event, tz_offset: str) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": us_to_iso(event.occurred_at_us),
        "eventTimeZoneOffset": tz_offset,
        "eventID": f"urn:uuid:{event.event_id}",
        "action": "OBSERVE",
    }


def to_epcis_event(event: Event, tz_offset: str = "+00:00") -> dict[str, Any] | None:
    """The EPCIS ObjectEvent for `event`, or None for kinds EPCIS has no place for."""
    out = _common(event, tz_offset)
    if isinstance(event, BatchMovement):
        out["epcList"] = list(event.epcs)
        qty = _quantity(event.batch, event.quantity)
        if qty:
            out["quantityList"] = qty
        if event.biz_step:
            out["bizStep"] = BIZ_STEPS.get(event.biz_step, f"urn:hwms:bizstep:{event.biz_step}")
            if event.biz_step in _DISPOSITIONS:
                out["disposition"] = _DISPOSITIONS[event.biz_step]
        out["readPoint"] = _location(event.site, "readpoint", event.read_point)
        if event.to_zone:
            out["bizLocation"] = _location(event.site, "zone", event.to_zone)
        out["hwms:direction"] = event.direction.value
        out["hwms:confidence"] = event.confidence
        return out
    if isinstance(event, CabinetMovement):
        out["epcList"] = list(event.epcs)
        qty = _quantity(event.batch, event.quantity)
        if qty:
            out["quantityList"] = qty
        step = "dispensing" if event.action == "take" else "returning"
        out["bizStep"] = BIZ_STEPS[step]
        out["disposition"] = _DISPOSITIONS[step]
        out["readPoint"] = _location(event.site, "cabinet", event.cabinet)
        out["bizLocation"] = _location(event.site, "zone", event.zone)
        if event.user_id:
            out["hwms:user"] = event.user_id
        if event.case_id:
            out["hwms:case"] = event.case_id
        return out
    if isinstance(event, ColdChainTransition):
        report: dict[str, Any] = {"type": "Temperature", "uom": "CEL"}
        if event.value_c is not None:
            report["value"] = event.value_c
        if event.to_state in (AlarmState.PENDING, AlarmState.ACTIVE):
            report["exception"] = "ALARM_CONDITION"
        out["bizStep"] = "sensor_reporting"
        out["readPoint"] = _location(event.site, "unit", event.unit)
        out["sensorElementList"] = [
            {
                "sensorMetadata": {
                    "time": us_to_iso(event.occurred_at_us),
                    "deviceID": f"urn:hwms:{escape_uri_component(event.site)}:sensor:"
                    f"{escape_uri_component(event.sensor)}",
                },
                "sensorReport": [report],
            }
        ]
        out["hwms:condition"] = event.condition
        out["hwms:state"] = event.to_state.value
        return out
    return None


def epcis_document(
    events: list[Event], created_us: int, tz_offset: str = "+00:00"
) -> dict[str, Any]:
    body = [e for e in (to_epcis_event(ev, tz_offset) for ev in events) if e is not None]
    return {
        "@context": [EPCIS_CONTEXT, {"hwms": HWMS_PREFIX}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": us_to_iso(created_us),
        "epcisBody": {"eventList": body},
    }
