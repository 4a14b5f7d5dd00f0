"""FHIR R5 (IHE SUPPLY, in part): the server's CapabilityStatement; the batches on file as
InventoryItems (product by GTIN, instance with lot and expiry); a location's stock as an
InventoryReport snapshot; a HIS's SupplyRequest as a requisition for a ward, with its
SupplyDelivery once issued and received; implants and high-value items taken for a case as
DeviceDispenses with their UDI. Every resource is built and validated with fhir.resources
(R5); searches answer a `searchset` Bundle with paging (`_count`, `_page`). Systems use the
same bearer tokens: a `system` user (a HIS) reads its scope and orders for its wards."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select

from central import fhir_push
from central.accounts import Principal
from central.api.deps import Admin, Id, LedgerDep, Reader, plain
from central.clock import as_utc
from central.errors import Invalid, NotFound
from central.fhir_resources import (
    GTIN_SYSTEM,
    LOCATION_SYSTEM,
    PRIORITIES,
    device_dispense,
    inventory_item,
    supply_delivery,
    supply_request,
    used_items,
)
from central.ledger import LineIn
from central.ledger.base import iso
from central.models import Batch, Location, Movement, Product, Stock, TagHistory
from central.schemas import CONFLICT, ERRORS, INVALID, NOT_FOUND


class FhirResponse(JSONResponse):
    media_type = "application/fhir+json"


router = APIRouter(
    prefix="/fhir",
    tags=["fhir"],
    responses=plain(ERRORS | INVALID),
    default_response_class=FhirResponse,
)
Count = Annotated[int, Query(alias="_count", ge=1, le=500)]
Page = Annotated[int, Query(alias="_page", ge=1, le=1_000_000)]


def _fhir(resource: Any) -> FhirResponse:
    return FhirResponse(resource.model_dump(mode="json", exclude_none=True))


@router.get("/metadata")
def metadata(ledger: LedgerDep) -> FhirResponse:
    """What this server does (no token needed, as FHIR clients expect)."""
    from fhir.resources.capabilitystatement import CapabilityStatement

    return _fhir(
        CapabilityStatement.model_validate(
            {
                "resourceType": "CapabilityStatement",
                "status": "active",
                "date": ledger.clock.now().isoformat(),
                "kind": "instance",
                "software": {"name": "hwms", "version": "0.1.0"},
                "implementation": {"description": "hwms ledger: hospital stock by batch and tag"},
                "fhirVersion": "5.0.0",
                "format": ["json"],
                "rest": [
                    {
                        "mode": "server",
                        "security": {"description": "Bearer tokens per user"},
                        "resource": [
                            {
                                "type": "InventoryItem",
                                "interaction": [{"code": "read"}, {"code": "search-type"}],
                                "searchParam": [{"name": "code", "type": "token"}],
                            },
                            {
                                "type": "InventoryReport",
                                "interaction": [{"code": "search-type"}],
                                "searchParam": [
                                    {"name": "location", "type": "string"},
                                    {"name": "countType", "type": "token"},
                                ],
                            },
                            {
                                "type": "SupplyRequest",
                                "interaction": [{"code": "create"}, {"code": "read"}],
                            },
                            {
                                "type": "SupplyDelivery",
                                "interaction": [{"code": "search-type"}],
                                "searchParam": [{"name": "based-on", "type": "reference"}],
                            },
                            {
                                "type": "DeviceDispense",
                                "interaction": [{"code": "search-type"}],
                                "searchParam": [{"name": "encounter", "type": "token"}],
                            },
                        ],
                    }
                ],
            }
        )
    )


def _bundle(
    request: Request, entries: list[dict[str, Any]], total: int, page: int, count: int
) -> FhirResponse:
    from fhir.resources.bundle import Bundle

    base = str(request.base_url).rstrip("/")
    here = request.url.remove_query_params("_page")
    links = [{"relation": "self", "url": str(here.include_query_params(_page=page))}]
    if page * count < total:
        links.append({"relation": "next", "url": str(here.include_query_params(_page=page + 1))})
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base}/fhir/{e['resourceType']}/{e['id']}",
                "resource": e,
                "search": {"mode": "match"},
            }
            for e in entries
        ],
    }
    return _fhir(Bundle.model_validate(bundle))


@router.get("/InventoryItem")
def search_items(
    request: Request,
    ledger: LedgerDep,
    user: Reader,
    code: Annotated[str | None, Query(max_length=200)] = None,
    count: Count = 50,
    page: Page = 1,
) -> FhirResponse:
    """The batches on file, by `code` (`https://www.gs1.org/gtin|<GTIN>` or the GTIN)."""
    gtin = (code or "").rpartition("|")[2].strip()
    with ledger.session() as s:
        q = select(Batch, Product.name).join(Product, Product.gtin == Batch.gtin, isouter=True)
        n = select(func.count()).select_from(Batch)
        if gtin:
            q, n = q.where(Batch.gtin == gtin.zfill(14)), n.where(Batch.gtin == gtin.zfill(14))
        total = int(s.scalar(n) or 0)
        rows = s.execute(q.order_by(Batch.id).offset((page - 1) * count).limit(count)).all()
        entries = [_item(b, name) for b, name in rows]
    return _bundle(request, entries, total, page, count)


def _item(batch: Batch, name: str | None) -> dict[str, Any]:
    from fhir.resources.inventoryitem import InventoryItem

    return InventoryItem.model_validate(inventory_item(batch, name or "")).model_dump(
        mode="json", exclude_none=True
    )


@router.get("/InventoryItem/{item_id}", responses=plain(NOT_FOUND))
def read_item(item_id: Id, ledger: LedgerDep, user: Reader) -> FhirResponse:
    with ledger.session() as s:
        row = s.execute(
            select(Batch, Product.name)
            .join(Product, Product.gtin == Batch.gtin, isouter=True)
            .where(Batch.id == item_id)
        ).first()
        if row is None:
            raise NotFound(f"InventoryItem/{item_id} is not known")
        return FhirResponse(_item(row[0], row[1]))


@router.get("/InventoryReport", responses=plain(NOT_FOUND))
def search_reports(
    request: Request,
    ledger: LedgerDep,
    user: Reader,
    location: Annotated[str, Query(min_length=1, max_length=200)],
    countType: Annotated[str, Query(pattern="^(snapshot|difference)$")] = "snapshot",  # noqa: N803
    date: Annotated[str | None, Query(pattern=DATE_SEARCH)] = None,
    count: Count = 20,
    page: Page = 1,
) -> FhirResponse:
    """A snapshot of the stock at `location` (a location or a site, and what lies below) now:
    one InventoryReport, a listing per location with a line per batch. `countType=difference`:
    one report per cabinet door cycle there (its takes negative, its returns positive, per
    batch, with who and the case), newest first. `date` (FHIR prefixes eq, ne, lt, gt, le,
    ge, sa, eb; a day or a UTC moment) filters by the reported time: a snapshot's is now."""
    from fhir.resources.inventoryreport import InventoryReport

    window = _date_window(date)
    if countType == "difference":
        with ledger.session() as s:
            reports, total = _differences(s, _places(s, user, location), page, count, window)
        return _bundle(request, reports, total, page, count)
    if not window(ledger.clock.now()):
        with ledger.session() as s:
            _places(s, user, location)  # still: an unknown location is not found
        return _bundle(request, [], 0, page, count)
    with ledger.session() as s:
        places = _places(s, user, location)
        rows = s.execute(
            select(Location.code, Batch.id, Stock.quantity)
            .join(Location, Location.id == Stock.location_id)
            .join(Batch, Batch.id == Stock.batch_id)
            .where(Stock.location_id.in_(places), Stock.quantity > 0)
            .order_by(Location.code, Batch.id)
        ).all()
    per_place: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for code, batch_id, quantity in rows:
        per_place[code].append(
            {
                "quantity": {"value": quantity, "unit": "each"},
                "item": {"reference": {"reference": f"InventoryItem/{batch_id}"}},
            }
        )
    now = iso(ledger.clock.now())
    report = InventoryReport.model_validate(
        {
            "resourceType": "InventoryReport",
            "id": f"snapshot-{location.replace('/', '.')}",
            "status": "active",
            "countType": "snapshot",
            "reportedDateTime": now,
            "inventoryListing": [
                {
                    "location": {
                        "identifier": {"system": LOCATION_SYSTEM, "value": code},
                        "display": code,
                    },
                    "countingDateTime": now,
                    "item": items,
                }
                for code, items in sorted(per_place.items())
            ],
        }
    ).model_dump(mode="json", exclude_none=True)
    return _bundle(request, [report], 1, 1, 1)


