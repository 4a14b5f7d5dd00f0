"""Reading the ledger: stock, a batch's trace, an item's history, stocktake reports, the
commissioning map the edges consume."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from central.errors import NotFound
from central.ledger.base import LedgerBase, iso
from central.models import (
    Batch,
    Location,
    Movement,
    Receipt,
    Stock,
    Stocktake,
    StocktakeLine,
    Tag,
    TagHistory,
)
from rules.commissioning import CommissioningMap
from rules.scan import TRACE_URI

BINDING_KINDS = ("receiving", "opening_balance")  # what binds a tag to its batch


def _move(at: datetime | None, m: Movement | TagHistory, codes: dict[int, str]) -> dict[str, Any]:
    """A movement or a history line as the API shows it: places by their codes."""
    return {
        "at": iso(at),
        "kind": m.kind,
        "from": codes.get(m.from_location_id) if m.from_location_id else None,
        "to": codes.get(m.to_location_id) if m.to_location_id else None,
        "actor": m.actor,
        "case": m.case_id,
    }


def at_or_below(location: str) -> ColumnElement[bool]:
    """Locations `location` covers: itself and those below it (`site/ward-5/...`), with
    LIKE wildcards in the code taken literally."""
    return (Location.code == location) | Location.code.startswith(location + "/", autoescape=True)


class Queries(LedgerBase):
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
                q = q.where(at_or_below(location))
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
                _move(m.occurred_at, m, codes) | {"quantity": m.quantity}
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
                "last_event_at": iso(tag.last_event_at),
                "movements": [_move(m.at, m, codes) | {"event_id": m.ref} for m in rows],
            }

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
                    | (_quantity_line(s, ln) if ln.batch_id is not None else {})
                    for ln in lines
                ],
            }

    def receipt_count(self) -> int:
        with self.session() as s:
            return int(s.scalar(select(func.count()).select_from(Receipt)) or 0)

    def commissioning_version(self) -> int:
        """Only receiving (and the opening balance) binds tags to batches: the map's version is
        its last such history row."""
        with self.session() as s:
            v = s.scalar(select(func.max(TagHistory.id)).where(TagHistory.kind.in_(BINDING_KINDS)))
        return int(v or 0)

    def commissioning_map(self, since: int = 0) -> CommissioningMap:
        """EPC -> (GTIN, lot, expiry) of every commissioned tag, as the edges consume it
        (`hwms/v1/<site>/commissioning`, retained). With `since`, only the tags (re)bound
        after that version: the cumulative delta (`.../commissioning/delta`, retained,
        `base_version` = since)."""
        with self.session() as s:
            version = s.scalar(
                select(func.max(TagHistory.id)).where(TagHistory.kind.in_(BINDING_KINDS))
            )
            q = (
                select(Tag.epc, Batch.gtin, Batch.lot, Batch.expiry)
                .join(Batch, Batch.id == Tag.batch_id)
                .where(Batch.lot != "", ~Tag.epc.startswith(TRACE_URI))  # no tag to read
                .order_by(Tag.epc)
            )
            if since:
                changed = select(TagHistory.epc).where(
                    TagHistory.kind.in_(BINDING_KINDS), TagHistory.id > since
                )
                q = q.where(Tag.epc.in_(changed))
            rows = s.execute(q).all()
        records = {
            epc: {"gtin": gtin, "lot": lot, "expiry": expiry.isoformat() if expiry else None}
            for epc, gtin, lot, expiry in rows
        }
        return CommissioningMap(int(version or 0), records, since or None)


def _quantity_line(s: Session, ln: StocktakeLine) -> dict[str, Any]:
    """An untagged batch's stocktake line: which batch, how many expected and counted."""
    b = s.get(Batch, ln.batch_id)
    return {"gtin": b.gtin if b else "", "lot": b.lot if b else "",
            "expected_quantity": ln.expected_quantity,
            "counted_quantity": ln.counted_quantity}  # fmt: skip
