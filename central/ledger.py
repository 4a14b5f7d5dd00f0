"""Applying edge events to the ledger, idempotently, in one transaction per event.

- `ingested_event` has the event id as primary key: a duplicate inserts nothing and is
  reported as such, so nothing is counted twice.
- Each tag's location is tracked; stock per (location, batch) is the number of tags there,
  changed by atomic upserts (`quantity = quantity + delta`), safe with several ledger
  processes on one PostgreSQL.
- An item leaving a place the ledger did not know it to be in is a `discrepancy` (stock never
  goes negative); an event older than the tag's last applied event does not move the tag
  back (last seen location is not a sum), it is journalled only.
- Every change is an append-only `movement` row with the event, actor, case and reason.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal, cast

import structlog
from sqlalchemy import Engine, Table, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from central import alerts
from central.clock import SYSTEM_CLOCK, Clock, as_utc
from central.errors import Conflict, Invalid, NotFound
from central.models import (
    AppUser,
    Batch,
    Discrepancy,
    GatewayProgress,
    IngestedEvent,
    Location,
    Movement,
    Product,
    Receipt,
    Stock,
    Stocktake,
    StocktakeLine,
    Tag,
    TagHistory,
    TransportOrder,
)
from rules.epc import EpcError, check_epc_uri, decode, gs1_check_digit
from rules.events import NAME, BatchMovement, CabinetMovement, Direction, Event, content_id
from rules.events import Batch as EventBatch
from rules.identity import ident_from_uri
from rules.progress import SeqProgress

log = structlog.get_logger(__name__)


Outcome = Literal["applied", "duplicate", "conflict"]


def _conflict(e: Event) -> alerts.Condition:
    return alerts.Condition(
        "conflicting_event", e.event_id, "critical",
        f"event {e.event_id} from {e.site}/{e.gateway} (seq {e.seq}) came again with other"
        " content: not applied, kept in the dead letters",
    )  # fmt: skip


def new_receipt_number(now: datetime) -> str:
    """When the delivery note has none: date and a random part (unique across ledgers)."""
    return f"R-{now:%Y%m%d}-{uuid.uuid4().hex[:8].upper()}"


class ReceiptError(Invalid):
    """A receipt that cannot be booked; the message lists every bad line."""


class BookingError(Invalid):
    """A booking (return, loss, scrap, adjustment, stocktake) that cannot be made."""


BOOKING_KINDS = ("return", "loss", "scrap", "adjustment")
IN_CHUNK = 10_000  # values per IN (...): PostgreSQL allows 65 535 parameters per statement
LOCATION_CODE = re.compile(rf"{NAME.pattern}(/{NAME.pattern})+")


def location_problem(code: str) -> str:
    """Why `code` is not a location code (`<site>/<zone>[/...]`), or ''."""
    if len(code) > 200 or not LOCATION_CODE.fullmatch(code):
        return f"location {code[:80]!r} is not a location code like 'site/zone'"
    return ""


def _tag_column(s: Session, column: Any, epcs: Iterable[str]) -> dict[str, Any]:
    """EPC -> `column` of the tags among `epcs`, queried in chunks of IN_CHUNK."""
    values = list(epcs)
    out: dict[str, Any] = {}
    for i in range(0, len(values), IN_CHUNK):
        chunk = values[i : i + IN_CHUNK]
        rows = s.execute(select(Tag.epc, column).where(Tag.epc.in_(chunk)))
        out.update((epc, value) for epc, value in rows)
    return out


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    epc: str  # pure-identity URI; "" for untagged goods (then `quantity` of them)
    gtin: str
    lot: str
    expiry: date
    location: str  # location code, e.g. "<site>/<zone>"
    quantity: int = 1
    supplier: str = ""

    def problem(self, today: date) -> str:
        if (
            len(self.gtin) != 14
            or not self.gtin.isdigit()
            or gs1_check_digit(self.gtin[:13]) != self.gtin[13]
        ):
            return f"GTIN {self.gtin!r} is not a valid GTIN-14"
        if self.expiry <= today:
            return f"expiry {self.expiry} is not in the future"
        if not self.lot:
            return "lot is missing"
        if self.quantity < 1 or (self.epc and self.quantity != 1):
            return "a tagged line is one item; an untagged line needs a quantity >= 1"
        if self.epc and (problem := check_epc_uri(self.epc)):
            return problem
        if problem := location_problem(self.location):
            return problem
        ident = ident_from_uri(self.epc)
        if ident.gtin is not None and ident.gtin != self.gtin:
            return f"EPC {self.epc} belongs to GTIN {ident.gtin}, not {self.gtin}"
        return ""


def parse_receipt_csv(text: str) -> list[ReceiptLine]:
    """Columns epc, gtin, lot, expiry (YYYY-MM-DD), location, and optionally quantity and
    supplier; epc as hex or a URI, or empty for untagged goods (with a quantity)."""
    import csv
    import io

    reader = csv.DictReader(io.StringIO(text))
    missing = {"epc", "gtin", "lot", "expiry", "location"} - set(reader.fieldnames or [])
    if missing:
        raise ReceiptError(f"CSV lacks columns {sorted(missing)}")
    out = []
    for i, row in enumerate(reader):
        epc = row["epc"].strip()
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


TAG_TABLE = cast(Table, Tag.__table__)
STOCK_TABLE = cast(Table, Stock.__table__)
MOVEMENT_TABLE = cast(Table, Movement.__table__)


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows to one array per column: the parameters of an unnest() statement."""
    return {k: [r[k] for r in rows] for k in rows[0]}


