"""Requisitions: a department asks for goods at one of its locations, the approval levels
its content needs approve it, the store issues it first-expiry-first-out, the destination
receives it (its gate or cabinet reads the items, or someone confirms them).

Issued goods go to the site's in-transit location (`<site>/in-transit`) and count at the
destination only once they arrive; a reader that sees them on the way moves them without
a discrepancy. Who may act (role, scope, not on one's own requisition) is checked here
(`Forbidden`, HTTP 403); whether the status allows it in `rules/requisitions.py`
(`Conflict`, HTTP 409)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central import alerts
from central.accounts import Principal
from central.clock import as_utc
from central.config import RequisitionConfig
from central.errors import Conflict, Forbidden, Invalid, NotFound
from central.ledger.base import iso
from central.ledger.moves import Moving, Pending, TagMove
from central.ledger.receiving import pack_sizes
from central.ledger.witnessing import ALERT_KIND as TWO_PERSON
from central.ledger.witnessing import Witnessing
from central.models import (
    Batch,
    Location,
    Product,
    Requisition,
    RequisitionLine,
    RequisitionPick,
    RequisitionStep,
    Stock,
    Tag,
    TagHistory,
)
from central.vocab import Permission, Role
from rules.requisitions import OPEN, Action, ApprovalLevel, Priority, Status, StatusRefused, after

TRANSIT_ZONE, TRANSIT_KIND = "in-transit", "transit"
SYSTEM = "system"  # the requester of automatic replenishments
MAX_LINES, MAX_QUANTITY = 200, 1_000_000
ALERT_KINDS = ("requisition_approval", "requisition_receipt", "requisition_review", TWO_PERSON)


@dataclass(frozen=True, slots=True)
class LineIn:
    """A requested line: a product's GTIN or one of its packs', and how many of that unit."""

    gtin: str
    quantity: int


@dataclass(frozen=True, slots=True)
class PickIn:
    """What the store picks for a line: a lot and a quantity, or tagged items by EPC; a lot
    other than the first to expire needs a reason."""

    gtin: str
    lot: str
    quantity: int = 0
    epcs: tuple[str, ...] = ()
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A batch the store may issue for a line, in first-expiry-first-out order."""

    batch_id: int
    lot: str
    expiry: date | None
    untagged: int
    tags: tuple[str, ...]

    @property
    def available(self) -> int:
        return self.untagged + len(self.tags)


# a line, the batch, the tagged items and the untagged quantity picked from it, the reason
Chosen = tuple[RequisitionLine, Candidate, tuple[str, ...], int, str]


def product_classes(p: Product) -> set[str]:
    """What approval rules and two-person checks match a product by: high_value,
    controlled, its category."""
    return {c for c, on in (("high_value", p.high_value), ("controlled", p.controlled),
                            (p.category, bool(p.category))) if on}  # fmt: skip


def _levels(text: str) -> list[ApprovalLevel]:
    """The approval levels stored with a requisition (name:role, in order): a change of
    the configuration does not change what a submitted requisition needs."""
    out = []
    for part in filter(None, text.split(",")):
        name, _, role = part.partition(":")
        out.append(ApprovalLevel(name=name, role=role))
    return out


def pending_levels(req: Requisition) -> list[ApprovalLevel]:
    done = set(filter(None, req.approved.split(",")))
    return [lvl for lvl in _levels(req.levels) if lvl.name not in done]


def _step(
    s: Session,
    req: Requisition,
    action: Action,
    actor: str,
    now: datetime,
    *,
    level: str = "",
    comment: str = "",
) -> None:
    req.updated_at = now
    s.add(
        RequisitionStep(
            requisition_id=req.id,
            action=action,
            status=req.status,
            actor=actor,
            at=now,
            level=level,
            comment=comment[:2000],
        )
    )


def _next(req: Requisition, action: Action, **facts: Any) -> Status:
    try:
        return after(Status(req.status), action, **facts)
    except StatusRefused as exc:
        raise Conflict(f"requisition #{req.id}: {exc}") from None


