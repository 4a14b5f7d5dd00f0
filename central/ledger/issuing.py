"""Issuing and receiving requisitions: the store's pick list first-expiry-first-out
(locked and expired lots never offered), the issue (partial, with back-orders; another lot
with a reason; a second person for controlled and high-value products) into the site's
in-transit location, and the receipt at the destination, by its readers (on the ledger's
schedule, with the workflow's alerts) or by a person."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central import alerts
from central.accounts import Principal
from central.clock import as_utc
from central.errors import Forbidden, Invalid
from central.ledger.moves import Pending, TagMove
from central.ledger.receiving import pack_sizes
from central.ledger.requisitions import (
    TRANSIT_KIND,
    TRANSIT_ZONE,
    Requisitions,
    next_status,
    pending_levels,
    record_step,
)
from central.ledger.witnessing import ALERT_KIND as TWO_PERSON
from central.models import (
    Batch,
    Location,
    Requisition,
    RequisitionLine,
    RequisitionPick,
    Stock,
    Tag,
    TagHistory,
)
from central.vocab import Permission
from rules.requisitions import OPEN, Action, Status

ALERT_KINDS = ("requisition_approval", "requisition_receipt", "requisition_review", TWO_PERSON)


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


class Issuing(Requisitions):
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
            before, req.status = (
                req.status,
                next_status(req, Action.ISSUE, back_order=bool(open_lines)),
            )
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
            record_step(s, req, Action.ISSUE, who.user, now, comment=done + more + seen)
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
        """The destination confirms the issued goods: what the ledger does not have there yet
        (in transit, or read somewhere on the way) is put there."""
        if not who.may(Permission.REQUEST):
            raise Forbidden(f"the {who.role} role may not confirm receipts")
        now = self.clock.now()
        with self.transaction() as s:
            req = self._load(s, who, rid)
            dest = s.get(Location, req.to_location_id)
            if dest is None or not who.covers(dest.code, req.department):
                raise Forbidden(f"requisition #{rid}'s destination is not in your scope")
            waiting = self._unreceived(s, rid)
            req.status = next_status(req, Action.RECEIVE, in_transit=bool(waiting))
            transit = self._transit(s, dest.code.split("/", 1)[0])
            p = Pending()
            where = dict(
                s.execute(
                    select(Tag.epc, Tag.location_id).where(
                        Tag.epc.in_([w.epc for w in waiting if w.epc])
                    )
                ).all()
            )
            tagged: dict[tuple[int, int | None], list[str]] = defaultdict(list)
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
                elif where.get(pick.epc) != dest.id:
                    tagged[(pick.batch_id, where.get(pick.epc))].append(pick.epc)
                pick.received_at, pick.received_by = now, who.user
            for (batch_id, here), epcs in sorted(tagged.items(), key=lambda kv: str(kv[0])):
                self._move_tags(
                    s,
                    p,
                    TagMove(
                        epcs=tuple(epcs),
                        batch_id=batch_id,
                        from_id=here,
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
            record_step(s, req, Action.RECEIVE, who.user, now, comment=comment)
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
        record_step(
            s,
            req,
            Action.RECEIVE,
            ", ".join(sorted(readers))[:200] or "reader",
            now,
            comment="read at the destination",
        )
        return 1
