"""A person's bookings (returns, loss, scrap, adjustments), stocktakes and recall locks:
each with who and why, each a movement in the journal."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central import alerts
from central.errors import Conflict, Invalid, NotFound
from central.ledger.base import location_problem, tag_column
from central.ledger.moves import Moving, Pending, TagMove
from central.ledger.queries import Queries
from central.models import Batch, Movement, Stock, Stocktake, StocktakeLine, Tag
from central.vocab import BookingKind, StocktakeState

if TYPE_CHECKING:
    from central.signatures import Signed


class BookingError(Invalid):
    """A booking (return, loss, scrap, adjustment, stocktake) that cannot be made."""


BOOKING_KINDS = tuple(BookingKind)


class Bookings(Moving, Queries):
    def book(
        self,
        kind: str,
        *,
        location: str,
        user: str,
        reason: str,
        epcs: tuple[str, ...] = (),
        gtin: str = "",
        lot: str = "",
        quantity: int = 0,
        case_id: str = "",
    ) -> int:
        """A person's booking with a reason: `return` (items come back to `location`), `loss`
        and `scrap` (items leave stock from `location`), `adjustment` (tagged items put at
        `location`, or a signed quantity of an untagged batch). Tagged items are named by
        EPC, untagged goods by GTIN, lot and quantity. Returns the number of items booked."""
        if kind not in BOOKING_KINDS:  # a StrEnum member or its text
            raise BookingError(f"unknown booking kind {kind!r} (one of {', '.join(BOOKING_KINDS)})")
        if not reason.strip() or not user.strip():
            raise BookingError("a booking needs a user and a reason")
        if bool(epcs) == bool(quantity):
            raise BookingError("give either EPCs or a quantity of a GTIN and lot")
        if problem := location_problem(location):
            raise BookingError(problem)
        with self.transaction() as s:
            return self._book(s, kind, location, user, reason, epcs, gtin, lot, quantity, case_id)

    def _book(
        self, s: Session, kind: str, location: str, user: str, reason: str,
        epcs: tuple[str, ...], gtin: str, lot: str, quantity: int, case_id: str,
    ) -> int:  # fmt: skip
        """`book` within the caller's transaction (an approval books and decides at once)."""
        now = self.clock.now()
        loc = self._place(s, location)
        if epcs:
            return self._book_tags(s, kind, loc, epcs, user, reason, case_id, now)
        return self._book_quantity(s, kind, loc, gtin, lot, quantity, user, reason, now)

    def _book_tags(
        self,
        s: Session,
        kind: str,
        loc: int,
        epcs: tuple[str, ...],
        user: str,
        reason: str,
        case_id: str,
        now: datetime,
    ) -> int:
        known = tag_column(s, Tag.batch_id, epcs)
        unknown = [e for e in epcs if e not in known]
        if unknown:
            raise BookingError(f"not commissioned: {', '.join(unknown[:5])}")
        leaving = kind in (BookingKind.LOSS, BookingKind.SCRAP)
        by_batch: dict[int, list[str]] = defaultdict(list)
        for epc in epcs:
            by_batch[known[epc]].append(epc)
        p = Pending()
        for batch_id, members in sorted(by_batch.items()):
            move = TagMove(
                epcs=tuple(members), batch_id=batch_id, from_id=loc if leaving else None,
                to_id=None if leaving else loc, at=now, kind=kind, actor=user, case_id=case_id,
                reason=reason, expect_known=leaving,
            )  # fmt: skip
            self._move_tags(s, p, move)
        self._write(s, p)
        return len(epcs)

    def _book_quantity(
        self,
        s: Session,
        kind: str,
        loc: int,
        gtin: str,
        lot: str,
        quantity: int,
        user: str,
        reason: str,
        now: datetime,
    ) -> int:
        delta = -abs(quantity) if kind in (BookingKind.LOSS, BookingKind.SCRAP) else quantity
        if kind == BookingKind.RETURN:
            delta = abs(quantity)
        batch_id = s.scalar(select(Batch.id).where(Batch.gtin == gtin, Batch.lot == lot))
        if batch_id is None:
            raise BookingError(f"no batch {gtin} lot {lot}")
        have = s.scalar(
            select(Stock.quantity).where(Stock.location_id == loc, Stock.batch_id == batch_id)
        )
        if (have or 0) + delta < 0:
            raise BookingError(f"only {have or 0} of {gtin} lot {lot} there; cannot book {delta}")
        self._add_stock(s, loc, batch_id, delta)
        s.add(
            Movement(
                event_id=None, kind=kind, batch_id=batch_id,
                from_location_id=loc if delta < 0 else None,
                to_location_id=loc if delta > 0 else None, quantity=abs(delta), biz_step="",
                actor=user, case_id="", reason=reason, occurred_at=now, recorded_at=now,
            )
        )  # fmt: skip
        return abs(delta)

    def stocktake(
        self, location: str, epcs: list[str], *, user: str, source: str = "handheld"
    ) -> dict[str, Any]:
        """Compare a count of `location` (EPCs read by a handheld or a cabinet scan) with the
        ledger: accuracy and the discrepancy lines to confirm (`confirm_stocktake`)."""
        if problem := location_problem(location):
            raise BookingError(problem)
        with self.transaction() as s:
            stocktake_id = self._count_tags(s, location, epcs, user, source).id
        return self.stocktake_report(stocktake_id)

    def _count_tags(
        self, s: Session, location: str, epcs: list[str], user: str, source: str
    ) -> Stocktake:
        loc = self._place(s, location)
        expected = set(s.scalars(select(Tag.epc).where(Tag.location_id == loc)))
        counted = set(epcs)
        matched = expected & counted
        everything = expected | counted
        take = Stocktake(
            location_id=loc, source=source, counted_by=user, created_at=self.clock.now(),
            expected=len(expected), counted=len(counted), matched=len(matched),
            accuracy=len(matched) / len(everything) if everything else 1.0,
            state=StocktakeState.OPEN,
        )  # fmt: skip
        s.add(take)
        s.flush()
        where = tag_column(s, Tag.location_id, counted - expected)
        for epc in sorted(expected - counted):
            s.add(StocktakeLine(stocktake_id=take.id, epc=epc, finding="missing",
                                ledger_location_id=loc))  # fmt: skip
        for epc in sorted(counted - expected):
            s.add(StocktakeLine(stocktake_id=take.id, epc=epc, finding="unexpected",
                                ledger_location_id=where.get(epc)))  # fmt: skip
        return take

    def confirm_stocktake(self, stocktake_id: int, *, signed: Signed) -> dict[str, Any]:
        """Book the count: missing items leave stock, unexpected ones are put where they were
        counted (each a `stocktake` movement with the reason). Uncommissioned EPCs cannot be
        booked and stay as lines to resolve at receiving. Signed by who confirms."""
        now = self.clock.now()
        user = signed.who.user
        with self.transaction() as s:
            take = s.get(Stocktake, stocktake_id)
            if take is None:
                raise NotFound(f"no stocktake {stocktake_id}")
            if take.state != StocktakeState.OPEN:
                raise Conflict(f"stocktake {stocktake_id} is already {take.state}")
            lines = list(
                s.scalars(select(StocktakeLine).where(StocktakeLine.stocktake_id == take.id))
            )
            epcs = tuple(ln.epc for ln in lines if ln.epc)
            batches = tag_column(s, Tag.batch_id, epcs)
            groups: dict[tuple[str, int], list[str]] = defaultdict(list)
            for ln in lines:
                if ln.epc in batches:
                    groups[(ln.finding, batches[ln.epc])].append(ln.epc)
            p = Pending()
            for ln in lines:  # an untagged batch counted by scan: its quantity corrected
                if not ln.epc and ln.batch_id is not None and ln.counted_quantity is not None:
                    delta = ln.counted_quantity - (ln.expected_quantity or 0)
                    p.move_quantity(
                        batch_id=ln.batch_id, from_id=take.location_id if delta < 0 else None,
                        to_id=take.location_id if delta > 0 else None, quantity=abs(delta),
                        kind="stocktake", at=now, biz_step="cycle_counting", actor=user,
                        reason=f"{ln.finding} at stocktake #{take.id}",
                    )  # fmt: skip
            for (finding, batch_id), members in sorted(groups.items()):
                missing = finding == "missing"
                move = TagMove(
                    epcs=tuple(members), batch_id=batch_id,
                    from_id=take.location_id if missing else None,
                    to_id=None if missing else take.location_id, at=now, kind="stocktake",
                    biz_step="cycle_counting", actor=user,
                    reason=f"{finding} at stocktake #{take.id}",
                )  # fmt: skip
                self._move_tags(s, p, move)
            self._write(s, p)
            take.state, take.confirmed_by, take.confirmed_at = StocktakeState.CONFIRMED, user, now
            signed.record(s, action="stocktake_confirm", subject=f"stocktake {take.id}", now=now)
        return self.stocktake_report(stocktake_id)

    def lock_batch(self, gtin: str, lot: str, *, signed: Signed, locked: bool = True) -> None:
        """Recall lock (or unlock) a batch, signed with a reason; while locked, any movement
        of it raises an alert."""
        now = self.clock.now()
        user, reason = signed.who.user, signed.reason
        with self.transaction() as s:
            batch = s.scalars(
                select(Batch).where(Batch.gtin == gtin, Batch.lot == lot)
            ).one_or_none()
            if batch is None:
                raise NotFound(f"no batch {gtin} lot {lot}")
            batch.locked = locked
            cond = [
                alerts.Condition(
                    "recall", str(batch.id), "critical", f"batch {gtin} lot {lot} locked by {user}"
                )
            ]
            alerts.sync_key(s, "recall", str(batch.id), cond if locked else [], now)
            s.add(
                Movement(
                    event_id=None, kind="recall_lock" if locked else "recall_unlock",
                    batch_id=batch.id,
                    from_location_id=None, to_location_id=None, quantity=0, biz_step="", actor=user,
                    case_id="", reason=reason[:500], occurred_at=now, recorded_at=now,
                )
            )  # fmt: skip
            signed.record(s, action="recall_lock" if locked else "recall_unlock",
                          subject=f"{gtin}/{lot}", now=now)  # fmt: skip
