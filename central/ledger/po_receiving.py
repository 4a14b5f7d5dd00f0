"""Deliveries against purchase orders, and the supplier's advance ship notices they match.

A person receiving (CSV, EPCIS, scans, a form) books lines against the order's open lines;
each line's differences (quantity, price, and against the ship notice lot and expiry, plus
the shelf life left) are `rules.purchasing.variances`. Above the tolerance the receipt is
refused (`VarianceRefused`, listing them) until the person accepts them with a reason; the
variances are kept either way, for the supplier's KPIs.

A ship notice lists lots, expiries, serials or EPCs and the SSCC of the shipping unit. Its
delivery books itself: scanning the SSCC receives the notice as announced, and tags of the
notice read at the order's store are received once no new one has been read for
`purchasing.gate_settle_s` (the cart has passed). What the gate did not read stays open on
the order, and the differences raise a `purchase_variance` alert for purchasing to accept.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from central import alerts
from central.accounts import Principal
from central.clock import as_utc
from central.errors import Conflict, Forbidden, Invalid, NotFound, listed
from central.ledger.base import tag_column
from central.ledger.purchasing import Purchasing, po_number
from central.ledger.receiving import ReceiptLine, in_eaches, new_receipt_number, pack_sizes
from central.models import (
    Location,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseVariance,
    ShipNotice,
    ShipNoticeLine,
    ShipNoticeTag,
    Tag,
)
from central.vocab import Permission
from rules.epc import check_epc_uri, gs1_check_digit
from rules.identity import ident_from_uri
from rules.purchasing import Delivered, Ordered, PoAction, PoStatus, Tolerance, Variance, variances

log = structlog.get_logger(__name__)
MAX_NOTICE_LINES, MAX_NOTICE_TAGS = 500, 20_000


@dataclass(frozen=True, slots=True)
class DeliveredLine:
    """A delivered line: untagged `quantity` eaches of a batch, or its tagged items."""

    gtin: str
    lot: str
    expiry: date
    quantity: int = 1
    unit_price: Decimal | None = None  # as invoiced, when known
    epcs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NoticeLineIn:
    gtin: str
    lot: str
    expiry: date
    quantity: int
    serials: tuple[str, ...] = ()
    epcs: tuple[str, ...] = ()


class VarianceRefused(Conflict):
    """Differences above the tolerance: a person accepts them (with a reason) to book."""

    def __init__(self, order_id: int, found: list[tuple[str, Variance]]) -> None:
        self.variances = [
            {
                "gtin": g,
                "kind": v.kind,
                "expected": v.expected,
                "got": v.got,
                "needs_acceptance": v.needs_acceptance,
            }
            for g, v in found
        ]
        shown = [
            f"{g} {v.kind}: expected {v.expected}, got {v.got}"
            for g, v in found
            if v.needs_acceptance
        ]
        super().__init__(
            f"{po_number(order_id)}: differences above the tolerance need "
            f"acceptance with a reason: {listed(shown, 10)}"
        )


def _gtin_ok(gtin: str) -> bool:
    return len(gtin) == 14 and gtin.isdigit() and gs1_check_digit(gtin[:13]) == gtin[13]


def _sscc_ok(sscc: str) -> bool:
    return len(sscc) == 18 and sscc.isdigit() and gs1_check_digit(sscc[:17]) == sscc[17]


class PoReceiving(Purchasing):
    def _tolerance(self) -> Tolerance:
        t = self.purchasing_rules.tolerance
        return Tolerance(t.quantity_pct, t.price_pct, t.min_shelf_life_days)

    # --- a person receives ----------------------------------------------------------------
    def receive_purchase_order(
        self,
        who: Principal,
        order_id: int,
        lines: list[DeliveredLine],
        *,
        accept: bool = False,
        comment: str = "",
        number: str | None = None,
    ) -> dict[str, Any]:
        """Book a delivery against the order at its store. Refused while a difference above
        the tolerance is not accepted (`accept` with a `comment` saying why)."""
        if not who.may(Permission.RECEIVE):
            raise Forbidden(f"the {who.role} role may not receive deliveries")
        if not lines:
            raise Invalid("lines: a delivery has at least one line")
        if accept and not comment.strip():
            raise Invalid("comment: say why the differences are accepted")
        now = self.clock.now()
        number = number or new_receipt_number(now)
        try:
            with self.transaction() as s:
                order = self._load_order(s, who, order_id)
                self._received_by(s, who, order, lines, now, number, accept, comment)
        except IntegrityError:
            raise Conflict(f"receipt {number} is already booked") from None
        return self.purchase_order(who, order_id)

    def _received_by(
        self,
        s: Session,
        who: Principal,
        order: PurchaseOrder,
        lines: list[DeliveredLine],
        now: datetime,
        number: str,
        accept: bool,
        comment: str,
        notice: ShipNotice | None = None,
    ) -> None:
        """A person's receipt: booked, or refused (rolled back) while a difference above the
        tolerance is not accepted."""
        found = self._book_delivery(s, order, lines, who.user, now, number,
                                    accepted_by=who.user if accept else None, comment=comment,
                                    notice=notice)  # fmt: skip
        if any(v.needs_acceptance for _, v in found) and not accept:
            raise VarianceRefused(order.id, found)

    def _book_delivery(
        self,
        s: Session,
        order: PurchaseOrder,
        lines: list[DeliveredLine],
        actor: str,
        now: datetime,
        number: str,
        *,
        accepted_by: str | None,
        comment: str = "",
        notice: ShipNotice | None = None,
        arrived: datetime | None = None,
    ) -> list[tuple[str, Variance]]:
        """Stock, order lines, variances and status for one delivery, in `s`; returns the
        variances (a caller that may not accept them raises: the transaction rolls back).

        Quantities compare with the ship notice when there is one (what was announced must
        arrive), else with what is open on the order: a short delivery leaves the rest on
        back order and is a variance to see, not to accept; more than ordered is one to
        accept above the tolerance."""
        if order.status not in (PoStatus.SENT, PoStatus.CONFIRMED, PoStatus.PARTIALLY_RECEIVED):
            self._next(order, PoAction.RECEIVE)  # raises the status's refusal
        store = s.get(Location, order.location_id)
        assert store is not None
        today = self.clock.today()
        packs = pack_sizes(s)
        per_line = [
            in_eaches(_receipt_lines(ln, store.code, order.supplier), packs) for ln in lines
        ]
        rows = self._receivable([r for rs in per_line for r in rs], today)
        order_lines = {
            ln.gtin: ln
            for ln in s.scalars(
                select(PurchaseOrderLine).where(PurchaseOrderLine.order_id == order.id)
            )
        }
        notices = self._announced(s, order.id, notice)
        tol = self._tolerance()
        found: list[tuple[str, Variance]] = []
        got_qty: dict[str, int] = defaultdict(int)
        for rs, line in zip(per_line, lines, strict=True):
            first = rs[0]
            got_qty[first.gtin] += sum(r.quantity for r in rs)
            ordered = order_lines.get(first.gtin)
            if ordered is None:
                found.append((first.gtin, Variance("product", "not ordered", first.gtin, True)))
                continue
            lots = {lot: exp for lot, (exp, _qty) in notices.get(first.gtin, {}).items()}
            expected = Ordered(
                quantity=0,
                unit_price=ordered.unit_price,
                lot=None if not lots or first.lot in lots else ", ".join(sorted(lots)),
                expiry=lots.get(first.lot),
            )
            got = Delivered(0, line.unit_price, first.lot, first.expiry)
            found += [(first.gtin, v) for v in variances(expected, got, tol, today)]
        for gtin, qty in got_qty.items():
            if (ordered := order_lines.get(gtin)) is None:
                continue
            announced = notices.get(gtin)
            want = (
                sum(q for _e, q in announced.values())
                if announced
                else max(ordered.quantity - ordered.received, 0)
            )
            for v in variances(Ordered(want, None), Delivered(qty, None, "", None), tol, today):
                short = not announced and qty < want
                found.append((gtin, replace(v, needs_acceptance=v.needs_acceptance and not short)))
            ordered.received += qty
        self._book_receipt(s, rows, actor, today, arrived or now, number, order_id=order.id)
        if notice is None:  # the ship notices this delivery was compared with are in
            self._close_notices(s, order.id, {(r.gtin, r.lot) for r in rows}, now, number)
        for gtin, v in found:
            s.add(
                PurchaseVariance(
                    order_id=order.id,
                    receipt=number,
                    gtin=gtin,
                    kind=v.kind,
                    expected=v.expected[:200],
                    got=v.got[:200],
                    needs_acceptance=v.needs_acceptance,
                    accepted_by=accepted_by if v.needs_acceptance else None,
                    at=now,
                )
            )
        complete = all(ln.received >= ln.quantity for ln in order_lines.values())
        order.status = self._next(order, PoAction.RECEIVE, complete=complete)
        if complete:
            order.received_at = now
        shown = "; ".join(f"{g} {v.kind} {v.expected} -> {v.got}" for g, v in found)
        text = " | ".join(filter(None, [f"receipt {number}", shown, comment]))
        self._step(s, order, "receive", actor, now, comment=text)
        return found

    def _announced(
        self, s: Session, order_id: int, notice: ShipNotice | None
    ) -> dict[str, dict[str, tuple[date, int]]]:
        """gtin -> lot -> (expiry, quantity) as the ship notice (given) or the order's ship
        notices not yet received announced them."""
        q = (
            select(
                ShipNoticeLine.gtin,
                ShipNoticeLine.lot,
                ShipNoticeLine.expiry,
                ShipNoticeLine.quantity,
            )
            .join(ShipNotice, ShipNotice.id == ShipNoticeLine.notice_id)
            .where(ShipNotice.order_id == order_id)
        )
        if notice is not None:
            q = q.where(ShipNotice.id == notice.id)
        else:
            q = q.where(ShipNotice.received_at.is_(None))
        out: dict[str, dict[str, tuple[date, int]]] = defaultdict(dict)
        for gtin, lot, expiry, quantity in s.execute(q):
            before = out[gtin].get(lot, (expiry, 0))[1]
            out[gtin][lot] = (expiry, before + quantity)
        return out

    def _close_notices(
        self,
        s: Session,
        order_id: int,
        delivered: set[tuple[str, str]],
        now: datetime,
        number: str,
    ) -> None:
        """Open ship notices of the order with a line of a delivered product: received by
        this receipt, whatever lot came (the receipt was compared with them, and their SSCC
        or tags must not book the goods a second time)."""
        products = {gtin for gtin, _lot in delivered}
        waiting = select(ShipNotice).where(
            ShipNotice.order_id == order_id, ShipNotice.received_at.is_(None)
        )
        for notice in s.scalars(waiting):
            announced = set(
                s.scalars(select(ShipNoticeLine.gtin).where(ShipNoticeLine.notice_id == notice.id))
            )
            if announced & products:
                notice.received_at, notice.receipt = now, number

    # --- ship notices ---------------------------------------------------------------------
    def submit_ship_notice(
        self,
        who: Principal,
        order_id: int,
        *,
        number: str,
        lines: list[NoticeLineIn],
        sscc: str | None = None,
        expected_on: date | None = None,
    ) -> dict[str, Any]:
        """A supplier's advance ship notice for its order (or purchasing entering one)."""
        if not (who.may(Permission.SUPPLY) or who.may(Permission.PURCHASE)):
            raise Forbidden(f"the {who.role} role may not announce deliveries")
        if not number.strip() or len(number) > 80:
            raise Invalid("number: the despatch note's number (1 to 80 characters)")
        if sscc is not None and not _sscc_ok(sscc):
            raise Invalid(f"sscc: {sscc[:20]!r} is not an SSCC (18 digits, GS1 check digit)")
        if not lines or len(lines) > MAX_NOTICE_LINES:
            raise Invalid(f"lines: between 1 and {MAX_NOTICE_LINES} lines are needed")
        if sum(len(ln.epcs) for ln in lines) > MAX_NOTICE_TAGS:
            raise Invalid(f"lines: at most {MAX_NOTICE_TAGS} EPCs in one notice")
        now = self.clock.now()
        with self.transaction() as s:
            order = self._load_order(s, who, order_id)
            if order.status not in (PoStatus.SENT, PoStatus.CONFIRMED, PoStatus.PARTIALLY_RECEIVED):
                raise Conflict(f"{po_number(order.id)}: a {order.status} order takes no notice")
            ordered = set(
                s.scalars(
                    select(PurchaseOrderLine.gtin).where(PurchaseOrderLine.order_id == order.id)
                )
            )
            problems = self._notice_problems(s, lines, ordered, self.clock.today())
            if problems:
                raise Invalid(listed(problems))
            if sscc and s.scalar(
                select(ShipNotice.id).where(
                    ShipNotice.sscc == sscc, ShipNotice.received_at.is_(None)
                )
            ):
                raise Conflict(f"sscc: {sscc} is announced already")
            n = ShipNotice(
                order_id=order.id,
                number=number.strip(),
                sscc=sscc,
                expected_on=expected_on,
                created_by=who.user,
                created_at=now,
            )
            s.add(n)
            s.flush()
            for ln in lines:
                row = ShipNoticeLine(
                    notice_id=n.id,
                    gtin=ln.gtin.zfill(14),
                    lot=ln.lot,
                    expiry=ln.expiry,
                    quantity=ln.quantity,
                    serials=",".join(ln.serials),
                )
                s.add(row)
                s.flush()
                s.add_all(ShipNoticeTag(epc=epc, line_id=row.id) for epc in ln.epcs)
            said = f"ship notice {n.number}" + (f", SSCC {sscc}" if sscc else "")
            self._step(s, order, "ship", who.user, now, comment=said)
        return self.purchase_order(who, order_id)

    def _notice_problems(
        self, s: Session, lines: list[NoticeLineIn], ordered: set[str], today: date
    ) -> list[str]:
        problems = []
        epcs = [e for ln in lines for e in ln.epcs]
        if len(set(epcs)) != len(epcs):
            problems.append("an EPC is listed twice")
        announced = set(s.scalars(select(ShipNoticeTag.epc).where(ShipNoticeTag.epc.in_(epcs))))
        stocked = {e for e, loc in tag_column(s, Tag.location_id, epcs).items() if loc}
        for i, ln in enumerate(lines):
            gtin = ln.gtin.zfill(14)
            where = f"lines[{i}]"
            if not _gtin_ok(gtin) or gtin not in ordered:
                problems.append(f"{where}.gtin: {ln.gtin[:14]!r} is not on the order")
            elif not ln.lot.strip() or len(ln.lot) > 80:
                problems.append(f"{where}.lot: 1 to 80 characters")
            elif ln.expiry <= today:
                problems.append(f"{where}.expiry: {ln.expiry} is not in the future")
            elif not 1 <= ln.quantity <= 1_000_000:
                problems.append(f"{where}.quantity: between 1 and 1000000")
            elif (ln.epcs and len(ln.epcs) != ln.quantity) or (
                ln.serials and len(ln.serials) != ln.quantity
            ):
                problems.append(f"{where}: as many EPCs and serials as the quantity, or none")
            for epc in ln.epcs:
                why = check_epc_uri(epc) if epc.startswith("urn:") else "is not an EPC URI"
                if not why and ident_from_uri(epc).gtin != gtin:
                    why = f"belongs to another GTIN than {gtin}"
                if not why and epc in announced:
                    why = "is announced already"
                if not why and epc in stocked:
                    why = "is in stock already"
                if why:
                    problems.append(f"{where}.epcs: {epc[:80]} {why}")
                    break
        return problems

    def receive_ship_notice(
        self,
        who: Principal,
        notice_id: int,
        *,
        accept: bool = False,
        comment: str = "",
    ) -> dict[str, Any]:
        """The notice received as announced (its SSCC scanned, or a button): one receipt."""
        if not who.may(Permission.RECEIVE):
            raise Forbidden(f"the {who.role} role may not receive deliveries")
        if accept and not comment.strip():
            raise Invalid("comment: say why the differences are accepted")
        now = self.clock.now()
        with self.transaction() as s:
            notice = s.get(ShipNotice, notice_id, with_for_update=self._pg)
            if notice is None:
                raise NotFound(f"no ship notice {notice_id}")
            order = self._load_order(s, who, notice.order_id)
            if notice.received_at is not None:
                raise Conflict(f"ship notice {notice.number} was received ({notice.receipt})")
            lines = self._notice_lines(s, notice)
            number = new_receipt_number(now)
            self._received_by(s, who, order, lines, now, number, accept, comment, notice)
            notice.received_at, notice.receipt = now, number
            order_id = order.id
        return self.purchase_order(who, order_id)

    def ship_notice_by_sscc(self, sscc: str) -> int | None:
        """The open ship notice of a scanned SSCC, if any."""
        with self.session() as s:
            return s.scalar(
                select(ShipNotice.id).where(
                    ShipNotice.sscc == sscc, ShipNotice.received_at.is_(None)
                )
            )

    def _notice_lines(
        self, s: Session, notice: ShipNotice, seen: set[str] | None = None
    ) -> list[DeliveredLine]:
        """The notice's lines as delivered lines; `seen`: only its tags read at the gate
        (and none of its untagged lines, which no gate can count)."""
        out = []
        for ln in s.scalars(
            select(ShipNoticeLine)
            .where(ShipNoticeLine.notice_id == notice.id)
            .order_by(ShipNoticeLine.id)
        ):
            epcs = tuple(
                s.scalars(
                    select(ShipNoticeTag.epc)
                    .where(ShipNoticeTag.line_id == ln.id)
                    .order_by(ShipNoticeTag.epc)
                )
            )
            if seen is not None:
                epcs = tuple(e for e in epcs if e in seen)
                if not epcs:
                    continue
            quantity = len(epcs) if epcs else ln.quantity
            out.append(DeliveredLine(ln.gtin, ln.lot, ln.expiry, quantity, None, epcs))
        return out

    # --- the gate -------------------------------------------------------------------------
    def match_ship_notices(self, settle_s: float | None = None) -> int:
        """Book each open ship notice whose tags the store's site has read, once no new one
        was read for `settle_s`; returns how many notices were booked. What was not read
        stays open on the order; the differences raise a `purchase_variance` alert."""
        now = self.clock.now()
        settle = self.purchasing_rules.gate_settle_s if settle_s is None else settle_s
        tagged = select(ShipNoticeLine.notice_id).join(
            ShipNoticeTag, ShipNoticeTag.line_id == ShipNoticeLine.id
        )
        with self.session() as s:
            waiting = list(
                s.scalars(
                    select(ShipNotice.id).where(
                        ShipNotice.received_at.is_(None), ShipNotice.id.in_(tagged)
                    )
                )
            )
        booked = 0
        for notice_id in waiting:
            try:
                booked += self._match_notice(notice_id, now, settle)
            except (Conflict, Invalid) as exc:  # e.g. the order was cancelled meanwhile
                log.warning("ship notice not booked at the gate", notice=notice_id, reason=str(exc))
        return booked

    def _match_notice(self, notice_id: int, now: datetime, settle_s: float) -> int:
        with self.transaction() as s:
            notice = s.get(ShipNotice, notice_id, with_for_update=self._pg)
            if notice is None or notice.received_at is not None:
                return 0
            order = s.get(PurchaseOrder, notice.order_id)
            store = s.get(Location, order.location_id) if order else None
            if order is None or store is None:
                return 0
            site = store.code.split("/", 1)[0] + "/"
            reads = s.execute(
                select(Tag.epc, Tag.last_event_at)
                .join(ShipNoticeTag, ShipNoticeTag.epc == Tag.epc)
                .join(ShipNoticeLine, ShipNoticeLine.id == ShipNoticeTag.line_id)
                .join(Location, Location.id == Tag.location_id)
                .where(ShipNoticeLine.notice_id == notice.id, Location.code.startswith(site))
            ).all()
            created = _aware(notice.created_at)
            seen = {
                epc: _aware(at) for epc, at in reads if at is not None and _aware(at) >= created
            }
            if not seen or now - max(seen.values()) < timedelta(seconds=settle_s):
                return 0
            number = new_receipt_number(now)
            lines = self._notice_lines(s, notice, set(seen))
            arrived = max(seen.values())  # the lead time ends at the gate's last read
            found = self._book_delivery(
                s,
                order,
                lines,
                f"gate:{store.code}",
                now,
                number,
                accepted_by=None,
                notice=notice,
                arrived=arrived,
            )
            notice.received_at, notice.receipt = arrived, number
            if any(v.needs_acceptance for _, v in found):
                self._flag(s, order, now)
            return 1

    def _flag(self, s: Session, order: PurchaseOrder, now: datetime) -> None:
        waiting = s.scalar(
            select(func.count())
            .select_from(PurchaseVariance)
            .where(
                PurchaseVariance.order_id == order.id,
                PurchaseVariance.needs_acceptance,
                PurchaseVariance.accepted_by.is_(None),
            )
        )
        message = (
            f"{po_number(order.id)} from {order.supplier}: {waiting} difference(s) "
            "from the order and its ship notice to accept"
        )
        alerts.raise_once(
            s, alerts.Condition("purchase_variance", variance_key(order), "warning", message), now
        )

    def accept_variances(self, who: Principal, order_id: int, comment: str) -> dict[str, Any]:
        """Purchasing accepts the differences a gate booked, with a reason."""
        if not comment.strip():
            raise Invalid("comment: say why the differences are accepted")
        now = self.clock.now()
        with self.transaction() as s:
            order = self._load_order(s, who, order_id)
            if not who.may(Permission.PURCHASE):
                raise Forbidden(f"the {who.role} role may not accept delivery differences")
            for v in s.scalars(
                select(PurchaseVariance).where(
                    PurchaseVariance.order_id == order.id,
                    PurchaseVariance.needs_acceptance,
                    PurchaseVariance.accepted_by.is_(None),
                )
            ):
                v.accepted_by = who.user
            alerts.sync_key(s, "purchase_variance", variance_key(order), [], now)
            self._step(s, order, "accept", who.user, now, comment=comment)
        return self.purchase_order(who, order_id)


