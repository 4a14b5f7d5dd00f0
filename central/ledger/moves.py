"""Moving tags: the one place where a tag changes location, with its history line, its
stock deltas, its movement journal, discrepancies and the recall alert of a locked batch.
What a transaction moves is gathered in `Pending` and written at its end."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central import alerts
from central.clock import as_utc
from central.ledger.bulk import MOVEMENT_TABLE, PG_TAG_SELECT, TAG_HISTORY_TABLE, BulkWrites
from central.models import Batch, Discrepancy, Location, Tag

OLDER = "older than the tag's last event"
_UNKNOWN: tuple[int | None, int | None, datetime | None] = (None, None, None)


@dataclass
class Pending:
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
    transit: dict[int, bool] = field(default_factory=dict)  # location id -> is in transit

    def move_quantity(
        self,
        *,
        batch_id: int,
        from_id: int | None,
        to_id: int | None,
        quantity: int,
        kind: str,
        at: datetime,
        biz_step: str = "",
        actor: str = "",
        case_id: str = "",
        reason: str = "",
    ) -> None:
        """Untagged goods of a batch moving (None: outside the ledger): the stock deltas
        and the journal line."""
        if from_id is not None:
            self.deltas[(from_id, batch_id)] -= quantity
        if to_id is not None:
            self.deltas[(to_id, batch_id)] += quantity
        self.movements.append(
            {"event_id": None, "kind": kind, "batch_id": batch_id, "from_location_id": from_id,
             "to_location_id": to_id, "quantity": quantity, "biz_step": biz_step,
             "actor": actor, "case_id": case_id, "reason": reason, "occurred_at": at,
             "recorded_at": at}
        )  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class TagMove:
    """Tags of one batch moving from one place to another (None: outside the ledger)."""

    epcs: tuple[str, ...]
    batch_id: int
    from_id: int | None
    to_id: int | None
    at: datetime  # when it happened
    kind: str
    ref: str | None = None  # the event id; None for a person's booking
    biz_step: str = ""
    actor: str = ""
    case_id: str = ""
    reason: str = ""
    # the tags should be in stock (they leave a place): an unknown one is a discrepancy;
    # tags arriving from outside may be new to the ledger
    expect_known: bool = False
    # a receipt names the batch: a tag already here (read at the gate before it was
    # booked, under the lot "" of its GTIN) changes batch, and its stock with it
    rebind: bool = False


class Moving(BulkWrites):
    def _prefetch(self, s: Session, p: Pending, epcs: list[str]) -> None:
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

    def _write(self, s: Session, p: Pending) -> None:
        """One statement per table for everything the transaction moved."""
        self._upsert_tags(s, list(p.tags.values()))
        self._insert_rows(s, TAG_HISTORY_TABLE, p.history)
        self._add_stocks(s, p.deltas)
        self._insert_rows(s, MOVEMENT_TABLE, p.movements)

    def _in_transit(self, s: Session, p: Pending, location_id: int) -> bool:
        """Issued goods on their way (a requisition's in-transit location): a reader that
        sees them anywhere moves them without a discrepancy."""
        if location_id not in p.transit:
            p.transit[location_id] = s.scalar(
                select(Location.kind).where(Location.id == location_id)) == "transit"  # fmt: skip
        return p.transit[location_id]

    def _move_tags(self, s: Session, p: Pending, m: TagMove) -> None:
        """Move each tag to `m.to_id` (None: out of stock); journal one line per (from, to)."""
        epcs, batch_id, from_id, to_id, at = m.epcs, m.batch_id, m.from_id, m.to_id, m.at
        ref, kind, actor, case_id = m.ref, m.kind, m.actor, m.case_id
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
            if (was is None and m.expect_known) or (
                was is not None and from_id is not None and was != from_id
                and not self._in_transit(s, p, was)
            ):  # fmt: skip
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
            moved = was != to_id or (m.rebind and old_batch != batch_id)
            if was is not None and moved:
                p.deltas[(was, old_batch)] -= 1
            if to_id is not None and moved:
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
             "to_location_id": dst, "quantity": n, "biz_step": m.biz_step, "actor": actor,
             "case_id": case_id,
             "reason": m.reason if (src, dst) != (None, None) else OLDER,
             "occurred_at": at, "recorded_at": now}
            for (src, dst), n in lines.items()
        )  # fmt: skip
