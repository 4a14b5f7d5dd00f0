"""Receiving: a delivery booked by its number, its lines from the API, a CSV file or the
commissioning events of an EPCIS 2.0 document; tags bound to their batch and put in stock.

EPCIS: ObjectEvents with `action: ADD` and bizStep commissioning bind their `epcList` to the
lot and expiry of their `ilmd` (`cbvmda:lotNumber`, `cbvmda:itemExpirationDate`); the
result is ordinary receipt lines, booked by `receive` with all its checks."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from central import alerts
from central.errors import Conflict, Invalid, listed
from central.ledger.base import location_problem
from central.ledger.moves import Moving, Pending, TagMove
from central.models import AuditLog, Product, ProductPack, Receipt
from rules.epc import EpcError, check_epc_uri, decode, gs1_check_digit
from rules.events import Batch as EventBatch
from rules.identity import ident_from_uri
from rules.scan import is_trace_uri


def new_receipt_number(now: datetime) -> str:
    """When the delivery note has none: date and a random part (unique across ledgers)."""
    return f"R-{now:%Y%m%d}-{uuid.uuid4().hex[:8].upper()}"


class ReceiptError(Invalid):
    """A receipt that cannot be booked; the message lists every bad line."""


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    epc: str  # pure-identity URI; "" for untagged goods (then `quantity` of them)
    gtin: str
    lot: str
    expiry: date
    location: str  # location code, e.g. "<site>/<zone>"
    quantity: int = 1
    supplier: str = ""

    def problem(self, today: date, opening: bool = False) -> str:
        """Why the line cannot be booked ("" when it can). An opening balance may hold
        expired stock (it is on the shelves; booking it raises its expiry alert)."""
        if (
            len(self.gtin) != 14
            or not self.gtin.isdigit()
            or gs1_check_digit(self.gtin[:13]) != self.gtin[13]
        ):
            return f"GTIN {self.gtin!r} is not a valid GTIN-14"
        if self.expiry <= today and not opening:
            return f"expiry {self.expiry} is not in the future"
        if not self.lot:
            return "lot is missing"
        if self.quantity < 1 or (self.epc and self.quantity != 1):
            return "a tagged line is one item; an untagged line needs a quantity >= 1"
        if self.epc and not is_trace_uri(self.epc) and (problem := check_epc_uri(self.epc)):
            return problem
        if problem := location_problem(self.location):
            return problem
        ident = ident_from_uri(self.epc)
        if ident.gtin is not None and ident.gtin != self.gtin:
            return f"EPC {self.epc} belongs to GTIN {ident.gtin}, not {self.gtin}"
        return ""


def pack_sizes(s: Session) -> dict[str, tuple[str, int]]:
    """A pack's GTIN -> (its product's GTIN, eaches in one pack)."""
    return {g: (p, q) for g, p, q in s.execute(select(ProductPack.gtin, ProductPack.product_gtin,
                                                      ProductPack.quantity))}  # fmt: skip


def in_eaches(rows: list[ReceiptLine], packs: dict[str, tuple[str, int]]) -> list[ReceiptLine]:
    """Untagged lines of a pack's GTIN as its eaches (a case of 120: 120 of the product);
    a tagged pack stays what it is (and is refused: the ledger counts a tag as one)."""
    out = []
    for row in rows:
        pack = packs.get(row.gtin)
        if pack is not None and not row.epc:
            out.append(replace(row, gtin=pack[0], quantity=row.quantity * pack[1]))
        else:
            out.append(row)
    return out


def parse_receipt_csv(text: str, opening: bool = False) -> list[ReceiptLine]:
    """Columns epc, gtin, lot, expiry (YYYY-MM-DD), location, and optionally quantity and
    supplier; epc as hex or a URI, or empty for untagged goods (with a quantity). An
    opening balance (`opening`) needs no epc column: stock per location and batch."""
    import csv
    import io

    reader = csv.DictReader(io.StringIO(text))
    needed = {"gtin", "lot", "expiry", "location"} | ({"quantity"} if opening else {"epc"})
    missing = needed - set(reader.fieldnames or [])
    if missing:
        raise ReceiptError(f"CSV lacks columns {sorted(missing)}")
    out = []
    for i, row in enumerate(reader):
        epc = (row.get("epc") or "").strip()
        if epc and not epc.startswith("urn:"):
            try:
                epc = decode(epc).uri
            except EpcError as exc:
                raise ReceiptError(f"line {i + 1}: {exc}") from None
        try:
            expiry = date.fromisoformat(row["expiry"].strip())
        except ValueError:
            raise ReceiptError(
                f"line {i + 1}: expiry {row['expiry']!r} is not YYYY-MM-DD"
            ) from None
        gtin = row["gtin"].strip().zfill(14)
        quantity = (row.get("quantity") or "").strip()
        if quantity and not quantity.isdigit():
            raise ReceiptError(f"line {i + 1}: quantity {quantity!r} is not a whole number")
        out.append(
            ReceiptLine(
                epc=epc,
                gtin=gtin,
                lot=row["lot"].strip(),
                expiry=expiry,
                location=row["location"].strip(),
                quantity=int(quantity) if quantity else 1,
                supplier=(row.get("supplier") or "").strip(),
            )
        )
    return out


class Receiving(Moving):
    def receive(
        self,
        rows: list[ReceiptLine],
        *,
        actor: str,
        today: date | None = None,
        number: str | None = None,
        opening: bool = False,
    ) -> int:
        """Commission tagged items at receiving: bind each EPC to its batch and put it in
        stock at its location, in one transaction, as receipt `number` (the delivery note;
        generated when not given; a number already booked is refused, so a delivery cannot
        be booked twice). Rejects the whole receipt on any bad line (unknown GTIN check
        digit, expiry not in the future, EPC of another GTIN, unknown product).

        `opening`: the hospital's opening balance (stock it holds when hwms starts), booked
        as `opening_balance` movements (not receiving, so reports do not count it as
        delivered) and written to the audit log."""
        today = today or self.clock.today()
        rows = self._receivable(rows, today, opening)
        now = self.clock.now()
        number = number or new_receipt_number(now)
        try:
            self._receive(rows, actor, today, now, number, opening)
        except IntegrityError:  # the receipt's number, flushed first
            raise Conflict(f"receipt {number} is already booked") from None
        return sum(r.quantity for r in rows)  # items received

    def _receivable(
        self, rows: list[ReceiptLine], today: date, opening: bool = False
    ) -> list[ReceiptLine]:
        """The lines in eaches, or ReceiptError naming every line that cannot be booked."""
        with self.session() as s:
            rows = in_eaches(rows, pack_sizes(s))
            products = set(s.scalars(select(Product.gtin)))
        problems = [
            f"line {i + 1}: {p}" for i, r in enumerate(rows) if (p := r.problem(today, opening))
        ]
        if products:  # with product master data on file, a receipt names known products only
            problems += [
                f"line {i + 1}: GTIN {r.gtin} is not in the product master data"
                + (" (a tagged pack: tag its eaches, or book it untagged)" if r.epc else "")
                for i, r in enumerate(rows)
                if r.gtin not in products
            ]
        if problems:
            raise ReceiptError(listed(problems))
        return rows

    def _receive(
        self,
        rows: list[ReceiptLine],
        actor: str,
        today: date,
        now: datetime,
        number: str,
        opening: bool = False,
    ) -> None:
        with self.transaction() as s:
            self._book_receipt(s, rows, actor, today, now, number, opening=opening)

    def _book_receipt(
        self,
        s: Session,
        rows: list[ReceiptLine],
        actor: str,
        today: date,
        now: datetime,
        number: str,
        *,
        opening: bool = False,
        order_id: int | None = None,
    ) -> None:
        """The receipt's stock and journal in the caller's transaction (`order_id`: the
        purchase order it delivers)."""
        kind = "opening_balance" if opening else "receiving"
        what = "opening balance" if opening else "receipt"
        items = sum(r.quantity for r in rows)
        s.add(Receipt(number=number, received_at=now, actor=actor, lines=len(rows),
                      items=items, purchase_order_id=order_id))  # fmt: skip
        s.flush()  # a duplicate number fails here, before anything moved
        if opening:
            s.add(AuditLog(at=now, actor=actor, action="opening balance",
                           detail=f"{number}: {len(rows)} lines, {items} items"))  # fmt: skip
        groups: dict[tuple[str, str, date, str, str], list[ReceiptLine]] = defaultdict(list)
        for r in rows:
            groups[(r.gtin, r.lot, r.expiry, r.location, r.supplier)].append(r)
        p = Pending()
        for (gtin, lot, expiry, location, supplier), lines in groups.items():
            batch_id = self._batch(
                s, EventBatch(gtin=gtin, lot=lot, expiry=expiry.isoformat()), supplier
            )
            loc = self._place(s, location)
            tags = tuple(r.epc for r in lines if r.epc)
            if tags:  # a tag received again is re-bound to this batch and moved here
                move = TagMove(
                    epcs=tags, batch_id=batch_id, from_id=None, to_id=loc, at=now,
                    kind=kind, biz_step="receiving", actor=actor,
                    reason=f"{what} {number}", rebind=True,
                )  # fmt: skip
                self._move_tags(s, p, move)
            untagged = sum(r.quantity for r in lines if not r.epc)
            if untagged:
                p.move_quantity(
                    batch_id=batch_id, from_id=None, to_id=loc, quantity=untagged,
                    kind=kind, at=now, biz_step="receiving", actor=actor,
                    reason=f"{what} {number} (untagged)",
                )  # fmt: skip
        self._write(s, p)
        alerts.evaluate(s, today, now)  # stock arrived: expiry and levels at once


CBVMDA = "urn:epcglobal:cbv:mda:"


class _EpcisEvent(BaseModel):
    """The part of an EPCIS 2.0 event a receipt reads; the rest is allowed and ignored."""

    model_config = ConfigDict(extra="allow")
    type: str = ""
    action: str = ""
    bizStep: str = ""  # noqa: N815 (EPCIS's own name)
    ilmd: dict[str, Any] | None = None
    epcList: Annotated[list[str], Field(max_length=200_000)] = []  # noqa: N815
    quantityList: list[Any] | None = None  # noqa: N815


def _problem(exc: ValidationError) -> str:
    e = exc.errors()[0]
    return f"{'.'.join(str(x) for x in e['loc']) or 'event'}: {e['msg']}"


def epcis_receipt(doc: Any, location: str) -> list[ReceiptLine]:
    """Receipt lines from the commissioning ObjectEvents of an EPCIS 2.0 document."""
    if not isinstance(doc, dict) or doc.get("type") != "EPCISDocument":
        raise ReceiptError("not an EPCISDocument")
    body = doc.get("epcisBody")
    events = body.get("eventList") if isinstance(body, dict) else None
    if not isinstance(events, list):
        raise ReceiptError("epcisBody.eventList: a list of events is expected")
    lines: list[ReceiptLine] = []
    problems: list[str] = []
    for i, raw in enumerate(events):
        try:
            ev = _EpcisEvent.model_validate(raw)
        except ValidationError as exc:
            problems.append(f"event {i + 1}: {_problem(exc)}")
            continue
        if ev.type != "ObjectEvent" or ev.action != "ADD":
            continue
        if ev.bizStep not in ("commissioning", "urn:epcglobal:cbv:bizstep:commissioning"):
            continue
        ilmd = {k.replace("cbvmda:", CBVMDA): v for k, v in (ev.ilmd or {}).items()}
        lot = str(ilmd.get(CBVMDA + "lotNumber", "")).strip()
        expiry_text = str(ilmd.get(CBVMDA + "itemExpirationDate", "")).strip()
        try:
            expiry = date.fromisoformat(expiry_text)
        except ValueError:
            problems.append(f"event {i + 1}: itemExpirationDate {expiry_text[:40]!r} is not a date")
            continue
        if ev.quantityList:
            problems.append(f"event {i + 1}: quantityList (untagged goods) is not imported")
        for epc in ev.epcList:
            ident = ident_from_uri(epc)
            if ident.gtin is None:
                problems.append(f"event {i + 1}: {epc[:80]} is not an SGTIN")
                continue
            lines.append(
                ReceiptLine(epc=epc, gtin=ident.gtin, lot=lot, expiry=expiry, location=location)
            )
    if problems:
        raise ReceiptError(listed(problems))
    if not lines:
        raise ReceiptError("no commissioning ObjectEvent (action ADD) with an epcList")
    return lines