PG_TAG_SELECT = text(
    "SELECT epc, location_id, batch_id, last_event_at FROM tag"
    " WHERE epc = ANY(CAST(:epcs AS varchar[]))"
)
PG_TAG_UPSERT = text(
    "INSERT INTO tag (epc, batch_id, location_id, last_event_at)"
    " SELECT * FROM unnest(CAST(:epc AS varchar[]), CAST(:batch_id AS integer[]),"
    " CAST(:location_id AS integer[]), CAST(:last_event_at AS timestamptz[]))"
    " ON CONFLICT (epc) DO UPDATE SET batch_id = excluded.batch_id,"
    " location_id = excluded.location_id, last_event_at = excluded.last_event_at"
)
PG_STOCK_UPSERT = text(
    "INSERT INTO stock (location_id, batch_id, quantity)"
    " SELECT * FROM unnest(CAST(:location_id AS integer[]), CAST(:batch_id AS integer[]),"
    " CAST(:quantity AS integer[]))"
    " ON CONFLICT (location_id, batch_id)"
    " DO UPDATE SET quantity = stock.quantity + excluded.quantity"
)
PG_INSERTS = {
    "tag_history": text(
        "INSERT INTO tag_history (epc, at, kind, from_location_id, to_location_id, actor,"
        " case_id, ref) SELECT * FROM unnest(CAST(:epc AS varchar[]),"
        " CAST(:at AS timestamptz[]), CAST(:kind AS varchar[]),"
        " CAST(:from_location_id AS integer[]), CAST(:to_location_id AS integer[]),"
        " CAST(:actor AS varchar[]), CAST(:case_id AS varchar[]), CAST(:ref AS varchar[]))"
    ),
    "movement": text(
        "INSERT INTO movement (event_id, kind, batch_id, from_location_id, to_location_id,"
        " quantity, biz_step, actor, case_id, reason, occurred_at, recorded_at)"
        " SELECT * FROM unnest(CAST(:event_id AS varchar[]), CAST(:kind AS varchar[]),"
        " CAST(:batch_id AS integer[]), CAST(:from_location_id AS integer[]),"
        " CAST(:to_location_id AS integer[]), CAST(:quantity AS integer[]),"
        " CAST(:biz_step AS varchar[]), CAST(:actor AS varchar[]), CAST(:case_id AS varchar[]),"
        " CAST(:reason AS text[]), CAST(:occurred_at AS timestamptz[]),"
        " CAST(:recorded_at AS timestamptz[]))"
    ),
}
TAG_HISTORY_TABLE = cast(Table, TagHistory.__table__)


def _ts(t_us: int) -> datetime:
    return datetime.fromtimestamp(t_us / 1_000_000, tz=UTC)


def _iso(value: datetime | None) -> str | None:
    aware = as_utc(value)
    return None if aware is None else aware.astimezone(UTC).isoformat()


_UNKNOWN: tuple[int | None, int | None, datetime | None] = (None, None, None)


@dataclass
class _Pending:
    """What a transaction will write, gathered over all its events and written at the end
    with one statement per table (rows per event cost little; round trips cost a lot).

    `known` is the tags' state as this transaction sees it: read once from the database,
    then updated in memory by every event, so a later event in the same batch sees the
    earlier one's moves."""

    known: dict[str, tuple[int | None, int | None, datetime | None]] = field(default_factory=dict)
    tags: dict[str, dict[str, Any]] = field(default_factory=dict)  # epc -> row (last wins)
    history: list[dict[str, Any]] = field(default_factory=list)
    deltas: dict[tuple[int, int], int] = field(default_factory=lambda: defaultdict(int))
    movements: list[dict[str, Any]] = field(default_factory=list)
    batches: dict[int, Batch | None] = field(default_factory=dict)  # read once per transaction


