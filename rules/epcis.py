"""GS1 EPCIS 2.0 JSON-LD for hwms events (batch and cabinet movements, cold-chain alarms).

Mapping (design choice, see README): portal and zone movements are `OBSERVE` ObjectEvents
with the zone rule's CBV bizStep; cabinet takes are `dispensing`/`dispensed`, returns
`storing`/`returned`; cold-chain transitions are sensor-only ObjectEvents with
`sensor_reporting`. `ilmd` is never emitted: it belongs only to `ADD` (commissioning).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime
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


# --- the ledger's movements as EPCIS events (the query interface) --------------------------
# CBV 2.0 business steps: a movement's own step when it is one, else its kind's
CBV_BIZ_STEPS: Final = frozenset({
    "accepting", "arriving", "assembling", "collecting", "commissioning", "consigning",
    "creating_class_instance", "cycle_counting", "decommissioning", "departing", "destroying",
    "disassembling", "dispensing", "encoding", "entering_exiting", "holding", "inspecting",
    "installing", "killing", "loading", "other", "packing", "picking", "receiving", "removing",
    "repackaging", "repairing", "replacing", "reserving", "retail_selling", "sampling",
    "sensor_reporting", "shipping", "staging_outbound", "stock_taking", "stocking", "storing",
    "transporting", "unloading", "unpacking", "void_shipping",
})  # fmt: skip
KIND_STEPS: Final = {  # a movement without a step of its own, by its kind
    "receiving": ("receiving", "in_progress"),
    "scrap": ("destroying", "destroyed"),
    "loss": ("urn:hwms:bizstep:loss", "unknown"),
    "return": ("urn:hwms:bizstep:returning", "returned"),
    "adjustment": ("urn:hwms:bizstep:adjusting", None),
    "stocktake": ("cycle_counting", None),
    "recall_lock": ("holding", "recalled"),
    "recall_unlock": ("inspecting", "sellable_accessible"),
    "cabinet_take": ("dispensing", "dispensed"),
    "cabinet_return": ("urn:hwms:bizstep:returning", "returned"),
}
DIGITAL_LINK: Final = "https://id.gs1.org"


@dataclass(frozen=True)
class LedgerMove:
    """What the ledger journaled of one stock change, as the EPCIS query answers it."""

    id: int
    kind: str
    biz_step: str
    gtin: str
    lot: str
    quantity: int
    epcs: tuple[str, ...]
    from_code: str | None  # location codes "site/zone[/...]"
    to_code: str | None
    occurred_at: datetime
    actor: str
    case_id: str


def location_uri(code: str) -> str:
    """A ledger location as EPCIS names it: `urn:hwms:<site>:zone:<zone>` (as the edge's
    EPCIS files name zones)."""
    site, _, zone = code.partition("/")
    return str(_location(site, "zone", zone)["id"])


def location_code(uri: str) -> str | None:
    """The location code of `location_uri`'s URI, or None when it is not one."""
    from urllib.parse import unquote

    prefix = "urn:hwms:"
    if not uri.startswith(prefix) or ":zone:" not in uri:
        return None
    site, _, zone = uri[len(prefix) :].partition(":zone:")
    return f"{unquote(site)}/{unquote(zone)}" if site and zone else None


def class_uri(gtin: str, lot: str) -> str:
    """A batch as an EPC class: its GS1 Digital Link (`/01/<gtin>/10/<lot>`)."""
    return f"{DIGITAL_LINK}/01/{gtin}" + (f"/10/{escape_uri_component(lot)}" if lot else "")


def step_of(kind: str, biz_step: str) -> tuple[str, str | None]:
    """(CBV bizStep, disposition) of a movement."""
    if biz_step in BIZ_STEPS:
        return BIZ_STEPS[biz_step], _DISPOSITIONS.get(biz_step)
    if biz_step in CBV_BIZ_STEPS:
        return biz_step, None
    if kind in KIND_STEPS:
        return KIND_STEPS[kind]
    return f"urn:hwms:bizstep:{biz_step or kind}", None


def movement_event(m: LedgerMove) -> dict[str, Any]:
    """The ObjectEvent (OBSERVE) of a journaled movement: its tagged items by EPC, the rest
    of the quantity by batch class; where from and to as source and destination; the
    location it ended at (or left) as read point and business location."""
    step, disposition = step_of(m.kind, m.biz_step)
    at = m.occurred_at.astimezone(UTC)
    out: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "eventTimeZoneOffset": "+00:00",
        "action": "OBSERVE",
        "bizStep": step,
        "epcList": list(m.epcs),
    }
    untagged = m.quantity - len(m.epcs)
    if untagged > 0 and m.gtin:
        out["quantityList"] = [{"epcClass": class_uri(m.gtin, m.lot), "quantity": untagged,
                                "uom": "EA"}]  # fmt: skip
    elif not m.epcs and m.gtin:  # a lock or a count of nothing: the batch it concerns
        out["quantityList"] = [{"epcClass": class_uri(m.gtin, m.lot), "quantity": 0}]
    if disposition:
        out["disposition"] = disposition
    place = m.to_code or m.from_code
    if place:
        out["readPoint"] = {"id": location_uri(place)}
    if m.to_code:
        out["bizLocation"] = {"id": location_uri(m.to_code)}
    if m.from_code:
        out["sourceList"] = [{"type": "location", "source": location_uri(m.from_code)}]
    if m.to_code:
        out["destinationList"] = [{"type": "location", "destination": location_uri(m.to_code)}]
    out["hwms:movement"] = m.id
    if m.actor:
        out["hwms:actor"] = m.actor
    if m.case_id:
        out["hwms:case"] = m.case_id
    return out


def with_event_ids(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each event with its CBV 2.0 event hash as `eventID` (computed by the reference
    implementation, epcis-event-hash-generator, from the event as a document holds it)."""
    if not events:
        return events
    from epcis_event_hash_generator import hash_generator, json_to_py

    document = {"@context": [EPCIS_CONTEXT, {"hwms": HWMS_PREFIX}], "type": "EPCISDocument",
                "schemaVersion": "2.0", "creationDate": "2000-01-01T00:00:00Z",
                "epcisBody": {"eventList": copy.deepcopy(events)}}  # fmt: skip
    hashes = hash_generator.epcis_hashes_from_events(
        json_to_py.event_list_from_epcis_document_json(document)
    )
    return [{"eventID": h, **e} for h, e in zip(hashes, events, strict=True)]


def query_document(events: list[dict[str, Any]], created: datetime) -> dict[str, Any]:
    """An EPCIS 2.0 EPCISQueryDocument answering a SimpleEventQuery with `events`."""
    return {
        "@context": [EPCIS_CONTEXT, {"hwms": HWMS_PREFIX}],
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": created.astimezone(UTC).isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "epcisBody": {"queryResults": {"queryName": "SimpleEventQuery",
                                       "resultsBody": {"eventList": events}}},
    }  # fmt: skip