CABINET_KINDS = ("cabinet_take", "cabinet_return")


DATE_SEARCH = (
    r"^(eq|ne|lt|gt|le|ge|sa|eb)?[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9:.]+(Z|[+-][0-9]{2}:[0-9]{2}))?$"
)


def _date_window(value: str | None) -> Callable[[datetime], bool]:
    """A FHIR date search (`ge2026-11-01`, `lt2026-11-24T08:00:00Z`, a day alone: within
    it) as a test of a moment."""
    if value is None:
        return lambda _at: True
    prefix = value[:2] if value[:2].isalpha() else "eq"
    text = value[len(prefix) :] if value[:2].isalpha() else value
    try:
        if "T" in text:
            start = datetime.fromisoformat(text).astimezone(UTC)
            end = start + timedelta(microseconds=1)
        else:
            start = datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
            end = start + timedelta(days=1)
    except (ValueError, OverflowError):
        raise Invalid(f"date: {value[:40]!r} is not a FHIR date") from None
    tests: dict[str, Callable[[datetime], bool]] = {
        "eq": lambda at: start <= at < end, "ne": lambda at: not start <= at < end,
        "lt": lambda at: at < start, "gt": lambda at: at >= end, "le": lambda at: at < end,
        "ge": lambda at: at >= start, "sa": lambda at: at >= end, "eb": lambda at: at < start,
    }  # fmt: skip
    return tests[prefix]


