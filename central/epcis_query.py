"""The ledger's movements answered as EPCIS 2.0 events (the REST binding's SimpleEventQuery):
by EPC, by class (a batch or a whole GTIN, as GS1 Digital Link), by time, by business step,
read point and business location, in the caller's scope, a page at a time."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session, aliased

from central.accounts import Principal
from central.errors import Invalid
from central.models import Batch, Location, Movement, Tag, TagHistory
from rules.epcis import (
    BIZ_STEPS,
    CBV_BIZ_STEPS,
    DIGITAL_LINK,
    KIND_STEPS,
    LedgerMove,
    location_code,
    movement_event,
    step_of,
    with_event_ids,
)

MAX_PER_PAGE = 200


@dataclass(frozen=True)
class EventQuery:
    """The query parameters hwms answers (any others are refused by the route)."""

    epcs: tuple[str, ...] = ()  # MATCH_epc / MATCH_anyEPC
    classes: tuple[str, ...] = ()  # MATCH_epcClass / MATCH_anyEPCClass
    biz_steps: tuple[str, ...] = ()  # EQ_bizStep
    read_points: tuple[str, ...] = ()  # EQ_readPoint
    biz_locations: tuple[str, ...] = ()  # EQ_bizLocation
    since: datetime | None = None  # GE_eventTime
    until: datetime | None = None  # LT_eventTime
    after: int = 0  # nextPageToken: the last movement of the page before
    per_page: int = 30


def _class_batches(s: Session, uri: str) -> list[int]:
    """Batch ids of a Digital Link class: `/01/<gtin>` (every lot) or `/01/<gtin>/10/<lot>`."""
    parts = uri.removeprefix(DIGITAL_LINK).strip("/").split("/")
    if not uri.startswith(DIGITAL_LINK) or len(parts) not in (2, 4) or parts[0] != "01":
        raise Invalid(f"MATCH_epcClass: {uri[:80]!r} is not a GS1 Digital Link class "
                      f"({DIGITAL_LINK}/01/<gtin>[/10/<lot>])")  # fmt: skip
    gtin = parts[1].zfill(14)
    q = select(Batch.id).where(Batch.gtin == gtin)
    if len(parts) == 4:
        if parts[2] != "10":
            raise Invalid(f"MATCH_epcClass: {uri[:80]!r}: only a lot (10) may follow a GTIN")
        q = q.where(Batch.lot == unquote(parts[3]))
    return list(s.scalars(q))


def _location_ids(s: Session, uris: tuple[str, ...], name: str) -> list[int]:
    codes = []
    for uri in uris:
        code = location_code(uri)
        if code is None:
            raise Invalid(f"{name}: {uri[:80]!r} is not a location of this ledger "
                          "(urn:hwms:<site>:zone:<zone>)")  # fmt: skip
        codes.append(code)
    return list(s.scalars(select(Location.id).where(Location.code.in_(codes))))


def _steps(wanted: tuple[str, ...]) -> Any:
    """A condition on movements whose CBV business step is one of `wanted`."""
    own = [b for b in (*BIZ_STEPS, *CBV_BIZ_STEPS) if step_of("", b)[0] in wanted]
    kinds = [k for k in KIND_STEPS if step_of(k, "")[0] in wanted]
    return or_(Movement.biz_step.in_(own + list(wanted)),
               and_(Movement.biz_step == "", Movement.kind.in_(kinds)))  # fmt: skip


def query(s: Session, who: Principal, q: EventQuery) -> tuple[list[dict[str, Any]], int | None]:
    """One page of events, oldest first, and the token of the next page (None: the last)."""
    sel = (
        select(Movement, Batch.gtin, Batch.lot)
        .join(Batch, Batch.id == Movement.batch_id)
        .where(Movement.id > q.after)
        .order_by(Movement.id)
        .limit(min(q.per_page, MAX_PER_PAGE) + 1)
    )
    allowed = who.locations(s)
    if allowed is not None:
        sel = sel.where(or_(Movement.from_location_id.in_(allowed),
                            Movement.to_location_id.in_(allowed)))  # fmt: skip
    if q.since is not None:
        sel = sel.where(Movement.occurred_at >= q.since)
    if q.until is not None:
        sel = sel.where(Movement.occurred_at < q.until)
    if q.classes:
        sel = sel.where(Movement.batch_id.in_([b for c in q.classes for b in _class_batches(s, c)]))
    if q.biz_steps:
        sel = sel.where(_steps(q.biz_steps))
    if q.read_points:
        ids = _location_ids(s, q.read_points, "EQ_readPoint")
        sel = sel.where(or_(Movement.to_location_id.in_(ids),
                            and_(Movement.to_location_id.is_(None),
                                 Movement.from_location_id.in_(ids))))  # fmt: skip
    if q.biz_locations:
        sel = sel.where(Movement.to_location_id.in_(_location_ids(s, q.biz_locations,
                                                                   "EQ_bizLocation")))  # fmt: skip
    if q.epcs:
        refs = select(TagHistory.ref).where(TagHistory.epc.in_(q.epcs), TagHistory.ref.is_not(None))
        booked = exists().where(TagHistory.epc.in_(q.epcs), TagHistory.ref.is_(None),
                                TagHistory.at == Movement.occurred_at,
                                TagHistory.kind == Movement.kind)  # fmt: skip
        sel = sel.where(or_(Movement.event_id.in_(refs), booked))
    rows = s.execute(sel).all()
    more = len(rows) > min(q.per_page, MAX_PER_PAGE)
    rows = rows[: min(q.per_page, MAX_PER_PAGE)]
    moves = _moves(s, rows)
    if q.epcs:  # a booking at the same moment of other items: not this EPC's
        moves = [m for m in moves if set(m.epcs) & set(q.epcs)]
    events = with_event_ids([movement_event(m) for m in moves])
    return events, (rows[-1][0].id if more and rows else None)


def _moves(s: Session, rows: Sequence[Any]) -> list[LedgerMove]:
    """The page's movements with their tagged items: by event id for an edge's event, by
    moment, kind, places and batch for a person's booking."""
    ids = {i for r in rows for i in (r[0].from_location_id, r[0].to_location_id) if i}
    codes = dict(s.execute(select(Location.id, Location.code).where(Location.id.in_(ids))).all())
    refs = [r[0].event_id for r in rows if r[0].event_id]
    by_ref: dict[str | None, list[str]] = defaultdict(list)  # an edge's event: one batch
    if refs:
        q = select(TagHistory.ref, TagHistory.epc).where(TagHistory.ref.in_(refs))
        for ref, epc in s.execute(q.order_by(TagHistory.id)):
            by_ref[ref].append(epc)
    booked = [r[0] for r in rows if not r[0].event_id]
    by_moment: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    if booked:
        history = aliased(TagHistory)
        found = s.execute(
            select(history.at, history.kind, history.from_location_id, history.to_location_id,
                   Tag.batch_id, history.epc)
            .join(Tag, Tag.epc == history.epc)
            .where(history.ref.is_(None), history.at.in_({m.occurred_at for m in booked}))
            .order_by(history.id)
        )  # fmt: skip
        for at, kind, frm, to, batch, epc in found:
            by_moment[(_utc(at), kind, frm, to, batch)].append(epc)
    out = []
    for m, gtin, lot in rows:
        if m.event_id:
            epcs = by_ref.get(m.event_id, [])
        else:
            key = (_utc(m.occurred_at), m.kind, m.from_location_id, m.to_location_id, m.batch_id)
            epcs = by_moment.get(key, [])
        epcs = epcs[: m.quantity]
        out.append(LedgerMove(
            id=m.id, kind=m.kind, biz_step=m.biz_step, gtin=gtin, lot=lot, quantity=m.quantity,
            epcs=tuple(epcs), from_code=codes.get(m.from_location_id),
            to_code=codes.get(m.to_location_id), occurred_at=_utc(m.occurred_at),
            actor=m.actor, case_id=m.case_id,
        ))  # fmt: skip
    return out


def _utc(at: datetime) -> datetime:
    from central.clock import as_utc

    aware = as_utc(at)
    assert aware is not None
    return aware