def variance_key(order: PurchaseOrder) -> str:
    """The alert's key: `<order id>@<store location id>` (scoped like stock alerts)."""
    return f"{order.id}@{order.location_id}"


def _aware(at: datetime) -> datetime:
    aware = as_utc(at)
    assert aware is not None
    return aware


def _receipt_lines(line: DeliveredLine, store: str, supplier: str) -> list[ReceiptLine]:
    """One receipt line per tagged item, or one for the untagged quantity."""
    gtin = line.gtin.zfill(14)
    if line.epcs and line.quantity not in (1, len(line.epcs)):
        raise Invalid(
            f"{gtin} lot {line.lot}: {len(line.epcs)} EPCs for a quantity of {line.quantity}"
        )
    if line.epcs:
        return [
            ReceiptLine(
                epc=e,
                gtin=gtin,
                lot=line.lot,
                expiry=line.expiry,
                location=store,
                supplier=supplier,
            )
            for e in line.epcs
        ]
    return [
        ReceiptLine(
            epc="",
            gtin=gtin,
            lot=line.lot,
            expiry=line.expiry,
            location=store,
            quantity=line.quantity,
            supplier=supplier,
        )
    ]


def delivered_from_receipt(rows: list[ReceiptLine]) -> list[DeliveredLine]:
    """Receipt lines (an EPCIS document's, a receipt CSV's) as delivered lines: one per
    batch, its tags together and its untagged quantity on its own."""
    tagged: dict[tuple[str, str, date], list[str]] = defaultdict(list)
    untagged: dict[tuple[str, str, date], int] = defaultdict(int)
    for r in rows:
        if r.epc:
            tagged[(r.gtin, r.lot, r.expiry)].append(r.epc)
        else:
            untagged[(r.gtin, r.lot, r.expiry)] += r.quantity
    out = [
        DeliveredLine(g, lot, exp, len(e), None, tuple(e)) for (g, lot, exp), e in tagged.items()
    ]
    out += [DeliveredLine(g, lot, exp, q) for (g, lot, exp), q in untagged.items()]
    return out