Window = Callable[[datetime], bool]


def _differences(s: Any, places: list[int], page: int, count: int,
                 window: Window) -> tuple[list[dict[str, Any]], int]:  # fmt: skip
    """InventoryReports of countType `difference`: one per cabinet door cycle (a cabinet's
    takes and returns of one user at one moment, as its scan at the door's closing booked
    them) at `places`, newest first, a page of them and how many there are."""
    from fhir.resources.inventoryreport import InventoryReport

    place = func.coalesce(Movement.from_location_id, Movement.to_location_id)
    cycle = (place, Movement.actor, Movement.case_id, Movement.occurred_at)
    cycles = (select(*cycle, func.min(Movement.id).label("first"))
              .where(Movement.kind.in_(CABINET_KINDS), place.in_(places))
              .group_by(*cycle))  # fmt: skip
    every = s.execute(cycles.order_by(Movement.occurred_at.desc(),
                                      func.min(Movement.id).desc())).all()  # fmt: skip
    chosen = [c for c in every if window(as_utc(c[3]) or datetime.min.replace(tzinfo=UTC))]
    total = len(chosen)
    shown = chosen[(page - 1) * count : page * count]
    codes = dict(s.execute(select(Location.id, Location.code)).all())
    out = []
    for loc, actor, case_id, at, first in shown:
        moves = s.execute(
            select(Movement.kind, Movement.batch_id, Movement.quantity).where(
                Movement.kind.in_(CABINET_KINDS), place == loc, Movement.actor == actor,
                Movement.case_id == case_id, Movement.occurred_at == at)
        ).all()  # fmt: skip
        change: dict[int, int] = defaultdict(int)
        for kind, batch_id, quantity in moves:
            change[batch_id] += quantity if kind == "cabinet_return" else -quantity
        when = iso(at)
        note = f"{actor}" + (f", case {case_id}" if case_id else "")
        out.append(InventoryReport.model_validate({
            "resourceType": "InventoryReport",
            "id": f"cabinet-cycle-{first}",
            "status": "active",
            "countType": "difference",
            "reportedDateTime": when,
            "inventoryListing": [{
                "location": {"identifier": {"system": LOCATION_SYSTEM, "value": codes[loc]},
                             "display": codes[loc]},
                "countingDateTime": when,
                "item": [{"quantity": {"value": delta, "unit": "each"},
                          "item": {"reference": {"reference": f"InventoryItem/{batch}"}}}
                         for batch, delta in sorted(change.items()) if delta],
            }],
            "note": [{"text": f"cabinet door cycle: {note}"}],
        }).model_dump(mode="json", exclude_none=True))  # fmt: skip
    return out, total


