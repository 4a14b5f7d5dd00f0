"""FHIR resources pushed to the systems that subscribe (`fhir.subscriptions`): each
SupplyDelivery as its requisition is received and each DeviceDispense as an implant is
taken for a case, PUT to `<url>/<type>/<id>` so that a retry never makes a second copy.

The ledger's loop finds what happened in the last `WINDOW` and is not queued yet (a unique
key per subscriber, resource and id), then tries what is due. A failure waits `retry_s`,
then twice as long each time; after `max_attempts` the push waits in the dead letters
(`GET /fhir-push?state=dead`, `POST /fhir-push/{id}/retry`). Deliveries run outside any
database transaction."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from central.accounts import Principal
from central.config import FhirConfig
from central.errors import Conflict, NotFound
from central.fhir_resources import device_dispense, supply_delivery, used_items
from central.ledger import Ledger
from central.ledger.base import iso
from central.models import FhirPush, Location, Requisition, TagHistory
from central.vocab import Role

log = structlog.get_logger(__name__)
WINDOW = timedelta(days=7)  # how far back a new subscriber or a restart looks
BATCH = 50  # pushes tried per pass
MAX_WAIT = timedelta(hours=6)
_READER = Principal("fhir-push", Role.ADMIN)  # the ledger reading its own records


def enqueue(ledger: Ledger, cfg: FhirConfig, now: datetime) -> int:
    """Queue what happened since `now - WINDOW` for each subscriber; how many were queued."""
    wanted = {(sub.url, kind) for sub in cfg.subscriptions for kind in sub.resources}
    if not wanted:
        return 0
    since = now - WINDOW
    made: list[tuple[str, str, dict[str, Any]]] = []  # (type, id, resource)
    with ledger.session() as s:
        queued = set(
            s.execute(
                select(FhirPush.url, FhirPush.resource_type, FhirPush.resource_id).where(
                    FhirPush.created_at >= since - WINDOW
                )
            ).tuples()
        )

        def missing(kind: str, rid: str) -> bool:  # built only for a subscriber without it
            return any(w == kind and (url, kind, rid) not in queued for url, w in wanted)

        if any(kind == "SupplyDelivery" for _u, kind in wanted):
            for req_id in s.scalars(
                select(Requisition.id).where(
                    Requisition.status == "received", Requisition.received_at >= since
                )
            ):
                if missing("SupplyDelivery", f"requisition-{req_id}"):
                    resource = supply_delivery(ledger.requisition(_READER, req_id))
                    if resource is not None:
                        made.append(("SupplyDelivery", resource["id"], resource))
        if any(kind == "DeviceDispense" for _u, kind in wanted):
            codes = dict(s.execute(select(Location.id, Location.code)).tuples().all())
            for h, batch, name in s.execute(used_items().where(TagHistory.at >= since)):
                if missing("DeviceDispense", str(h.id)):
                    place = codes.get(h.from_location_id or 0)
                    made.append(("DeviceDispense", str(h.id),
                                 device_dispense(h, batch, name, place)))  # fmt: skip
    rows = [
        FhirPush(
            url=url,
            resource_type=kind,
            resource_id=rid,
            body=json.dumps(resource),
            created_at=now,
            attempts=0,
            next_at=now,
            last_error="",
        )
        for kind, rid, resource in made
        for url, wants in wanted
        if wants == kind and (url, kind, rid) not in queued
    ]
    added = 0
    for row in rows:  # one at a time: another ledger may queue the same one meanwhile
        try:
            with ledger.session.begin() as s:
                s.add(row)
            added += 1
        except IntegrityError:
            continue
    return added


def deliver(ledger: Ledger, cfg: FhirConfig, now: datetime, limit: int = BATCH) -> int:
    """Try the pushes that are due; how many were taken."""
    timeouts = {sub.url: sub.timeout_s for sub in cfg.subscriptions}
    with ledger.session() as s:
        due = list(
            s.execute(
                select(
                    FhirPush.id,
                    FhirPush.url,
                    FhirPush.resource_type,
                    FhirPush.resource_id,
                    FhirPush.body,
                )
                .where(
                    FhirPush.delivered_at.is_(None),
                    FhirPush.dead_at.is_(None),
                    FhirPush.next_at <= now,
                )
                .order_by(FhirPush.next_at, FhirPush.id)
                .limit(limit)
            ).tuples()
        )
    taken = 0
    for push_id, url, kind, rid, body in due:
        error = _put(f"{url.rstrip('/')}/{kind}/{rid}", body, timeouts.get(url, 10.0))
        with ledger.session.begin() as s:
            row = s.get(FhirPush, push_id)
            if row is None:
                continue
            row.attempts += 1
            if not error:
                row.delivered_at, row.last_error = now, ""
                taken += 1
                continue
            row.last_error = error[:2000]
            if row.attempts >= cfg.max_attempts:
                row.dead_at = now
                log.warning("fhir push dead", url=url, resource=f"{kind}/{rid}", error=error)
            else:
                wait = timedelta(seconds=cfg.retry_s * 2 ** (row.attempts - 1))
                row.next_at = now + min(wait, MAX_WAIT)
                log.info(
                    "fhir push failed, will retry",
                    url=url,
                    resource=f"{kind}/{rid}",
                    attempts=row.attempts,
                    error=error,
                )
    return taken


def _put(url: str, body: str, timeout_s: float) -> str:
    """'' when the server took it (2xx), else what went wrong."""
    req = urllib.request.Request(
        url,
        data=body.encode(),
        method="PUT",
        headers={"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return "" if 200 <= resp.status < 300 else f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}: {exc.read(300).decode('utf-8', 'replace')}"
    except OSError as exc:
        return str(exc) or type(exc).__name__


def pushes(ledger: Ledger, state: str, limit: int = 200) -> list[dict[str, Any]]:
    """The pushes `waiting` (not taken yet), `dead` or `delivered`, newest first."""
    with ledger.session() as s:
        q = select(FhirPush).order_by(FhirPush.id.desc()).limit(limit)
        if state == "dead":
            q = q.where(FhirPush.dead_at.is_not(None))
        elif state == "delivered":
            q = q.where(FhirPush.delivered_at.is_not(None))
        else:
            q = q.where(FhirPush.delivered_at.is_(None), FhirPush.dead_at.is_(None))
        return [
            {
                "id": p.id,
                "url": p.url,
                "resource": f"{p.resource_type}/{p.resource_id}",
                "attempts": p.attempts,
                "created_at": iso(p.created_at),
                "next_at": iso(p.next_at),
                "delivered_at": iso(p.delivered_at),
                "dead_at": iso(p.dead_at),
                "last_error": p.last_error,
            }
            for p in s.scalars(q)
        ]


def retry(ledger: Ledger, push_id: int, now: datetime) -> None:
    """A dead push tried again at once (its attempts start over)."""
    with ledger.session.begin() as s:
        row = s.get(FhirPush, push_id)
        if row is None:
            raise NotFound(f"no FHIR push {push_id}")
        if row.dead_at is None:
            raise Conflict(f"FHIR push {push_id} is not in the dead letters")
        row.dead_at, row.attempts, row.next_at = None, 0, now
