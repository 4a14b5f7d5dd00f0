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

from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from central.models import Batch, Discrepancy, IngestedEvent, Location, Movement, Stock, Tag
from rules import events as ev
from rules.events import Batch as EventBatch
from rules.events import BatchMovement, CabinetMovement, Direction, Event


def _ts(t_us: int) -> datetime:
    return datetime.fromtimestamp(t_us / 1_000_000, tz=UTC)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; they are UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class Ledger:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.session = sessionmaker(engine, expire_on_commit=False)
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    # --- public ------------------------------------------------------------------------

    def apply(self, event: Event, received_at: datetime | None = None) -> bool:
        """Apply one event; False when it was a duplicate (already applied)."""
        with self.session.begin() as s:
            if not self._claim(s, event, received_at or datetime.now(UTC)):
                return False
            if isinstance(event, BatchMovement):
                self._batch_movement(s, event)
            elif isinstance(event, CabinetMovement):
                self._cabinet_movement(s, event)
        return True

    def stock(self, location: str | None = None) -> list[dict[str, Any]]:
        with self.session() as s:
            q = (
                select(Location.code, Batch.gtin, Batch.lot, Batch.expiry, Stock.quantity)
                .join(Location, Location.id == Stock.location_id)
                .join(Batch, Batch.id == Stock.batch_id)
                .where(Stock.quantity != 0)
                .order_by(Location.code, Batch.gtin, Batch.lot)
            )
            if location is not None:
                q = q.where(Location.code == location)
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

    # --- internals -------------------------------------------------------------------

    def _claim(self, s: Session, e: Event, received_at: datetime) -> bool:
        stmt = (
            self._insert(IngestedEvent)
            .values(
                event_id=e.event_id,
                kind=e.kind,
                site=e.site,
                gateway=e.gateway,
                seq=e.seq,
                occurred_at=_ts(e.occurred_at_us),
                received_at=received_at,
            )
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(IngestedEvent.event_id)
        )
        return s.execute(stmt).scalar_one_or_none() is not None

    def _location(self, s: Session, site: str, zone: str) -> int:
        code = f"{site}/{zone}"
        s.execute(
            self._insert(Location)
            .values(code=code, name=zone, kind="zone")
            .on_conflict_do_nothing(index_elements=["code"])
        )
        return int(s.execute(select(Location.id).where(Location.code == code)).scalar_one())

    def _batch(self, s: Session, b: EventBatch) -> int:
        gtin, lot = b.gtin or "", b.lot or ""
        expiry = date.fromisoformat(b.expiry) if b.expiry else None
        s.execute(
            self._insert(Batch)
            .values(gtin=gtin, lot=lot, expiry=expiry, supplier="", locked=False)
            .on_conflict_do_nothing(index_elements=["gtin", "lot"])
        )
        return int(
            s.execute(select(Batch.id).where(Batch.gtin == gtin, Batch.lot == lot)).scalar_one()
        )

    def _add_stock(self, s: Session, location_id: int, batch_id: int, delta: int) -> None:
        stmt = self._insert(Stock).values(
            location_id=location_id, batch_id=batch_id, quantity=delta
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["location_id", "batch_id"], set_={"quantity": Stock.quantity + delta}
        )
        s.execute(stmt)

    def _move_tags(
        self,
        s: Session,
        e: Event,
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
    ) -> None:
        """Move each tag to `to_id` (None: out of stock); journal one line per (from, to).

        `expect_known`: the tags should already be in stock (they leave a place); an unknown
        one is a discrepancy. Tags arriving from outside may be new to the ledger."""
        at = _ts(e.occurred_at_us)
        now = datetime.now(UTC)
        tags = {t.epc: t for t in s.scalars(select(Tag).where(Tag.epc.in_(epcs)))}
        lines: dict[tuple[int | None, int | None], int] = defaultdict(int)
        for epc in epcs:
            tag = tags.get(epc)
            if tag is None:
                tag = Tag(epc=epc, batch_id=batch_id, location_id=None, last_event_at=None)
                s.add(tag)
            last = _aware(tag.last_event_at)
            if last is not None and at < last:
                lines[(None, None)] += 1  # older than what we know: journal only
                continue
            was = tag.location_id
            if (was is None and expect_known) or (
                was is not None and from_id is not None and was != from_id
            ):
                s.add(
                    Discrepancy(
                        event_id=e.event_id,
                        epc=epc,
                        reason=f"{kind}: left location {from_id} but the ledger had it at {was}",
                        created_at=now,
                        resolved=False,
                    )
                )
            if was is not None and was != to_id:
                self._add_stock(s, was, tag.batch_id, -1)
            if to_id is not None and was != to_id:
                self._add_stock(s, to_id, batch_id, +1)
            tag.location_id = to_id
            tag.batch_id = batch_id
            tag.last_event_at = at
            lines[(was, to_id)] += 1
        for (src, dst), n in lines.items():
            s.add(
                Movement(
                    event_id=e.event_id,
                    kind=kind,
                    batch_id=batch_id,
                    from_location_id=src,
                    to_location_id=dst,
                    quantity=n,
                    biz_step=biz_step,
                    actor=actor,
                    case_id=case_id,
                    reason="" if (src, dst) != (None, None) else "older than the tag's last event",
                    occurred_at=at,
                    recorded_at=now,
                )
            )

    def _batch_movement(self, s: Session, e: BatchMovement) -> None:
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
                    recorded_at=datetime.now(UTC),
                )
            )
            return
        from_id = self._location(s, e.site, e.from_zone) if e.from_zone else None
        to_id = self._location(s, e.site, e.to_zone) if e.to_zone else None
        self._move_tags(
            s, e, e.epcs, batch_id, from_id, to_id,
            kind="batch_movement", biz_step=e.biz_step or "", actor=e.gateway, case_id="",
            expect_known=e.direction == Direction.OUT,
        )  # fmt: skip

    def _cabinet_movement(self, s: Session, e: CabinetMovement) -> None:
        batch_id = self._batch(s, e.batch)
        cabinet = self._location(s, e.site, e.zone)
        take = e.action == "take"
        self._move_tags(
            s, e, e.epcs, batch_id,
            cabinet if take else None,
            None if take else cabinet,
            kind=f"cabinet_{e.action}",
            biz_step="dispensing" if take else "returning",
            actor=e.user_id or "unattributed",
            case_id=e.case_id or "",
            expect_known=take,
        )  # fmt: skip


__all__ = ["Ledger", "ev"]
