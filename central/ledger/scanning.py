"""Scans against the ledger: each scanned code resolved to its product, batch and tag (a
serialised GTIN is the tag its SGTIN names, whether an RFID tag or a code hwms
commissioned), checked for what the person is doing, then received, moved or counted as
the same movements gates and cabinets make.

- receive: serialised items become tags (their SGTIN URI), the rest quantities; a line
  without lot or expiry (a bare GTIN, an HIBC primary) takes what the storekeeper typed;
  the SSCC of a shipping unit that a supplier's ship notice announced stands for the notice
  (booked against its purchase order, `po_receiving.py`);
- issue (store -> ward), dispense (out, to a case or patient) and return (back in);
  a scan without a lot takes the first-expiring batch there (FEFO), never a locked or
  expired one;
- count: a stocktake of tags (scanned and RFID-read together) and untagged batches.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.errors import Invalid, listed
from central.ledger.base import location_problem, tag_column
from central.ledger.bookings import Bookings
from central.ledger.moves import Pending, TagMove
from central.ledger.receiving import ReceiptLine, Receiving, pack_sizes
from central.models import (
    Batch,
    Location,
    Product,
    PurchaseOrder,
    ShipNotice,
    ShipNoticeLine,
    Stock,
    StocktakeLine,
    Tag,
)
from rules.scan import ItemIdentity, ScanError, ScanJoiner

MAX_SCANS = 5_000  # one session at one screen


class ScanPurpose(StrEnum):
    RECEIVE = "receive"
    ISSUE = "issue"
    DISPENSE = "dispense"
    RETURN = "return"
    COUNT = "count"


LEAVING = (ScanPurpose.ISSUE, ScanPurpose.DISPENSE)
BIZ_STEP = {ScanPurpose.ISSUE: "departing", ScanPurpose.DISPENSE: "dispensing",
            ScanPurpose.RETURN: "returning"}  # fmt: skip


class ScanBookingError(Invalid):
    """Scans that cannot be booked; the message lists every refused scan."""


@dataclass(frozen=True, slots=True)
class ResolvedScan:
    """One scan as the ledger sees it; `problem` refuses it."""

    code: str
    ident: ItemIdentity | None = None
    gtin: str = ""
    name: str = ""
    lot: str = ""
    expiry: date | None = None
    epc: str = ""  # the tag (serialised items)
    at: str = ""  # where the ledger has the tag, "" when not in stock
    quantity: int = 1
    problem: str = ""
    notice: int | None = None  # receiving: the SSCC of a ship notice on its way here

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "gtin": self.gtin, "name": self.name, "lot": self.lot,
                "expiry": self.expiry.isoformat() if self.expiry else "", "epc": self.epc,
                "at": self.at, "quantity": self.quantity, "problem": self.problem,
                "notice": self.notice}  # fmt: skip


def split_codes(text: str) -> list[str]:
    """Scans one per line (a wedge ends each with Enter); not `splitlines`, which would
    split at the GS separators inside GS1 data."""
    return [c for c in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if c.strip()]


class Scanning(Receiving, Bookings):
    def resolve_scans(
        self,
        codes: list[str],
        purpose: ScanPurpose,
        location: str,
        *,
        fill: Mapping[str, tuple[str, date | None]] | None = None,
    ) -> list[ResolvedScan]:
        """Every scan resolved and checked for `purpose` at `location`; `fill` gives a
        GTIN's lot and expiry where its scans carry none (receiving)."""
        if len(codes) > MAX_SCANS:
            raise ScanBookingError(f"more than {MAX_SCANS} scans at once")
        joiner, parsed = ScanJoiner(), []
        for code in codes:
            try:
                ident = joiner.feed(code)
            except ScanError as exc:
                parsed.append(ResolvedScan(code=code, problem=str(exc)))
                continue
            if joiner.joined:
                parsed.pop()  # the primary line this second line completes
            parsed.append(ResolvedScan(code=code, ident=ident))
        today = self.clock.today()
        with self.session() as s:
            return _Resolver(s, purpose, location, today, fill or {}).all(parsed)

    def receive_scans(
        self,
        codes: list[str],
        *,
        location: str,
        actor: str,
        number: str | None = None,
        fill: Mapping[str, tuple[str, date | None]] | None = None,
    ) -> int:
        """A delivery received by scan: booked as one receipt, like a file's. The SSCCs of
        ship notices are not items: their notices are received on their own."""
        scans = [r for r in self._checked(codes, ScanPurpose.RECEIVE, location, fill)
                 if r.notice is None]  # fmt: skip
        if not scans:
            return 0
        lines: dict[tuple[str, str, str], int] = defaultdict(int)
        expiries: dict[tuple[str, str], date] = {}
        for r in scans:
            assert r.expiry is not None  # checked
            lines[(r.gtin, r.lot, r.epc)] += r.quantity
            expiries[(r.gtin, r.lot)] = r.expiry
        rows = [
            ReceiptLine(
                epc=epc,
                gtin=gtin,
                lot=lot,
                expiry=expiries[(gtin, lot)],
                location=location,
                quantity=qty,
            )
            for (gtin, lot, epc), qty in lines.items()
        ]
        return self.receive(rows, actor=actor, number=number)

    def move_scans(
        self,
        purpose: ScanPurpose,
        codes: list[str],
        *,
        location: str,
        user: str,
        to_location: str = "",
        case_id: str = "",
        reason: str = "",
    ) -> int:
        """Issue to `to_location`, dispense (to `case_id`) or return scanned items; one
        transaction, refused whole when any scan is."""
        if purpose not in BIZ_STEP:
            raise ScanBookingError(f"scans cannot {purpose}")
        if purpose == ScanPurpose.ISSUE and (problem := location_problem(to_location)):
            raise ScanBookingError(f"destination: {problem}")
        if purpose == ScanPurpose.ISSUE and to_location == location:
            raise ScanBookingError("an issue goes to another location")
        if purpose == ScanPurpose.DISPENSE and not case_id.strip():
            raise ScanBookingError("dispensing names the case or patient it is for")
        scans = self._checked(codes, purpose, location)
        now = self.clock.now()
        kind = str(purpose)
        with self.transaction() as s:
            here = self._place(s, location)
            there = self._place(s, to_location) if purpose == ScanPurpose.ISSUE else None
            from_id, to_id = (here, there) if purpose in LEAVING else (None, here)
            p = Pending()
            tags: dict[int, list[str]] = defaultdict(list)
            quantities: dict[int, int] = defaultdict(int)
            batch_ids = self._batch_ids_of(s, scans)
            for r in scans:
                if r.epc:
                    tags[batch_ids[(r.gtin, r.lot)]].append(r.epc)
                else:
                    quantities[batch_ids[(r.gtin, r.lot)]] += r.quantity
            for batch_id, epcs in sorted(tags.items()):
                move = TagMove(
                    epcs=tuple(epcs), batch_id=batch_id, from_id=from_id, to_id=to_id, at=now,
                    kind=kind, biz_step=BIZ_STEP[purpose], actor=user, case_id=case_id,
                    reason=reason, expect_known=purpose in LEAVING,
                )  # fmt: skip
                self._move_tags(s, p, move)
            for batch_id, qty in sorted(quantities.items()):
                p.move_quantity(
                    batch_id=batch_id, from_id=from_id, to_id=to_id, quantity=qty, kind=kind,
                    at=now, biz_step=BIZ_STEP[purpose], actor=user, case_id=case_id,
                    reason=reason,
                )  # fmt: skip
            self._write(s, p)
        return sum(r.quantity for r in scans)

    def count_scans(
        self, location: str, codes: list[str], *, user: str, epcs: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """A stocktake of `location` from scans merged with RFID reads (`epcs`): tags as
        by handheld, untagged batches by quantity (each a line when it differs)."""
        scans = self._checked(codes, ScanPurpose.COUNT, location)
        counted_tags = sorted({*epcs, *(r.epc for r in scans if r.epc)})
        counted: dict[tuple[str, str], int] = defaultdict(int)
        for r in scans:
            if not r.epc:
                counted[(r.gtin, r.lot)] += r.quantity
        with self.transaction() as s:
            take = self._count_tags(s, location, counted_tags, user, "scan")
            have = dict(
                s.execute(
                    select(Stock.batch_id, Stock.quantity).where(
                        Stock.location_id == take.location_id, Stock.quantity > 0
                    )
                ).all()
            )
            tagged = set(s.scalars(select(Tag.batch_id).where(Tag.location_id == take.location_id)))
            by_key = self._batch_ids_of(s, [r for r in scans if not r.epc])
            counted_by_batch = {by_key[k]: q for k, q in counted.items()}
            for batch_id in sorted((set(have) - tagged) | set(counted_by_batch)):
                expected, got = int(have.get(batch_id, 0)), counted_by_batch.get(batch_id, 0)
                if expected != got:
                    line = StocktakeLine(
                        stocktake_id=take.id, epc="", batch_id=batch_id,
                        finding="short" if got < expected else "over",
                        ledger_location_id=take.location_id, expected_quantity=expected,
                        counted_quantity=got,
                    )  # fmt: skip
                    s.add(line)
            stocktake_id = take.id
        return self.stocktake_report(stocktake_id)

    def _checked(
        self,
        codes: list[str],
        purpose: ScanPurpose,
        location: str,
        fill: Mapping[str, tuple[str, date | None]] | None = None,
    ) -> list[ResolvedScan]:
        if problem := location_problem(location):
            raise ScanBookingError(problem)
        scans = self.resolve_scans(codes, purpose, location, fill=fill)
        problems = [f"scan {i + 1}: {r.problem}" for i, r in enumerate(scans) if r.problem]
        if problems:
            raise ScanBookingError(listed(problems))
        if not scans:
            raise ScanBookingError("nothing was scanned")
        return scans

    def _batch_ids_of(self, s: Session, scans: list[ResolvedScan]) -> dict[tuple[str, str], int]:
        keys = {(r.gtin, r.lot) for r in scans}
        out: dict[tuple[str, str], int] = {}
        for gtin, lot in keys:
            found = s.scalar(select(Batch.id).where(Batch.gtin == gtin, Batch.lot == lot))
            if found is None:
                raise ScanBookingError(f"no batch {gtin} lot {lot}")
            out[(gtin, lot)] = found
        return out


class _Resolver:
    """The lookups of one resolution, in one session."""

    def __init__(
        self,
        s: Session,
        purpose: ScanPurpose,
        location: str,
        today: date,
        fill: Mapping[str, tuple[str, date | None]],
    ) -> None:
        self.s, self.purpose, self.location, self.today, self.fill = (
            s, purpose, location, today, fill)  # fmt: skip
        names = s.execute(select(Product.gtin, Product.name)).all()
        self.products: dict[str, str] = dict(names)
        self.loc = s.scalar(select(Location.id).where(Location.code == location))
        self.codes = dict(s.execute(select(Location.id, Location.code)).all())
        self.taken: dict[int, int] = defaultdict(int)  # batch id -> taken by earlier scans
        self.packs = pack_sizes(s)

    def all(self, parsed: list[ResolvedScan]) -> list[ResolvedScan]:
        tags = self._tags([r.ident for r in parsed if r.ident is not None])
        out = [self.one(r, tags) if r.ident is not None else r for r in parsed]
        seen: set[str] = set()
        for i, r in enumerate(out):  # the same serialised item twice: the second is refused
            if r.epc and not r.problem and r.epc in seen:
                out[i] = replace(r, problem="scanned twice")
            seen.add(r.epc)
        return out

    def _shipment(self, r: ResolvedScan, sscc: str) -> ResolvedScan:
        """A shipping unit's SSCC at receiving: the open ship notice that announced it,
        received as announced when the scans are booked."""
        found = self.s.execute(
            select(ShipNotice.id, ShipNotice.number, Location.code)
            .join(PurchaseOrder, PurchaseOrder.id == ShipNotice.order_id)
            .join(Location, Location.id == PurchaseOrder.location_id)
            .where(ShipNotice.sscc == sscc, ShipNotice.received_at.is_(None))
        ).first()
        if found is None:
            return replace(
                r, problem=f"SSCC {sscc} is on no open ship notice: scan the items in it"
            )
        notice_id, number, store = found
        if store != self.location:
            return replace(r, problem=f"SSCC {sscc} (ship notice {number}) is for {store}")
        items = self.s.scalar(select(func.sum(ShipNoticeLine.quantity))
                              .where(ShipNoticeLine.notice_id == notice_id))  # fmt: skip
        return replace(r, name=f"ship notice {number}", quantity=int(items or 0), notice=notice_id)

    def _tags(self, idents: list[ItemIdentity]) -> dict[str, tuple[int, int | None]]:
        """epc -> (batch id, location id) of the tags the serialised scans may name."""
        candidates = [u for i in idents for u in (*i.epc_uris(), i.trace_uri) if u]
        batch = tag_column(self.s, Tag.batch_id, candidates)
        where = tag_column(self.s, Tag.location_id, batch)
        return {e: (b, where.get(e)) for e, b in batch.items()}

    def one(self, r: ResolvedScan, tags: dict[str, tuple[int, int | None]]) -> ResolvedScan:
        ident = r.ident
        assert ident is not None
        gtin = ident.gtin
        if gtin is None and ident.hibc_product is not None:
            gtin = self.s.scalar(select(Product.gtin).where(Product.hibc == ident.hibc_product))
            if gtin is None:
                return replace(r, problem=f"HIBC product {ident.hibc_product} is not in the "
                                          "product master data")  # fmt: skip
        if gtin is None and ident.trace_prefix is not None:
            gtin = self.s.scalar(
                select(Product.gtin).where(Product.trace_prefix == ident.trace_prefix)
            )
            if gtin is None:
                why = f"drug code {ident.trace_prefix} is not in the product master data"
                return replace(r, problem=why)
        if gtin is None:
            if ident.sscc is not None and self.purpose == ScanPurpose.RECEIVE:
                return self._shipment(r, ident.sscc)
            if ident.sscc is not None:
                return replace(r, problem="an SSCC names a shipping unit: scan the items in it")
            return replace(r, problem="the scan names no product (GTIN)")
        pack = self.packs.get(gtin)
        if pack is not None:
            if ident.serial is not None:
                why = "a serialised pack: the ledger keeps serials of eaches"
                return replace(r, gtin=gtin, problem=why)
            gtin = pack[0]
        name = self.products.get(gtin, "")
        if self.products and gtin not in self.products:
            return replace(r, gtin=gtin, problem=f"GTIN {gtin} is not in the product master data")
        each = pack[1] if pack is not None else 1
        r = replace(r, gtin=gtin, name=name, lot=ident.lot or "", expiry=ident.expiry,
                    quantity=(ident.quantity or 1) * each)  # fmt: skip
        if ident.serial is not None and (ident.gtin is not None or ident.trace_uri):
            names = ident.epc_uris() or [ident.trace_uri or ""]
            known = next((u for u in names if u in tags), None)
            epc = known or names[0]
            r = replace(r, epc=epc, quantity=1)
            if known is not None:
                batch_id, loc = tags[known]
                r = replace(r, at=self.codes.get(loc, "") if loc else "")
                b = self.s.get(Batch, batch_id)
                if (
                    b is not None
                    and r.lot
                    and r.lot != b.lot
                    and self.purpose != ScanPurpose.RECEIVE
                ):
                    return replace(r, problem=f"the label says lot {r.lot}; the ledger has this "
                                              f"item in lot {b.lot}")  # fmt: skip
                if b is not None and self.purpose != ScanPurpose.RECEIVE:
                    r = replace(r, lot=b.lot, expiry=b.expiry)  # the item's batch, as bound
        return self._check(r, known_tag=bool(r.epc) and r.epc in tags)

    def _check(self, r: ResolvedScan, known_tag: bool) -> ResolvedScan:
        if self.purpose == ScanPurpose.RECEIVE:
            if not r.lot or r.expiry is None:
                lot, expiry = self.fill.get(r.gtin, ("", None))
                r = replace(r, lot=r.lot or lot, expiry=r.expiry or expiry)
            if r.at:
                return replace(r, problem=f"serial already in stock at {r.at}")
            if not r.lot or r.expiry is None:
                return replace(r, problem="lot and expiry needed")
            if r.expiry <= self.today:
                return replace(r, problem=f"expired on {r.expiry}")
            return r
        if r.epc:
            if not known_tag and self.purpose != ScanPurpose.COUNT:
                return replace(r, problem="this item was never received")
            if self.purpose in LEAVING and r.at != self.location:
                where = f"the ledger has it at {r.at}" if r.at else "the ledger has it out of stock"
                return replace(r, problem=f"not in stock here: {where}")
            if self.purpose == ScanPurpose.RETURN and r.at == self.location:
                return replace(r, problem="already in stock here")
            return self._batch_state(r)
        if not r.lot:
            if self.purpose not in LEAVING:
                return replace(r, problem="the lot is needed (scan the code that carries it)")
            return self._fefo(r)
        return self._batch_state(r, need_stock=self.purpose in LEAVING)

    def _batch_state(self, r: ResolvedScan, need_stock: bool = False) -> ResolvedScan:
        b = self.s.scalars(select(Batch).where(Batch.gtin == r.gtin, Batch.lot == r.lot)).first()
        if b is None:
            return replace(r, problem=f"no batch {r.gtin} lot {r.lot} in the ledger")
        r = replace(r, expiry=r.expiry or b.expiry)
        if self.purpose in LEAVING and b.locked:
            return replace(r, problem="this batch is recall-locked")
        if self.purpose in LEAVING and b.expiry is not None and b.expiry <= self.today:
            return replace(r, problem=f"expired on {b.expiry}")
        if need_stock:
            left = self._left(b.id)
            if left < r.quantity:
                return replace(r, problem=f"only {left} of lot {r.lot} here")
            self.taken[b.id] += r.quantity
        return r

    def _left(self, batch_id: int) -> int:
        have = self.s.scalar(
            select(Stock.quantity).where(Stock.location_id == self.loc, Stock.batch_id == batch_id)
        )
        return (have or 0) - self.taken[batch_id]

    def _fefo(self, r: ResolvedScan) -> ResolvedScan:
        """The first-expiring batch of the GTIN in stock here, not locked, not expired."""
        rows = self.s.execute(
            select(Batch.id, Batch.lot, Batch.expiry, Stock.quantity)
            .join(Stock, Stock.batch_id == Batch.id)
            .where(Stock.location_id == self.loc, Batch.gtin == r.gtin, Stock.quantity > 0,
                   Batch.locked.is_(False),
                   (Batch.expiry.is_(None)) | (Batch.expiry > self.today))
            .order_by(Batch.expiry.is_(None), Batch.expiry, Batch.lot)
        ).all()  # fmt: skip
        for batch_id, lot, expiry, have in rows:
            if have - self.taken[batch_id] >= r.quantity:
                self.taken[batch_id] += r.quantity
                return replace(r, lot=lot, expiry=expiry)
        return replace(r, problem="no usable batch of this product in stock here")