def _places(s: Any, who: Principal, code: str) -> list[int]:
    """The ids of `code` (a location, or a site) and the locations below it, within the
    user's scope; NotFound when no location is or lies below `code`."""
    rows = s.execute(select(Location.id, Location.code, Location.department)).all()
    below = [(i, c, dept) for i, c, dept in rows if c == code or c.startswith(code + "/")]
    if not below:
        raise NotFound(f"no location {code[:80]!r}")
    return [i for i, c, dept in below if who.covers(c, dept)]


def _gtin_of(concept: Any) -> str:
    for coding in (concept or {}).get("coding") or []:
        if coding.get("system") == GTIN_SYSTEM and coding.get("code"):
            return str(coding["code"])
    raise Invalid("item.concept.coding: a GTIN (system https://www.gs1.org/gtin) is needed")


def _location_of(ref: Any) -> str:
    ident = (ref or {}).get("identifier") or {}
    if ident.get("system") == LOCATION_SYSTEM and ident.get("value"):
        return str(ident["value"])
    raise Invalid(f"deliverTo: a location identifier (system {LOCATION_SYSTEM}) is needed")


@router.post("/SupplyRequest", status_code=201, responses=plain(CONFLICT))
def create_request(body: dict[str, Any], ledger: LedgerDep, user: Reader) -> FhirResponse:
    """A HIS orders for a ward (IHE SUPPLY PHARM-S1): a requisition of one line, approved
    like any other; `system` users need the ward in their scope."""
    from fhir.resources.supplyrequest import SupplyRequest

    try:
        parsed = SupplyRequest.model_validate(body)
    except ValueError as exc:
        raise Invalid(f"not a FHIR R5 SupplyRequest: {str(exc).splitlines()[0][:300]}") from None
    raw = parsed.model_dump(mode="json", exclude_none=True)
    quantity = raw.get("quantity", {}).get("value")
    if not isinstance(quantity, int | float) or quantity != int(quantity) or quantity < 1:
        raise Invalid("quantity.value: a whole number of eaches, at least 1")
    priority = PRIORITIES.get(raw.get("priority", "routine"), "routine")
    reasons = [r.get("concept", {}).get("text", "") for r in raw.get("reason", [])]
    his_ids = [f"{i.get('system', '')}|{i.get('value', '')}" for i in raw.get("identifier", [])]
    note = "; ".join(x for x in [*reasons, *(f"HIS {i}" for i in his_ids)] if x)
    req = ledger.new_requisition(
        user,
        to_location=_location_of(raw.get("deliverTo")),
        priority=priority,
        note=note,
        lines=[LineIn(gtin=_gtin_of(raw["item"].get("concept")).zfill(14), quantity=int(quantity))],
    )
    resource = supply_request(req)
    return FhirResponse(
        resource, status_code=201, headers={"Location": f"/fhir/SupplyRequest/{req['id']}"}
    )