class Ledger:
    def __init__(self, engine: Engine, clock: Clock = SYSTEM_CLOCK) -> None:
        self.engine = engine
        self.clock = clock
        self.session = sessionmaker(engine, expire_on_commit=False)
        self._pg = engine.dialect.name == "postgresql"
        self._insert = postgresql.insert if self._pg else sqlite.insert
        # ids of locations and batches never change once created: remember them
        self._location_ids: dict[str, int] = {}
        self._batch_ids: dict[tuple[str, str], int] = {}
        self._fresh_locations: dict[str, int] = {}
        self._fresh_batches: dict[tuple[str, str], int] = {}
        # per gateway, the progress changed by the last committed `apply_batch` (to publish)
        self.progress: dict[tuple[str, str], SeqProgress] = {}

    def _remember(self, committed: bool) -> None:
        """Ids seen in a transaction are cached only if it committed (else they may not exist)."""
        if committed:
            self._location_ids.update(self._fresh_locations)
            self._batch_ids.update(self._fresh_batches)
        self._fresh_locations.clear()
        self._fresh_batches.clear()

    # --- public ------------------------------------------------------------------------

    def apply(self, event: Event, received_at: datetime | None = None) -> bool:
        """Apply one event; False when it was a duplicate (already applied)."""
        return self.apply_many([(event, received_at or self.clock.now())])[0]

    def apply_many(self, events: list[tuple[Event, datetime]]) -> list[bool]:
        """`apply_batch`, as whether each event was applied."""
        return [o == "applied" for o in self.apply_batch(events)]

    def apply_batch(self, events: list[tuple[Event, datetime]]) -> list[Outcome]:
        """Apply events in order in one transaction (all or nothing). Per event: `applied`,
        `duplicate` (its id was applied before, also within this batch, with the same
        content) or `conflict` (its id was applied before with other content: nothing of it
        is applied, and a critical alert says so)."""
        outcomes: list[Outcome] = []
        self.progress = {}
        try:
            digests = [content_id(e) for e, _ in events]
            with self.session.begin() as s:
                fresh, conflicts = self._claim_many(s, events, digests)
                p = _Pending()
                self._prefetch(
                    s,
                    p,
                    [
                        epc
                        for e, _ in events
                        if isinstance(e, BatchMovement | CabinetMovement)
                        for epc in e.epcs
                    ],
                )
                for (event, received_at), digest in zip(events, digests, strict=True):
                    if conflicts.setdefault(event.event_id, digest) != digest:
                        outcomes.append("conflict")
                        alerts.raise_once(s, _conflict(event), received_at)
                        continue
                    claimed = event.event_id in fresh
                    fresh.discard(event.event_id)  # the same event twice in one batch: once
                    outcomes.append("applied" if claimed else "duplicate")
                    if not claimed:
                        continue
                    if isinstance(event, BatchMovement):
                        self._batch_movement(s, p, event)
                    elif isinstance(event, CabinetMovement):
                        self._cabinet_movement(s, p, event)
                    alerts.apply_changes(s, alerts.from_event(event), received_at)
                self._write(s, p)
                progress = self._record_progress(s, [e for e, _ in events], self.clock.now())
        except BaseException:
            self._remember(False)
            raise
        self._remember(True)
        self.progress = progress
        return outcomes

    def _record_progress(
        self, s: Session, events: list[Event], now: datetime
    ) -> dict[tuple[str, str], SeqProgress]:
        """Record the seqs of a transaction's events (duplicates and conflicts too: they are
        handled) per gateway; returns the progress of those that changed. The progress row is
        the transaction's last lock, taken in a fixed order, so ledgers never deadlock on it."""
        seqs: dict[tuple[str, str], list[int]] = defaultdict(list)
        for e in events:
            seqs[(e.site, e.gateway)].append(e.seq)
        changed: dict[tuple[str, str], SeqProgress] = {}
        for (site, gateway), batch in sorted(seqs.items()):
            s.execute(
                self._insert(GatewayProgress)
                .values(site=site, gateway=gateway, committed_seq=0, above="[]", updated_at=now)
                .on_conflict_do_nothing(index_elements=["site", "gateway"])
            )
            row = s.scalars(
                select(GatewayProgress)
                .where(GatewayProgress.site == site, GatewayProgress.gateway == gateway)
                .with_for_update()
            ).one()
            before = SeqProgress(row.committed_seq, tuple((a, b) for a, b in json.loads(row.above)))
            after = before.add(batch)
            if after == before:
                continue
            row.committed_seq, row.above = after.committed, json.dumps(after.above)
            row.hole_since = (row.hole_since or now) if after.above else None
            row.updated_at = now
            changed[(site, gateway)] = after
        return changed

    def stock(
        self, location: str | None = None, gtin: str | None = None, lot: str | None = None
    ) -> list[dict[str, Any]]:
        """Stock per location and batch, optionally of one location, product or batch; a
        location also covers the locations below it (`site/ward-5` covers `site/ward-5/...`)."""
        with self.session() as s:
            q = (
                select(Location.code, Batch.gtin, Batch.lot, Batch.expiry, Stock.quantity)
                .join(Location, Location.id == Stock.location_id)
                .join(Batch, Batch.id == Stock.batch_id)
                .where(Stock.quantity != 0)
                .order_by(Location.code, Batch.gtin, Batch.lot)
            )
            if location is not None:
                q = q.where(
                    (Location.code == location)
                    | Location.code.startswith(location + "/", autoescape=True)
                )
            if gtin is not None:
                q = q.where(Batch.gtin == gtin.zfill(14))
            if lot is not None:
                q = q.where(Batch.lot == lot)
            return [
                {
                    "location": loc,
                    "gtin": g,
                    "lot": lot,
                    "expiry": exp.isoformat() if exp else None,
                    "quantity": n,
                }
                for loc, g, lot, exp, n in s.execute(q)
            ]

    def receive(
        self,
        rows: list[ReceiptLine],
        *,
        actor: str,
        today: date | None = None,
        number: str | None = None,
    ) -> int:
        """Commission tagged items at receiving: bind each EPC to its batch and put it in
        stock at its location, in one transaction, as receipt `number` (the delivery note;
        generated when not given; a number already booked is refused, so a delivery cannot
        be booked twice). Rejects the whole receipt on any bad line (unknown GTIN check
        digit, expiry not in the future, EPC of another GTIN, unknown product)."""
        today = today or self.clock.today()
        problems = [f"line {i + 1}: {p}" for i, r in enumerate(rows) if (p := r.problem(today))]
        with self.session() as s:
            products = set(s.scalars(select(Product.gtin)))
        if products:  # with product master data on file, a receipt names known products only
            problems += [
                f"line {i + 1}: GTIN {r.gtin} is not in the product master data"
                for i, r in enumerate(rows)
                if r.gtin not in products
            ]
        if problems:
            more = f"; and {len(problems) - 50} more" if len(problems) > 50 else ""
            raise ReceiptError("; ".join(problems[:50]) + more)
        now = self.clock.now()
        number = number or new_receipt_number(now)
        try:
            self._receive(rows, actor, today, now, number)
        except IntegrityError:
            self._remember(False)
            raise Conflict(f"receipt {number} is already booked") from None
        except BaseException:
            self._remember(False)
            raise
        self._remember(True)
        return sum(r.quantity for r in rows)  # items received

    def _receive(
        self, rows: list[ReceiptLine], actor: str, today: date, now: datetime, number: str
    ) -> None:
        with self.session.begin() as s:
            s.add(Receipt(number=number, received_at=now, actor=actor, lines=len(rows),
                          items=sum(r.quantity for r in rows)))  # fmt: skip
            s.flush()  # a duplicate number fails here, before anything moved
            groups: dict[tuple[str, str, date, str, str], list[ReceiptLine]] = defaultdict(list)
            for r in rows:
                groups[(r.gtin, r.lot, r.expiry, r.location, r.supplier)].append(r)
            p = _Pending()
            for (gtin, lot, expiry, location, supplier), lines in groups.items():
                batch_id = self._batch(
                    s, EventBatch(gtin=gtin, lot=lot, expiry=expiry.isoformat()), supplier
                )
                site, _, zone = location.rpartition("/")
                loc = self._location(s, site, zone)
                tags = tuple(r.epc for r in lines if r.epc)
                if tags:  # a tag received again is re-bound to this batch and moved here
                    self._move_tags(
                        s, p, None, now, tags, batch_id, None, loc, kind="receiving",
                        biz_step="receiving", actor=actor, case_id="", expect_known=False,
                        reason=f"receipt {number}",
                    )  # fmt: skip
                untagged = sum(r.quantity for r in lines if not r.epc)
                if untagged:
                    p.deltas[(loc, batch_id)] += untagged
                    p.movements.append(
                        {"event_id": None, "kind": "receiving", "batch_id": batch_id,
                         "from_location_id": None, "to_location_id": loc, "quantity": untagged,
                         "biz_step": "receiving", "actor": actor, "case_id": "",
                         "reason": f"receipt {number} (untagged)", "occurred_at": now,
                         "recorded_at": now}
                    )  # fmt: skip
            self._write(s, p)
            alerts.evaluate(s, today, now)  # stock arrived: expiry and levels at once

    def lock_batch(self, gtin: str, lot: str, *, user: str, locked: bool = True) -> None:
        """Recall lock (or unlock) a batch; while locked, any movement of it raises an alert."""
        now = self.clock.now()
        with self.session.begin() as s:
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
                    case_id="", reason="recall", occurred_at=now, recorded_at=now,
                )
            )  # fmt: skip

    def receipt_count(self) -> int:
        with self.session() as s:
            return int(s.scalar(select(func.count()).select_from(Receipt)) or 0)

    def commissioning_version(self) -> int:
        """Only receiving binds tags to batches: the map's version is its last history row."""
        with self.session() as s:
            v = s.scalar(select(func.max(TagHistory.id)).where(TagHistory.kind == "receiving"))
        return int(v or 0)

    def commissioning_map(self, since: int = 0) -> dict[str, Any]:
        """EPC -> (GTIN, lot, expiry) of every commissioned tag, as the edges consume it
        (`hwms/v1/<site>/commissioning`, retained). With `since`, only the tags (re)bound
        after that version: the cumulative delta (`.../commissioning/delta`, retained,
        `base_version` = since)."""
        with self.session() as s:
            version = s.scalar(
                select(func.max(TagHistory.id)).where(TagHistory.kind == "receiving")
            )
            q = (
                select(Tag.epc, Batch.gtin, Batch.lot, Batch.expiry)
                .join(Batch, Batch.id == Tag.batch_id)
                .where(Batch.lot != "")
                .order_by(Tag.epc)
            )
            if since:
                changed = select(TagHistory.epc).where(
                    TagHistory.kind == "receiving", TagHistory.id > since
                )
                q = q.where(Tag.epc.in_(changed))
            rows = s.execute(q).all()
        records = {
            epc: {"gtin": gtin, "lot": lot, "expiry": expiry.isoformat() if expiry else None}
            for epc, gtin, lot, expiry in rows
        }
        out: dict[str, Any] = {"schema": 1, "version": int(version or 0), "records": records}
        if since:
            out["base_version"] = since
        return out

    def trace(self, gtin: str, lot: str) -> dict[str, Any]:
        """Where every unit of a batch is now, and every movement it made (recall trace)."""
        with self.session() as s:
            batch = s.scalars(
                select(Batch).where(Batch.gtin == gtin, Batch.lot == lot)
            ).one_or_none()
            if batch is None:
                return {"gtin": gtin, "lot": lot, "found": False, "units": [], "movements": []}
            codes = {loc.id: loc.code for loc in s.scalars(select(Location))}
            units = [
                {"epc": t.epc, "location": codes.get(t.location_id) if t.location_id else None}
                for t in s.scalars(select(Tag).where(Tag.batch_id == batch.id).order_by(Tag.epc))
            ]
            moves = [
                {
                    "at": _iso(m.occurred_at),
                    "kind": m.kind,
                    "from": codes.get(m.from_location_id) if m.from_location_id else None,
                    "to": codes.get(m.to_location_id) if m.to_location_id else None,
                    "quantity": m.quantity,
                    "actor": m.actor,
                    "case": m.case_id,
                }
                for m in s.scalars(
                    select(Movement).where(Movement.batch_id == batch.id).order_by(Movement.id)
                )
            ]
            return {
                "gtin": gtin,
                "lot": lot,
                "found": True,
                "expiry": batch.expiry.isoformat() if batch.expiry else None,
                "locked": batch.locked,
                "units": units,
                "movements": moves,
            }

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
        if kind not in BOOKING_KINDS:
            raise BookingError(f"unknown booking kind {kind!r} (one of {', '.join(BOOKING_KINDS)})")
        if not reason.strip() or not user.strip():
            raise BookingError("a booking needs a user and a reason")
        if bool(epcs) == bool(quantity):
            raise BookingError("give either EPCs or a quantity of a GTIN and lot")
        if problem := location_problem(location):
            raise BookingError(problem)
        now = self.clock.now()
        site, _, zone = location.rpartition("/")
        try:
            with self.session.begin() as s:
                loc = self._location(s, site, zone)
                if epcs:
                    n = self._book_tags(s, kind, loc, epcs, user, reason, case_id, now)
                else:
                    n = self._book_quantity(s, kind, loc, gtin, lot, quantity, user, reason, now)
        except BaseException:
            self._remember(False)
            raise
        self._remember(True)
        return n

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
        known = _tag_column(s, Tag.batch_id, epcs)
        unknown = [e for e in epcs if e not in known]
        if unknown:
            raise BookingError(f"not commissioned: {', '.join(unknown[:5])}")
        leaving = kind in ("loss", "scrap")
        by_batch: dict[int, list[str]] = defaultdict(list)
        for epc in epcs:
            by_batch[known[epc]].append(epc)
        p = _Pending()
        for batch_id, members in sorted(by_batch.items()):
            self._move_tags(
                s, p, None, now, tuple(members), batch_id,
                loc if leaving else None, None if leaving else loc,
                kind=kind, biz_step="", actor=user, case_id=case_id, expect_known=leaving,
                reason=reason,
            )  # fmt: skip
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
        delta = -abs(quantity) if kind in ("loss", "scrap") else quantity
        if kind == "return":
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
        now = self.clock.now()
        site, _, zone = location.rpartition("/")
        with self.session.begin() as s:
            loc = self._location(s, site, zone)
            expected = set(s.scalars(select(Tag.epc).where(Tag.location_id == loc)))
            counted = set(epcs)
            matched = expected & counted
            everything = expected | counted
            take = Stocktake(
                location_id=loc, source=source, counted_by=user, created_at=now,
                expected=len(expected), counted=len(counted), matched=len(matched),
                accuracy=len(matched) / len(everything) if everything else 1.0, state="open",
            )  # fmt: skip
            s.add(take)
            s.flush()
            where = _tag_column(s, Tag.location_id, counted - expected)
            for epc in sorted(expected - counted):
                s.add(StocktakeLine(stocktake_id=take.id, epc=epc, finding="missing",
                                    ledger_location_id=loc))  # fmt: skip
            for epc in sorted(counted - expected):
                s.add(StocktakeLine(stocktake_id=take.id, epc=epc, finding="unexpected",
                                    ledger_location_id=where.get(epc)))  # fmt: skip
            stocktake_id = take.id
        self._remember(True)
        return self.stocktake_report(stocktake_id)

    def stocktake_report(self, stocktake_id: int) -> dict[str, Any]:
        with self.session() as s:
            take = s.get(Stocktake, stocktake_id)
            if take is None:
                raise NotFound(f"no stocktake {stocktake_id}")
            codes = dict(s.execute(select(Location.id, Location.code)).all())
            lines = s.scalars(
                select(StocktakeLine)
                .where(StocktakeLine.stocktake_id == stocktake_id)
                .order_by(StocktakeLine.id)
            )
            return {
                "id": take.id,
                "location": codes[take.location_id],
                "source": take.source,
                "counted_by": take.counted_by,
                "expected": take.expected,
                "counted": take.counted,
                "matched": take.matched,
                "accuracy": round(take.accuracy, 4),
                "state": take.state,
                "lines": [
                    {
                        "epc": ln.epc,
                        "finding": ln.finding,
                        "ledger_location": codes.get(ln.ledger_location_id)
                        if ln.ledger_location_id
                        else None,
                    }
                    for ln in lines
                ],
            }

    def confirm_stocktake(self, stocktake_id: int, *, user: str) -> dict[str, Any]:
        """Book the count: missing items leave stock, unexpected ones are put where they were
        counted (each a `stocktake` movement with the reason). Uncommissioned EPCs cannot be
        booked and stay as lines to resolve at receiving."""
        now = self.clock.now()
        with self.session.begin() as s:
            take = s.get(Stocktake, stocktake_id)
            if take is None:
                raise NotFound(f"no stocktake {stocktake_id}")
            if take.state != "open":
                raise Conflict(f"stocktake {stocktake_id} is already {take.state}")
            lines = list(
                s.scalars(select(StocktakeLine).where(StocktakeLine.stocktake_id == take.id))
            )
            epcs = tuple(ln.epc for ln in lines)
            batches = _tag_column(s, Tag.batch_id, epcs)
            groups: dict[tuple[str, int], list[str]] = defaultdict(list)
            for ln in lines:
                if ln.epc in batches:
                    groups[(ln.finding, batches[ln.epc])].append(ln.epc)
            p = _Pending()
            for (finding, batch_id), members in sorted(groups.items()):
                missing = finding == "missing"
                self._move_tags(
                    s, p, None, now, tuple(members), batch_id,
                    take.location_id if missing else None, None if missing else take.location_id,
                    kind="stocktake", biz_step="cycle_counting", actor=user, case_id="",
                    expect_known=False, reason=f"{finding} at stocktake #{take.id}",
                )  # fmt: skip
            self._write(s, p)
            take.state, take.confirmed_by, take.confirmed_at = "confirmed", user, now
        self._remember(True)
        return self.stocktake_report(stocktake_id)

    def confirm_deliveries(self, s: Session) -> int:
        """Transport orders whose product a portal or read point has since seen arriving at
        the destination are delivered (run on the ledger's schedule, not per event)."""
        done = 0
        for order in s.scalars(
            select(TransportOrder).where(TransportOrder.state.in_(("sent", "running")))
        ):
            site, _, zone = order.destination.rpartition("/")
            arrived = s.scalar(
                select(func.min(Movement.occurred_at))
                .join(Batch, Batch.id == Movement.batch_id)
                .join(Location, Location.id == Movement.to_location_id)
                .where(
                    Movement.kind == "batch_movement",
                    Location.code == order.destination,
                    Batch.gtin == order.gtin,
                    Movement.recorded_at >= order.created_at,
                )
            )
            if arrived is not None:
                order.state, order.delivered_at = "delivered", as_utc(arrived)
                done += 1
                log.info("transport order delivered", order_id=order.id, site=site, zone=zone)
        return done

    def epc_history(self, epc: str) -> dict[str, Any]:
        """One item's story: its batch, where it is, and every movement of it."""
        with self.session() as s:
            tag = s.get(Tag, epc)
            if tag is None:
                return {"epc": epc, "found": False, "movements": []}
            batch = s.get(Batch, tag.batch_id)
            codes = dict(s.execute(select(Location.id, Location.code)).all())
            rows = s.scalars(
                select(TagHistory).where(TagHistory.epc == epc).order_by(TagHistory.id)
            )
            return {
                "epc": epc,
                "found": True,
                "gtin": batch.gtin if batch else None,
                "lot": batch.lot if batch else None,
                "location": codes.get(tag.location_id) if tag.location_id else None,
                "last_event_at": _iso(tag.last_event_at),
                "movements": [
                    {
                        "at": _iso(m.at),
                        "kind": m.kind,
                        "from": codes.get(m.from_location_id) if m.from_location_id else None,
                        "to": codes.get(m.to_location_id) if m.to_location_id else None,
                        "actor": m.actor,
                        "case": m.case_id,
                        "event_id": m.ref,
                    }
                    for m in rows
                ],
            }

    # --- internals -------------------------------------------------------------------

    def _claim_many(
        self, s: Session, events: list[tuple[Event, datetime]], digests: list[str]
    ) -> tuple[set[str], dict[str, str]]:
        """Insert every event id at once. Returns the ids that were new (to apply) and, for
        ids applied before, the content they had (None before migration 0005: trusted)."""
        rows = [
            {"event_id": e.event_id, "kind": e.kind, "site": e.site, "gateway": e.gateway,
             "seq": e.seq, "occurred_at": _ts(e.occurred_at_us), "received_at": received_at,
             "content": digest}
            for (e, received_at), digest in zip(events, digests, strict=True)
        ]  # fmt: skip
        stmt = (
            self._insert(IngestedEvent)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(IngestedEvent.event_id)
        )
        fresh = set(s.scalars(stmt))
        seen = sorted({e.event_id for e, _ in events} - fresh)
        before: dict[str, str] = {}
        for i in range(0, len(seen), 10_000):
            for event_id, content in s.execute(
                select(IngestedEvent.event_id, IngestedEvent.content).where(
                    IngestedEvent.event_id.in_(seen[i : i + 10_000])
                )
            ):
                if content is not None:
                    before[event_id] = content
        return fresh, before

    def _prefetch(self, s: Session, p: _Pending, epcs: list[str]) -> None:
        """Read the current state of the tags the transaction will touch, in few queries."""
        wanted = sorted({e for e in epcs if e not in p.known})
        for i in range(0, len(wanted), 10_000):
            chunk = wanted[i : i + 10_000]
            query = (
                PG_TAG_SELECT.bindparams(epcs=chunk)
                if self._pg
                else select(Tag.epc, Tag.location_id, Tag.batch_id, Tag.last_event_at).where(
                    Tag.epc.in_(chunk)
                )
            )
            for epc, loc, batch, last in s.execute(query):
                p.known[epc] = (loc, batch, as_utc(last))
            for epc in chunk:
                p.known.setdefault(epc, _UNKNOWN)

    def _write(self, s: Session, p: _Pending) -> None:
        """One statement per table for everything the transaction moved."""
        self._upsert_tags(s, list(p.tags.values()))
        self._insert_rows(s, TAG_HISTORY_TABLE, p.history)
        self._add_stocks(s, p.deltas)
        self._insert_rows(s, MOVEMENT_TABLE, p.movements)

    def _location(self, s: Session, site: str, zone: str) -> int:
        code = f"{site}/{zone}"
        known = self._location_ids.get(code)
        if known is not None:
            return known
        s.execute(
            self._insert(Location)
            .values(code=code, name=zone, kind="zone")
            .on_conflict_do_nothing(index_elements=["code"])
        )
        found = int(s.execute(select(Location.id).where(Location.code == code)).scalar_one())
        self._fresh_locations[code] = found  # remembered once the transaction committed
        return found

    def _batch(self, s: Session, b: EventBatch, supplier: str = "") -> int:
        gtin, lot = b.gtin or "", b.lot or ""
        known = self._batch_ids.get((gtin, lot))
        if known is not None:
            return known
        expiry = date.fromisoformat(b.expiry) if b.expiry else None
        s.execute(
            self._insert(Batch)
            .values(gtin=gtin, lot=lot, expiry=expiry, supplier=supplier, locked=False)
            .on_conflict_do_nothing(index_elements=["gtin", "lot"])
        )
        found = int(
            s.execute(select(Batch.id).where(Batch.gtin == gtin, Batch.lot == lot)).scalar_one()
        )
        self._fresh_batches[(gtin, lot)] = found
        return found

    def _add_stock(self, s: Session, location_id: int, batch_id: int, delta: int) -> None:
        self._add_stocks(s, {(location_id, batch_id): delta})

    def _add_stocks(self, s: Session, deltas: dict[tuple[int, int], int]) -> None:
        """Atomic `quantity = quantity + delta` upserts in key order (several ledgers then
        lock rows in the same order)."""
        rows = [
            {"location_id": loc, "batch_id": b, "quantity": d}
            for (loc, b), d in sorted(deltas.items())
            if d
        ]
        if not rows:
            return
        if self._pg:
            s.execute(PG_STOCK_UPSERT, _columns(rows))
            return
        stmt = self._insert(STOCK_TABLE)
        s.execute(
            stmt.on_conflict_do_update(
                index_elements=["location_id", "batch_id"],
                set_={"quantity": STOCK_TABLE.c.quantity + stmt.excluded.quantity},
            ),
            rows,
        )

    def _upsert_tags(self, s: Session, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self._pg:
            s.execute(PG_TAG_UPSERT, _columns(rows))
            return
        stmt = self._insert(TAG_TABLE)
        s.execute(
            stmt.on_conflict_do_update(
                index_elements=["epc"],
                set_={
                    "batch_id": stmt.excluded.batch_id,
                    "location_id": stmt.excluded.location_id,
                    "last_event_at": stmt.excluded.last_event_at,
                },
            ),
            rows,
        )

    def _insert_rows(self, s: Session, table: Table, rows: list[dict[str, Any]]) -> None:
        """PostgreSQL: one INSERT ... SELECT FROM unnest(arrays) per table and event (one
        round trip, one cached plan); SQLite: executemany (in process, already fast)."""
        if not rows:
            return
        if self._pg:
            s.execute(PG_INSERTS[table.name], _columns(rows))
        else:
            s.execute(table.insert(), rows)

    def _move_tags(
        self,
        s: Session,
        p: _Pending,
        ref: str | None,
        at: datetime,
        epcs: tuple[str, ...],
        batch_id: int,
        from_id: int | None,
        to_id: int | None,
        *,
        kind: str,
        biz_step: str,
        actor: str,
        case_id: str,
        expect_known: bool,
        reason: str = "",
    ) -> None:
        """Move each tag to `to_id` (None: out of stock); journal one line per (from, to).

        `expect_known`: the tags should already be in stock (they leave a place); an unknown
        one is a discrepancy. Tags arriving from outside may be new to the ledger. `ref` is
        the event id (None for a person's booking), `at` when it happened."""
        now = self.clock.now()
        key = ref or f"{kind}:{actor}:{at.isoformat()}"
        if batch_id not in p.batches:
            p.batches[batch_id] = s.get(Batch, batch_id)
        batch = p.batches[batch_id]
        if batch is not None and batch.locked:
            message = f"{len(epcs)} x recalled batch {batch.gtin} lot {batch.lot} moved"
            alerts.raise_once(
                s,
                alerts.Condition(
                    "locked_batch_moved", key, "critical", f"{message} ({kind}, {actor})"
                ),
                now,
            )
        self._prefetch(s, p, list(epcs))
        strays = 0
        lines: dict[tuple[int | None, int | None], int] = defaultdict(int)
        for epc in epcs:
            was, old_batch, last = p.known[epc]
            if old_batch is None:
                old_batch = batch_id
            if last is not None and at < last:
                lines[(None, None)] += 1  # older than what we know: journal only
                continue
            if (was is None and expect_known) or (
                was is not None and from_id is not None and was != from_id
            ):
                strays += 1
                s.add(
                    Discrepancy(
                        event_id=ref or "",
                        epc=epc,
                        reason=f"{kind}: left location {from_id} but the ledger had it at {was}",
                        created_at=now,
                        resolved=False,
                    )
                )
            if was is not None and was != to_id:
                p.deltas[(was, old_batch)] -= 1
            if to_id is not None and was != to_id:
                p.deltas[(to_id, batch_id)] += 1
            p.known[epc] = (to_id, batch_id, at)
            p.tags[epc] = {
                "epc": epc, "batch_id": batch_id, "location_id": to_id, "last_event_at": at
            }  # fmt: skip
            p.history.append(
                {"epc": epc, "at": at, "kind": kind, "from_location_id": was,
                 "to_location_id": to_id, "actor": actor, "case_id": case_id, "ref": ref}
            )  # fmt: skip
            lines[(was, to_id)] += 1
        if strays:
            msg = (
                f"{strays} item(s) of {batch.gtin if batch else batch_id} ({kind}, {actor}):"
                " the ledger had them elsewhere (or nowhere); see the discrepancies"
            )
            alerts.sync_key(
                s, "discrepancy", key, [alerts.Condition("discrepancy", key, "warning", msg)], now
            )
        p.movements.extend(
            {"event_id": ref, "kind": kind, "batch_id": batch_id, "from_location_id": src,
             "to_location_id": dst, "quantity": n, "biz_step": biz_step, "actor": actor,
             "case_id": case_id,
             "reason": reason if (src, dst) != (None, None) else "older than the tag's last event",
             "occurred_at": at, "recorded_at": now}
            for (src, dst), n in lines.items()
        )  # fmt: skip

    def _batch_movement(self, s: Session, p: _Pending, e: BatchMovement) -> None:
        batch_id = self._batch(s, e.batch)
        if e.direction == Direction.UNKNOWN or (e.to_zone is None and e.from_zone is None):
            s.add(
                Movement(
                    event_id=e.event_id,
                    kind="batch_seen",
                    batch_id=batch_id,
                    from_location_id=None,
                    to_location_id=None,
                    quantity=e.quantity,
                    biz_step="",
                    actor=e.gateway,
                    case_id="",
                    reason=f"direction unknown at {e.read_point}",
                    occurred_at=_ts(e.occurred_at_us),
                    recorded_at=self.clock.now(),
                )
            )
            return
        from_id = self._location(s, e.site, e.from_zone) if e.from_zone else None
        to_id = self._location(s, e.site, e.to_zone) if e.to_zone else None
        self._move_tags(
            s, p, e.event_id, _ts(e.occurred_at_us), e.epcs, batch_id, from_id, to_id,
            kind="batch_movement", biz_step=e.biz_step or "", actor=e.gateway, case_id="",
            expect_known=e.direction == Direction.OUT,
        )  # fmt: skip

    def _cabinet_movement(self, s: Session, p: _Pending, e: CabinetMovement) -> None:
        batch_id = self._batch(s, e.batch)
        cabinet = self._location(s, e.site, e.zone)
        take = e.action == "take"
        actor = "unattributed"
        if e.user_id:  # the cabinet sends what the badge reader read: a badge or a user id
            by_badge = s.scalar(select(AppUser.id).where(AppUser.badge == e.user_id))
            actor = by_badge or e.user_id
        self._move_tags(
            s, p, e.event_id, _ts(e.occurred_at_us), e.epcs, batch_id,
            cabinet if take else None,
            None if take else cabinet,
            kind=f"cabinet_{e.action}",
            biz_step="dispensing" if take else "returning",
            actor=actor,
            case_id=e.case_id or "",
            expect_known=take,
        )  # fmt: skip
