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
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.accounts import Principal
from central.config import RequisitionConfig
from central.errors import Conflict, Forbidden, Invalid, NotFound
from central.ledger.base import iso
from central.ledger.moves import Moving
from central.ledger.receiving import pack_sizes
from central.ledger.witnessing import Witnessing
from central.models import (
    Batch,
    Location,
    Product,
    Requisition,
    RequisitionLine,
    RequisitionPick,
    RequisitionStep,
)
from central.vocab import Permission, Role
from rules.requisitions import OPEN, Action, ApprovalLevel, Priority, Status, StatusRefused, after

TRANSIT_ZONE, TRANSIT_KIND = "in-transit", "transit"
SYSTEM = "system"  # the requester of automatic replenishments
MAX_LINES, MAX_QUANTITY = 200, 1_000_000


@dataclass(frozen=True, slots=True)
class LineIn:
    """A requested line: a product's GTIN or one of its packs', and how many of that unit."""

    gtin: str
    quantity: int


def _levels(text: str) -> list[ApprovalLevel]:
    """The approval levels stored with a requisition (name:role, in order): a change of
    the configuration does not change what a submitted requisition needs."""
    out = []
    for part in filter(None, text.split(",")):
        name, _, role = part.partition(":")
        out.append(ApprovalLevel(name=name, role=role))
    return out


class Approvable(Protocol):
    """What waits for approval levels: a requisition or a purchase order."""

    levels: str  # the levels it needs, "name:role,..." in order
    approved: str  # the names of those done


def pending_levels(req: Approvable) -> list[ApprovalLevel]:
    done = set(filter(None, req.approved.split(",")))
    return [lvl for lvl in _levels(req.levels) if lvl.name not in done]


def record_step(
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


def next_status(req: Requisition, action: Action, **facts: Any) -> Status:
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
    record_step(s, req, Action.SUBMIT, SYSTEM, now, comment="stock below its minimum")
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
            record_step(s, req, Action.SUBMIT, who.user, now, comment=note)
            if bypass:
                record_step(
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
            classes |= product.classes()
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
                req.status = next_status(req, action)
            elif action == Action.REVIEW:
                self._approver_check(s, who, req, action)
                levels = _levels(req.levels)
                if levels and who.role not in (levels[0].role, Role.ADMIN):
                    raise Forbidden(f"the review needs the {levels[0].role} role")
                level = levels[0].name if levels else ""
                req.status = next_status(req, action, needs_review=req.needs_review)
                req.needs_review = False
            else:
                self._approver_check(s, who, req, action)
                pending = pending_levels(req)
                level = pending[0].name if pending else ""
                req.status = next_status(req, action, levels_left=len(pending))
                if action == Action.APPROVE:
                    req.approved = ",".join(filter(None, [*req.approved.split(","), level]))
            record_step(s, req, action, who.user, now, level=level, comment=comment)
        return self.requisition(who, rid)