def parse_delivery_csv(text: str) -> list[DeliveredLine]:
    """A supplier's delivery note as CSV: gtin, lot, expiry (YYYY-MM-DD), quantity, and
    optionally unit_price and epc (one tagged item per row); refused whole, naming lines."""
    import csv
    import io

    reader = csv.DictReader(io.StringIO(text))
    missing = {"gtin", "lot", "expiry"} - set(reader.fieldnames or [])
    if missing:
        raise Invalid(f"delivery CSV lacks columns {sorted(missing)}")
    tagged: dict[tuple[str, str, date], list[str]] = defaultdict(list)
    out: list[DeliveredLine] = []
    problems: list[str] = []
    try:
        for row in reader:
            line = reader.line_num
            get = {k: (v or "").strip() for k, v in row.items() if isinstance(k, str)}
            try:
                expiry = date.fromisoformat(get["expiry"])
            except ValueError:
                problems.append(f"line {line}: expiry {get['expiry'][:20]!r} is not YYYY-MM-DD")
                continue
            gtin, lot, epc = get["gtin"].zfill(14), get["lot"], get.get("epc", "")
            if epc:
                tagged[(gtin, lot, expiry)].append(epc)
                continue
            qty = get.get("quantity", "")
            if not qty.isdigit() or not 1 <= int(qty) <= 1_000_000:
                problems.append(f"line {line}: quantity {qty[:20]!r} is not a whole number >= 1")
                continue
            try:
                price = Decimal(get["unit_price"]) if get.get("unit_price") else None
            except ArithmeticError:
                problems.append(
                    f"line {line}: unit_price {get['unit_price'][:20]!r} is not a number"
                )
                continue
            out.append(DeliveredLine(gtin, lot, expiry, int(qty), price))
    except csv.Error as exc:
        raise Invalid(f"delivery CSV: line {reader.line_num}: {exc}") from None
    if problems:
        raise Invalid(listed(problems))
    out += [
        DeliveredLine(g, lot, exp, len(e), None, tuple(e)) for (g, lot, exp), e in tagged.items()
    ]
    if not out:
        raise Invalid("delivery CSV: no lines")
    return out
