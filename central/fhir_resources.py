"""FHIR R5 resources from the ledger's records, each validated with fhir.resources: a
batch as an InventoryItem, a requisition as a SupplyRequest and its SupplyDelivery, an
implant taken for a case as a DeviceDispense (the API serves them, `fhir_push` sends them)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from sqlalchemy import select

from central.ledger.base import iso
from central.models import Batch, Product, Tag, TagHistory

GTIN_SYSTEM = "https://www.gs1.org/gtin"
LOCATION_SYSTEM = "urn:hwms:location"
USED = ("cabinet_take", "dispense")  # an item taken for a case or dispensed to it


def valid(kind: str, resource: dict[str, Any]) -> dict[str, Any]:
    """The resource as fhir.resources dumps it once it validated (ValueError if not)."""
    from fhir.resources import get_fhir_model_class

    model = get_fhir_model_class(kind)
    dumped: dict[str, Any] = model.model_validate(resource).model_dump(
        mode="json", exclude_none=True
    )
    return dumped


def inventory_item(batch: Batch, name: str) -> dict[str, Any]:
    """One batch as an InventoryItem: the product's GTIN and name, its lot and expiry (a
    non-GS1 tag's batch has no GTIN: no code)."""
    label = name or batch.gtin or "non-GS1 item"
    instance: dict[str, Any] = {"lotNumber": batch.lot} if batch.lot else {}
    if batch.expiry is not None:
        instance["expiry"] = batch.expiry.isoformat()
    item: dict[str, Any] = {
        "resourceType": "InventoryItem",
        "id": str(batch.id),
        "status": "active",
        "name": [
            {
                "nameType": {
                    "system": "http://hl7.org/fhir/inventoryitem-nametype",
                    "code": "trade-name",
                },
                "language": "en",
                "name": label,
            }
        ],
    }
    if batch.gtin:
        item["code"] = [{"coding": [{"system": GTIN_SYSTEM, "code": batch.gtin}], "text": label}]
    if instance:
        item["instance"] = instance
    return item


PRIORITIES = {"routine": "routine", "urgent": "urgent", "asap": "urgent", "stat": "emergency"}
_FHIR_PRIORITY = {"routine": "routine", "urgent": "urgent", "emergency": "stat"}
_FHIR_STATUS = {
    "submitted": "active",
    "approved": "active",
    "issued": "active",
    "received": "completed",
    "rejected": "cancelled",
    "cancelled": "cancelled",
}


def supply_request(req: dict[str, Any]) -> dict[str, Any]:
    """A requisition as a SupplyRequest (its first line: one made over FHIR has one)."""
    line = req["lines"][0]
    out: dict[str, Any] = {
        "resourceType": "SupplyRequest",
        "id": str(req["id"]),
        "identifier": [{"system": "urn:hwms:requisition", "value": str(req["id"])}],
        "status": _FHIR_STATUS.get(req["status"], "unknown"),
        "priority": _FHIR_PRIORITY.get(req["priority"], "routine"),
        "item": {
            "concept": {
                "coding": [{"system": GTIN_SYSTEM, "code": line["gtin"]}],
                "text": line["name"] or line["gtin"],
            }
        },
        "quantity": {"value": line["quantity"], "unit": "each"},
        "authoredOn": req["created_at"],
        "requester": {"display": req["requester"]},
        "deliverTo": {
            "identifier": {"system": LOCATION_SYSTEM, "value": req["to_location"]},
            "display": req["to_location"],
        },
    }
    if req["from_location"]:
        out["deliverFrom"] = {
            "identifier": {"system": LOCATION_SYSTEM, "value": req["from_location"]}
        }
    if req["note"]:
        out["reason"] = [{"concept": {"text": req["note"]}}]
    return valid("SupplyRequest", out)


def supply_delivery(req: dict[str, Any]) -> dict[str, Any] | None:
    """What arrived of an issued requisition, as a SupplyDelivery (none before it was issued):
    completed once it was received at its destination, in progress while on its way."""
    if not req["issued_at"]:
        return None
    arrived = sum(ln["received"] for ln in req["lines"])
    line = req["lines"][0]
    out: dict[str, Any] = {
        "resourceType": "SupplyDelivery",
        "id": f"requisition-{req['id']}",
        "basedOn": [{"reference": f"SupplyRequest/{req['id']}"}],
        "status": "completed" if req["status"] == "received" else "in-progress",
        "suppliedItem": [
            {
                "quantity": {"value": arrived or line["issued"]},
                "itemCodeableConcept": {"coding": [{"system": GTIN_SYSTEM, "code": line["gtin"]}]},
            }
        ],
        "destination": {
            "identifier": {"system": LOCATION_SYSTEM, "value": req["to_location"]},
            "display": req["to_location"],
        },
    }
    when = req["received_at"] or req["issued_at"]
    if when:
        out["occurrenceDateTime"] = when
    return valid("SupplyDelivery", out)


def device_dispense(h: TagHistory, batch: Batch, name: str, place: str | None) -> dict[str, Any]:
    """A tagged high-value item taken for a case, with its UDI (DI: the GTIN; PI: lot,
    expiry, serial) as GS1 element strings; the case is the encounter."""
    serial = unquote(h.epc.rsplit(".", 1)[1]) if h.epc.startswith("urn:epc:id:sgtin:") else ""
    udi = f"(01){batch.gtin}"
    if batch.expiry is not None:
        udi += f"(17){batch.expiry:%y%m%d}"
    if batch.lot:
        udi += f"(10){batch.lot}"
    if serial:
        udi += f"(21){serial}"
    case = {"identifier": {"system": "urn:hwms:case", "value": h.case_id}, "display": h.case_id}
    out: dict[str, Any] = {
        "resourceType": "DeviceDispense",
        "id": str(h.id),
        "status": "completed",
        "identifier": [{"system": "urn:epc:id", "value": h.epc}],
        "device": {
            "concept": {
                "coding": [{"system": GTIN_SYSTEM, "code": batch.gtin}],
                "text": f"{name or batch.gtin} UDI {udi}",
            }
        },
        "subject": {"display": f"the patient of case {h.case_id}"},
        "encounter": case,
        "performer": [{"actor": {"display": h.actor}}],
        "quantity": {"value": 1, "unit": "each"},
        "whenHandedOver": iso(h.at),
    }
    if place:
        out["location"] = {
            "identifier": {"system": LOCATION_SYSTEM, "value": place},
            "display": place,
        }
    return valid("DeviceDispense", out)


def used_items() -> Any:
    """(history row, batch, product name) of every tagged high-value item taken for a case
    or dispensed to it: the DeviceDispenses."""
    return (
        select(TagHistory, Batch, Product.name)
        .join(Tag, Tag.epc == TagHistory.epc)
        .join(Batch, Batch.id == Tag.batch_id)
        .join(Product, Product.gtin == Batch.gtin)
        .where(TagHistory.kind.in_(USED), TagHistory.case_id != "", Product.high_value)
    )