REQUEST_STATUS = "^(draft|active|suspended|cancelled|completed|entered-in-error|unknown)$"


@router.get("/SupplyRequest")
def search_requests(
    request: Request, ledger: LedgerDep, user: Reader,
    status: Annotated[str | None, Query(pattern=REQUEST_STATUS)] = None,
    count: Count = 20, page: Page = 1,
) -> FhirResponse:  # fmt: skip
    """The requisitions the caller may see (the last 1 000) as SupplyRequests, newest
    first; `status`: their FHIR status."""
    found = [supply_request(ledger.requisition(user, r["id"]))
             for r in ledger.requisitions(user, limit=1000)]  # fmt: skip
    found = [f for f in found if status is None or f["status"] == status]
    found.sort(key=lambda f: int(f["id"]), reverse=True)
    return _bundle(request, found[(page - 1) * count : page * count], len(found), page, count)


@router.get("/SupplyRequest/{request_id}", responses=plain(NOT_FOUND))
def read_request(request_id: Id, ledger: LedgerDep, user: Reader) -> FhirResponse:
    return FhirResponse(supply_request(ledger.requisition(user, request_id)))


@router.get("/SupplyDelivery")
def search_deliveries(
    request: Request,
    ledger: LedgerDep,
    user: Reader,
    based_on: Annotated[str, Query(alias="based-on", pattern=r"^(SupplyRequest/)?[0-9]{1,10}$")],
) -> FhirResponse:
    """The delivery of a SupplyRequest (`based-on=SupplyRequest/<id>`), when it was issued."""
    request_id = int(based_on.rpartition("/")[2])
    if not 1 <= request_id <= 2**31 - 1:
        raise Invalid("based-on: no such SupplyRequest")
    try:
        found = supply_delivery(ledger.requisition(user, request_id))
    except NotFound:  # a search finds nothing; it is not an error
        found = None
    return _bundle(request, [found] if found else [], 1 if found else 0, 1, 1)


@router.get("/DeviceDispense")
def search_dispenses(
    request: Request,
    ledger: LedgerDep,
    user: Reader,
    encounter: Annotated[str | None, Query(max_length=120)] = None,
    count: Count = 50,
    page: Page = 1,
) -> FhirResponse:
    """Implants and high-value items taken for a case (`encounter`: the case id), in the
    caller's scope, newest last."""
    with ledger.session() as s:
        allowed = user.locations(s)
        codes = dict(s.execute(select(Location.id, Location.code)).tuples().all())
        q = used_items()
        if encounter:
            q = q.where(TagHistory.case_id == encounter)
        if allowed is not None:
            q = q.where(TagHistory.from_location_id.in_(allowed))
        total = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
        rows = s.execute(q.order_by(TagHistory.id).offset((page - 1) * count).limit(count)).all()
        found = [
            device_dispense(h, b, name, codes.get(h.from_location_id or 0)) for h, b, name in rows
        ]
    return _bundle(request, found, total, page, count)


push_router = APIRouter(prefix="/fhir-push", tags=["fhir"], responses=ERRORS | INVALID)


@push_router.get("")
def pushes(
    ledger: LedgerDep, user: Admin,
    state: Annotated[str, Query(pattern="^(waiting|dead|delivered)$")] = "waiting",
) -> list[dict[str, Any]]:  # fmt: skip
    """Resources on their way to the subscribed systems; `dead`: given up, to retry."""
    return fhir_push.pushes(ledger, state)


@push_router.post("/{push_id}/retry", status_code=204, responses=NOT_FOUND | CONFLICT)
def retry(push_id: Id, ledger: LedgerDep, user: Admin) -> None:
    """A dead push tried again on the ledger's next pass."""
    fhir_push.retry(ledger, push_id, ledger.clock.now())