def system_requisition(
    s: Session,
    *,
    alert_id: int,
    to_location_id: int,
    from_location_id: int | None,
    department: str | None,
    gtin: str,
    quantity: int,
    now: datetime,
    transport: str,
) -> Requisition:
    """The requisition of an automatic replenishment (a low-stock alert): approved at once,
    requested by the system, on the same list as the people's."""
    req = Requisition(
        department=department,
        to_location_id=to_location_id,
        from_location_id=from_location_id,
        priority=Priority.ROUTINE,
        note="replenishment of low stock",
        requester=SYSTEM,
        status=Status.APPROVED,
        levels="",
        approved="",
        value=None,
        transport=transport,
        needs_review=False,
        alert_id=alert_id,
        created_at=now,
        updated_at=now,
    )
    s.add(req)
    s.flush()
    s.add(
        RequisitionLine(
            requisition_id=req.id,
            gtin=gtin,
            ordered_gtin=gtin,
            ordered_quantity=quantity,
            quantity=quantity,
            issued=0,
            closed=False,
        )
    )
    _step(s, req, Action.SUBMIT, SYSTEM, now, comment="stock below its minimum")
    return req


class Requisitions(Moving, Witnessing):
    requisition_rules: RequisitionConfig
    supply: dict[str, str]

    # --- requesting -----------------------------------------------------------------------
    def new_requisition(
        self,
        who: Principal,
        *,
        to_location: str,
        lines: list[LineIn],
        priority: str = Priority.ROUTINE,
        note: str = "",
        transport: str = "",
    ) -> dict[str, Any]:
        """A department's request for goods at `to_location` (its own location)."""
        if not who.may(Permission.REQUEST):
            raise Forbidden(f"the {who.role} role may not request goods")
        if priority not in set(Priority):
            raise Invalid(f"priority: {priority!r} is not one of {', '.join(Priority)}")
        if not lines or len(lines) > MAX_LINES:
            raise Invalid(f"lines: between 1 and {MAX_LINES} lines are needed")
        if transport not in ("", "agv"):
            raise Invalid("transport: '' (a porter) or 'agv'")
        now = self.clock.now()
        with self.transaction() as s:
            dest = s.scalars(select(Location).where(Location.code == to_location)).one_or_none()
            if dest is None or dest.kind == TRANSIT_KIND:
                raise Invalid(f"to_location: no location {to_location[:80]!r}")
            if not who.covers(dest.code, dest.department):
                raise Forbidden(f"to_location: {dest.code} is not in your scope")
            rows, value, classes = self._requested(s, lines)
            policy = self.requisition_rules.policy()
            prio = Priority(priority)
            levels = policy.required(value, classes, prio)
            bypass = bool(levels) and policy.bypassed(prio)
            req = Requisition(
                department=dest.department,
                to_location_id=dest.id,
                from_location_id=self._store_of(s, dest.code),
                priority=prio,
                note=note[:2000],
                requester=who.user,
                status=Status.APPROVED if bypass or not levels else Status.SUBMITTED,
                levels=",".join(f"{lvl.name}:{lvl.role}" for lvl in levels),
                approved="",
                value=value,
                transport=transport,
                needs_review=bypass,
                created_at=now,
                updated_at=now,
            )
            s.add(req)
            s.flush()
            for row in rows:
                row.requisition_id = req.id
                s.add(row)
            _step(s, req, Action.SUBMIT, who.user, now, comment=note)
            if bypass:
                _step(
                    s,
                    req,
                    Action.APPROVE,
                    who.user,
                    now,
                    comment="emergency: approved at once, to be reviewed",
                )
            rid = req.id
        return self.requisition(who, rid)

    def _requested(
        self, s: Session, lines: list[LineIn]
    ) -> tuple[list[RequisitionLine], Decimal, set[str]]:
        """The lines in eaches, the total value and the product classes."""
        packs = pack_sizes(s)
        rows, value, classes, problems = [], Decimal(0), set(), []
        for i, line in enumerate(lines):
            if not 1 <= line.quantity <= MAX_QUANTITY:
                problems.append(f"lines[{i}].quantity: between 1 and {MAX_QUANTITY}")
                continue
            gtin, per = packs.get(line.gtin, (line.gtin, 1))
            product = s.get(Product, gtin)
            if product is None:
                problems.append(f"lines[{i}].gtin: no product or pack {line.gtin[:14]!r}")
                continue
            eaches = line.quantity * per
            value += (product.unit_price or Decimal(0)) * eaches
            classes |= product_classes(product)
            rows.append(
                RequisitionLine(
                    gtin=gtin,
                    ordered_gtin=line.gtin,
                    ordered_quantity=line.quantity,
                    quantity=eaches,
                    issued=0,
                    closed=False,
                )
            )
        if problems:
            raise Invalid("; ".join(problems[:20]))
        return rows, value, classes

    def _store_of(self, s: Session, code: str) -> int | None:
        """The store that supplies `code` by configuration (made a location if the ledger
        has not seen it yet), or None."""
        store = self.supply.get(code) or self.requisition_rules.default_store
        return None if store is None else self._place(s, store)

    # --- reading --------------------------------------------------------------------------
    def _load(self, s: Session, who: Principal, rid: int, lock: bool = True) -> Requisition:
        """The requisition if the user may see it (its destination or its store is in their
        scope): NotFound when there is none, Forbidden when it is not theirs. Locked for
        the transaction's change (two approvals at once are one after the other)."""
        if not who.may(Permission.READ):
            raise Forbidden(f"the {who.role} role may not read requisitions")
        req = s.get(Requisition, rid, with_for_update=lock and self._pg)
        if req is None:
            raise NotFound(f"no requisition #{rid}")
        if not self._visible(s, who, req):
            raise Forbidden(f"requisition #{rid} is outside your scope")
        return req

    def _visible(self, s: Session, who: Principal, req: Requisition) -> bool:
        dest = s.get(Location, req.to_location_id)
        store = s.get(Location, req.from_location_id) if req.from_location_id else None
        return (dest is not None and who.covers(dest.code, req.department)) or (
            store is not None and who.covers(store.code, store.department)
        )

    def requisition(self, who: Principal, rid: int) -> dict[str, Any]:
        with self.session() as s:
            return self._as_dict(s, self._load(s, who, rid, lock=False))

    def requisitions(
        self, who: Principal, *, status: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        """The requisitions the user may see, open ones first, newest first."""
        if not who.may(Permission.READ):
            raise Forbidden(f"the {who.role} role may not read requisitions")
        with self.session() as s:
            q = select(Requisition).order_by(Requisition.id.desc()).limit(limit * 5)
            if status:
                q = q.where(Requisition.status == status)
            found = [r for r in s.scalars(q) if self._visible(s, who, r)][:limit]
            found.sort(key=lambda r: r.status not in OPEN)
            return [self._summary(s, r) for r in found]

    def _summary(self, s: Session, req: Requisition) -> dict[str, Any]:
        codes = dict(
            s.execute(
                select(Location.id, Location.code).where(
                    Location.id.in_([req.to_location_id, req.from_location_id or 0])
                )
            ).all()
        )
        pending = pending_levels(req) if req.status == Status.SUBMITTED else []
        return {
            "id": req.id,
            "status": req.status,
            "priority": req.priority,
            "department": req.department,
            "to_location": codes[req.to_location_id],
            "from_location": codes.get(req.from_location_id or 0),
            "requester": req.requester,
            "note": req.note,
            "value": None if req.value is None else str(req.value),
            "transport": req.transport,
            "needs_review": req.needs_review,
            "waiting_for": [{"level": lvl.name, "role": lvl.role} for lvl in pending[:1]],
            "created_at": iso(req.created_at),
            "updated_at": iso(req.updated_at),
            "issued_at": iso(req.issued_at),
            "received_at": iso(req.received_at),
        }

    def _as_dict(self, s: Session, req: Requisition) -> dict[str, Any]:
        lines = s.scalars(
            select(RequisitionLine)
            .where(RequisitionLine.requisition_id == req.id)
            .order_by(RequisitionLine.id)
        ).all()
        names = dict(
            s.execute(
                select(Product.gtin, Product.name).where(
                    Product.gtin.in_([ln.gtin for ln in lines])
                )
            ).all()
        )
        picks = s.execute(
            select(RequisitionPick, Batch.lot, Batch.expiry)
            .join(Batch, Batch.id == RequisitionPick.batch_id)
            .where(RequisitionPick.requisition_id == req.id)
            .order_by(RequisitionPick.id)
        ).all()
        received: dict[int, int] = defaultdict(int)
        for pick, _lot, _exp in picks:
            if pick.received_at is not None:
                received[pick.line_id] += pick.quantity
        steps = s.scalars(
            select(RequisitionStep)
            .where(RequisitionStep.requisition_id == req.id)
            .order_by(RequisitionStep.id)
        ).all()
        return self._summary(s, req) | {
            "lines": [
                {
                    "id": ln.id,
                    "gtin": ln.gtin,
                    "name": names.get(ln.gtin, ""),
                    "ordered_gtin": ln.ordered_gtin,
                    "ordered_quantity": ln.ordered_quantity,
                    "quantity": ln.quantity,
                    "issued": ln.issued,
                    "received": received[ln.id],
                    "back_order": 0 if ln.closed else ln.quantity - ln.issued,
                    "closed": ln.closed,
                }
                for ln in lines
            ],
            "picks": [
                {
                    "line_id": p.line_id,
                    "lot": lot,
                    "expiry": e.isoformat() if e else None,
                    "epc": p.epc,
                    "quantity": p.quantity,
                    "reason": p.reason,
                    "received_at": iso(p.received_at),
                    "received_by": p.received_by,
                }
                for p, lot, e in picks
            ],
            "history": [
                {
                    "action": st.action,
                    "status": st.status,
                    "actor": st.actor,
                    "at": iso(st.at),
                    "level": st.level,
                    "comment": st.comment,
                }
                for st in steps
            ],
        }

    # --- approving ------------------------------------------------------------------------
    def _approver_check(self, s: Session, who: Principal, req: Requisition, what: str) -> None:
        """Refusals of the person, whatever the status: role, own requisition, scope and,
        while a level waits, that level's role (an admin may act for any level)."""
        if not who.may(Permission.APPROVE):
            raise Forbidden(f"the {who.role} role may not {what} requisitions")
        if who.user == req.requester:
            raise Forbidden(f"nobody may {what} their own requisition")
        dest = s.get(Location, req.to_location_id)
        if dest is None or not who.covers(dest.code, req.department):
            raise Forbidden(f"requisition #{req.id} is outside your department scope")
        pending = pending_levels(req) if req.status == Status.SUBMITTED else []
        if pending and who.role not in (pending[0].role, Role.ADMIN):
            raise Forbidden(f"the {pending[0].name} approval needs the {pending[0].role} role")

    def approve_requisition(self, who: Principal, rid: int, comment: str = "") -> dict[str, Any]:
        """The next approval level's (a user of its role, in scope, not the requester)."""
        return self._decide(who, rid, Action.APPROVE, comment)

    def reject_requisition(self, who: Principal, rid: int, reason: str) -> dict[str, Any]:
        if not reason.strip():
            raise Invalid("reason: a rejection needs a reason")
        return self._decide(who, rid, Action.REJECT, reason)

    def review_requisition(self, who: Principal, rid: int, comment: str = "") -> dict[str, Any]:
        """An emergency's approval after the fact, by a user of its first level's role."""
        return self._decide(who, rid, Action.REVIEW, comment)

    def cancel_requisition(self, who: Principal, rid: int, comment: str = "") -> dict[str, Any]:
        """By the requester, before the issue."""
        return self._decide(who, rid, Action.CANCEL, comment)

    def _decide(self, who: Principal, rid: int, action: Action, comment: str) -> dict[str, Any]:
        now = self.clock.now()
        with self.transaction() as s:
            req = self._load(s, who, rid)
            level = ""
            if action == Action.CANCEL:
                if who.user != req.requester:
                    raise Forbidden("only the requester may cancel a requisition")
                req.status = _next(req, action)
            elif action == Action.REVIEW:
                self._approver_check(s, who, req, action)
                levels = _levels(req.levels)
                if levels and who.role not in (levels[0].role, Role.ADMIN):
                    raise Forbidden(f"the review needs the {levels[0].role} role")
                level = levels[0].name if levels else ""
                req.status = _next(req, action, needs_review=req.needs_review)
                req.needs_review = False
            else:
                self._approver_check(s, who, req, action)
                pending = pending_levels(req)
                level = pending[0].name if pending else ""
                req.status = _next(req, action, levels_left=len(pending))
                if action == Action.APPROVE:
                    req.approved = ",".join(filter(None, [*req.approved.split(","), level]))
            _step(s, req, action, who.user, now, level=level, comment=comment)
        return self.requisition(who, rid)

    # --- issuing --------------------------------------------------------------------------
    def candidates(self, s: Session, store: int, gtin: str, today: date) -> list[Candidate]:
        """The batches of `gtin` at the store that may be issued, first to expire first;
        locked (recalled) and expired batches are never offered."""
        rows = s.execute(
            select(Batch.id, Batch.lot, Batch.expiry, Stock.quantity)
            .join(Stock, Stock.batch_id == Batch.id)
            .where(
                Stock.location_id == store,
                Batch.gtin == gtin,
                Stock.quantity > 0,
                Batch.locked.is_(False),
            )
        ).all()
        rows = [r for r in rows if r.expiry is None or r.expiry >= today]
        tags: dict[int, list[str]] = defaultdict(list)
        if rows:
            for epc, batch_id in s.execute(
                select(Tag.epc, Tag.batch_id)
                .where(Tag.location_id == store, Tag.batch_id.in_([r.id for r in rows]))
                .order_by(Tag.epc)
            ):
                tags[batch_id].append(epc)
        out = [
            Candidate(
                batch_id=r.id,
                lot=r.lot,
                expiry=r.expiry,
                untagged=max(0, r.quantity - len(tags[r.id])),
                tags=tuple(tags[r.id]),
            )
            for r in rows
        ]
        out.sort(key=lambda c: (c.expiry is None, c.expiry or date.max, c.lot))
        return [c for c in out if c.available > 0]

    def pick_list(self, who: Principal, rid: int) -> dict[str, Any]:
        """What to pick for each open line, first-expiry-first-out, and what FEFO suggests."""
        with self.session() as s:
            req = self._load(s, who, rid, lock=False)
            today = self.clock.today()
            lines = s.scalars(
                select(RequisitionLine)
                .where(RequisitionLine.requisition_id == rid)
                .order_by(RequisitionLine.id)
            ).all()
            out = []
            for ln in lines:
                want = 0 if ln.closed else ln.quantity - ln.issued
                cands = (
                    self.candidates(s, req.from_location_id, ln.gtin, today)
                    if (req.from_location_id and want > 0)
                    else []
                )
                left, batches = want, []
                for c in cands:
                    take = min(left, c.available)
                    left -= take
                    batches.append(
                        {
                            "lot": c.lot,
                            "expiry": c.expiry.isoformat() if c.expiry else None,
                            "available": c.available,
                            "tagged": len(c.tags),
                            "suggested": take,
                        }
                    )
                out.append(
                    {
                        "line_id": ln.id,
                        "gtin": ln.gtin,
                        "open": want,
                        "short": left,
                        "batches": batches,
                    }
                )
            return self._summary(s, req) | {"lines": out}

    def issue_requisition(
        self,
        who: Principal,
        rid: int,
        picks: list[PickIn] | None = None,
        *,
        from_location: str | None = None,
        close: bool = False,
        witness: Principal | None = None,
    ) -> dict[str, Any]:
        """Issue from the store: the given picks, or first-expiry-first-out what the open
        lines need (as much as there is: the rest stays a back-order, unless `close`).
        High-value and controlled products need `witness`, a second authorised person."""
        if not who.may(Permission.ISSUE):
            raise Forbidden(f"the {who.role} role may not issue requisitions")
        now, today = self.clock.now(), self.clock.today()
        with self.transaction() as s:
            req = self._load(s, who, rid)
            store = self._issuing_store(s, who, req, from_location)
            lines = s.scalars(
                select(RequisitionLine)
                .where(RequisitionLine.requisition_id == rid)
                .order_by(RequisitionLine.id)
            ).all()
            open_lines = {ln.gtin: ln for ln in lines if not ln.closed and ln.issued < ln.quantity}
            before, req.status = req.status, _next(req, Action.ISSUE, back_order=bool(open_lines))
            chosen = (
                self._auto_picks(s, store, open_lines, today)
                if picks is None
                else self._given_picks(s, store, open_lines, picks, today)
            )
            names = self.two_person_products(s, {line.gtin for line, *_ in chosen})
            if names:
                place = s.get(Location, store)
                assert place is not None
                counts: dict[str, int] = defaultdict(int)
                for line, _c, epcs, qty, _r in chosen:
                    counts[line.gtin] += len(epcs) + qty
                what = ", ".join(f"{counts[g]} x {n}" for g, n in sorted(names.items()))
                self._witnessed(s, who, witness, place, what, rid, now)
            if chosen:
                self._book_picks(s, req, chosen, store, who.user, now)
                req.issued_at = now
            elif close:  # nothing more to issue: the store gives the back-order up
                req.status = Status(before)
            else:
                raise Invalid(f"lines: nothing of requisition #{rid} is in stock at the store")
            if close:
                for ln in lines:
                    ln.closed = ln.closed or ln.issued < ln.quantity
            short = sum(ln.quantity - ln.issued for ln in lines if not ln.closed)
            done = f"{sum(ln.issued for ln in lines)} issued" if chosen else "back-order closed"
            more = f", {short} back-ordered" if short else ""
            seen = f"; witness {witness.user}" if names and witness else ""
            _step(s, req, Action.ISSUE, who.user, now, comment=done + more + seen)
        return self.requisition(who, rid)

    def _book_picks(
        self, s: Session, req: Requisition, chosen: list[Chosen], store: int, user: str,
        now: datetime,
    ) -> None:  # fmt: skip
        """The picks leave the store for the site's in-transit location, one movement each."""
        dest = s.get(Location, req.to_location_id)
        assert dest is not None
        transit = self._transit(s, dest.code.split("/", 1)[0])
        p, why = Pending(), f"requisition #{req.id}"
        for line, cand, epcs, qty, reason in chosen:
            if epcs:
                move = TagMove(epcs=epcs, batch_id=cand.batch_id, from_id=store, to_id=transit,
                               at=now, kind="issue", biz_step="departing", actor=user,
                               reason=why, expect_known=True)  # fmt: skip
                self._move_tags(s, p, move)
            if qty:
                p.move_quantity(batch_id=cand.batch_id, from_id=store, to_id=transit,
                                quantity=qty, kind="issue", at=now, biz_step="departing",
                                actor=user, reason=why)  # fmt: skip
            rows = [(e, 1) for e in epcs] + ([(None, qty)] if qty else [])
            s.add_all(RequisitionPick(requisition_id=req.id, line_id=line.id,
                                      batch_id=cand.batch_id, epc=e, quantity=n, reason=reason)
                      for e, n in rows)  # fmt: skip
            line.issued += len(epcs) + qty
        self._write(s, p)

    def _issuing_store(self, s: Session, who: Principal, req: Requisition, code: str | None) -> int:
        if code is not None:
            found = s.scalars(select(Location).where(Location.code == code)).one_or_none()
            if found is None:
                raise Invalid(f"from_location: no location {code[:80]!r}")
            req.from_location_id = found.id
        if req.from_location_id is None:  # the configuration may name one since
            dest = s.get(Location, req.to_location_id)
            req.from_location_id = self._store_of(s, dest.code) if dest else None
        store = s.get(Location, req.from_location_id) if req.from_location_id else None
        if store is None:
            raise Invalid("from_location: this requisition has no store; name one")
        if not who.covers(store.code, store.department):
            raise Forbidden(f"from_location: {store.code} is not in your scope")
        return store.id

    def _transit(self, s: Session, site: str) -> int:
        loc = self._location(s, site, TRANSIT_ZONE)
        row = s.get(Location, loc)
        if row is not None and row.kind != TRANSIT_KIND:
            row.kind = TRANSIT_KIND
        return loc

    def _auto_picks(
        self, s: Session, store: int, lines: dict[str, RequisitionLine], today: date
    ) -> list[Chosen]:
        out = []
        for gtin, line in lines.items():
            left = line.quantity - line.issued
            for c in self.candidates(s, store, gtin, today):
                epcs = c.tags[:left]
                qty = min(left - len(epcs), c.untagged)
                if epcs or qty:
                    out.append((line, c, epcs, qty, ""))
                left -= len(epcs) + qty
                if left == 0:
                    break
        return out

    def _given_picks(
        self,
        s: Session,
        store: int,
        lines: dict[str, RequisitionLine],
        picks: list[PickIn],
        today: date,
    ) -> list[Chosen]:
        packs = pack_sizes(s)
        out, problems = [], []
        wanted: dict[str, int] = {g: ln.quantity - ln.issued for g, ln in lines.items()}
        used: dict[int, int] = defaultdict(int)
        for i, pick in enumerate(picks):
            gtin, per = packs.get(pick.gtin, (pick.gtin, 1))
            line = lines.get(gtin)
            if line is None:
                problems.append(f"lines[{i}].gtin: no open line of {pick.gtin[:14]!r}")
                continue
            cands = self.candidates(s, store, gtin, today)
            cand = next((c for c in cands if c.lot == pick.lot), None)
            if cand is None:
                batch = s.scalars(
                    select(Batch).where(Batch.gtin == gtin, Batch.lot == pick.lot)
                ).one_or_none()
                why = (
                    "is recalled (locked)"
                    if batch is not None and batch.locked
                    else "has expired"
                    if batch is not None and batch.expiry is not None and batch.expiry < today
                    else "is not in stock at the store"
                )
                problems.append(f"lines[{i}].lot: {pick.lot[:20]!r} {why}")
                continue
            if used[cand.batch_id]:
                problems.append(f"lines[{i}].lot: lot {cand.lot} is given twice; give it once")
                continue
            # the first to expire of what this issue has not taken yet
            first = next((c for c in cands if used[c.batch_id] < c.available), cand)
            if cand is not first and not pick.reason.strip():
                problems.append(
                    f"lines[{i}].reason: lot {cand.lot} is not the first to expire"
                    f" ({first.lot} is); say why"
                )
                continue
            epcs, qty = tuple(pick.epcs), pick.quantity * per
            strange = [e for e in epcs if e not in cand.tags]
            if strange:
                problems.append(
                    f"lines[{i}].epcs: not at the store in lot {cand.lot}: {', '.join(strange[:3])}"
                )
                continue
            if not epcs and qty > cand.untagged:  # a quantity of a tagged lot: its first tags
                epcs = cand.tags[: qty - cand.untagged]
                qty -= len(epcs)
            count = len(epcs) + qty
            if count == 0 or count > wanted[gtin] or qty > cand.untagged:
                problems.append(
                    f"lines[{i}].quantity: {count} of lot {cand.lot}; the line"
                    f" needs {wanted[gtin]} and the lot has {cand.available}"
                )
                continue
            wanted[gtin] -= count
            used[cand.batch_id] += count
            out.append((line, cand, epcs, qty, pick.reason.strip()[:500]))
        if problems:
            raise Invalid("; ".join(problems[:20]))
        return out

    # --- receiving ------------------------------------------------------------------------
    def receive_requisition(self, who: Principal, rid: int, comment: str = "") -> dict[str, Any]:
        """The destination confirms the issued goods: what is still in transit is put there."""
        if not who.may(Permission.REQUEST):
            raise Forbidden(f"the {who.role} role may not confirm receipts")
        now = self.clock.now()
        with self.transaction() as s:
            req = self._load(s, who, rid)
            dest = s.get(Location, req.to_location_id)
            if dest is None or not who.covers(dest.code, req.department):
                raise Forbidden(f"requisition #{rid}'s destination is not in your scope")
            waiting = self._unreceived(s, rid)
            req.status = _next(req, Action.RECEIVE, in_transit=bool(waiting))
            transit = self._transit(s, dest.code.split("/", 1)[0])
            p = Pending()
            where = dict(
                s.execute(
                    select(Tag.epc, Tag.location_id).where(
                        Tag.epc.in_([w.epc for w in waiting if w.epc])
                    )
                ).all()
            )
            tagged: dict[int, list[str]] = defaultdict(list)
            for pick in waiting:
                if pick.epc is None:
                    p.move_quantity(
                        batch_id=pick.batch_id,
                        from_id=transit,
                        to_id=dest.id,
                        quantity=pick.quantity,
                        kind="requisition_receipt",
                        at=now,
                        biz_step="receiving",
                        actor=who.user,
                        reason=f"requisition #{rid}",
                    )
                elif where.get(pick.epc) == transit:
                    tagged[pick.batch_id].append(pick.epc)
                pick.received_at, pick.received_by = now, who.user
            for batch_id, epcs in sorted(tagged.items()):
                self._move_tags(
                    s,
                    p,
                    TagMove(
                        epcs=tuple(epcs),
                        batch_id=batch_id,
                        from_id=transit,
                        to_id=dest.id,
                        at=now,
                        kind="requisition_receipt",
                        biz_step="receiving",
                        actor=who.user,
                        reason=f"requisition #{rid}",
                    ),
                )
            self._write(s, p)
            req.received_at = now
            _step(s, req, Action.RECEIVE, who.user, now, comment=comment)
        return self.requisition(who, rid)

    def _unreceived(self, s: Session, rid: int) -> list[RequisitionPick]:
        return list(
            s.scalars(
                select(RequisitionPick).where(
                    RequisitionPick.requisition_id == rid, RequisitionPick.received_at.is_(None)
                )
            )
        )

    def watch_requisitions(self) -> int:
        """On the ledger's schedule: issued items that a reader has seen at their destination
        (a gate or a cabinet) are received, a requisition once all its items are; alerts for
        approvals that wait, goods that do not arrive and emergencies not yet reviewed.
        Returns how many requisitions were received."""
        now, cfg = self.clock.now(), self.requisition_rules
        done = 0
        with self.transaction() as s:
            issued = s.scalars(select(Requisition).where(Requisition.status == Status.ISSUED))
            for req in issued:
                done += self._received_by_reads(s, req, now)
            present = []
            codes = dict(s.execute(select(Location.id, Location.code)).all())
            for req in s.scalars(
                select(Requisition).where(Requisition.status.in_(OPEN) | Requisition.needs_review)
            ):
                where, key = codes.get(req.to_location_id, "?"), f"{req.id}@{req.to_location_id}"
                pending = pending_levels(req)
                if (
                    req.status == Status.SUBMITTED
                    and pending
                    and (now - as_utc(req.updated_at) > timedelta(seconds=cfg.approval_alert_s))
                ):
                    present.append(
                        alerts.Condition(
                            "requisition_approval",
                            key,
                            "warning",
                            f"requisition #{req.id} for {where} waits for the {pending[0].role}'s"
                            " approval",
                        )
                    )
                if (
                    req.status == Status.ISSUED
                    and req.issued_at is not None
                    and (now - as_utc(req.issued_at) > timedelta(seconds=cfg.receipt_alert_s))
                ):
                    present.append(
                        alerts.Condition(
                            "requisition_receipt",
                            key,
                            "warning",
                            f"requisition #{req.id} for {where}: issued goods have not arrived",
                        )
                    )
                if req.needs_review and req.status != Status.CANCELLED:
                    present.append(
                        alerts.Condition(
                            "requisition_review",
                            key,
                            "info",
                            f"emergency requisition #{req.id} for {where} awaits its review",
                        )
                    )
            present += self._take_checks(s, now)
            alerts.sync(s, ALERT_KINDS, present, now)
        return done

    def _received_by_reads(self, s: Session, req: Requisition, now: datetime) -> int:
        waiting = self._unreceived(s, req.id)
        epcs = [w.epc for w in waiting if w.epc]
        if not epcs:
            return 0
        places = {req.to_location_id} | set(
            s.scalars(select(Location.id).where(Location.parent_id == req.to_location_id))
        )
        seen = {
            epc: (at, actor)
            for epc, at, actor in s.execute(
                select(TagHistory.epc, func.max(TagHistory.at), func.max(TagHistory.actor))
                .where(
                    TagHistory.epc.in_(epcs),
                    TagHistory.to_location_id.in_(places),
                    TagHistory.at >= req.issued_at,
                )
                .group_by(TagHistory.epc)
            )
        }
        at_place = set(
            s.scalars(select(Tag.epc).where(Tag.epc.in_(epcs), Tag.location_id.in_(places)))
        )
        readers = set()
        for pick in waiting:
            if pick.epc in at_place and pick.epc in seen:
                pick.received_at, pick.received_by = seen[pick.epc][0], seen[pick.epc][1]
                readers.add(seen[pick.epc][1])
        if any(w.received_at is None for w in waiting):
            return 0
        req.status, req.received_at = Status.RECEIVED, now
        _step(
            s,
            req,
            Action.RECEIVE,
            ", ".join(sorted(readers))[:200] or "reader",
            now,
            comment="read at the destination",
        )
        return 1
