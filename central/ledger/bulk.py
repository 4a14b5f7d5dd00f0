"""Writing many rows at once, per dialect: on PostgreSQL one `INSERT ... SELECT FROM
unnest(arrays)` per table (one round trip, one cached plan), on SQLite executemany (in
process, already fast); stock changes as atomic `quantity = quantity + delta` upserts."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, text
from sqlalchemy.orm import Session

from central.audit_chain import CHAINED, note
from central.ledger.base import LedgerBase
from central.models import Movement, Stock, Tag, TagHistory

TAG_TABLE = cast(Table, Tag.__table__)
STOCK_TABLE = cast(Table, Stock.__table__)
MOVEMENT_TABLE = cast(Table, Movement.__table__)


def columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
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
    " DO UPDATE SET quantity = stock.quantity + excluded.quantity, changes = stock.changes + 1"
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
        " RETURNING id, from_location_id, to_location_id"
    ),
}
TAG_HISTORY_TABLE = cast(Table, TagHistory.__table__)
SITE = {"movement": (MOVEMENT_TABLE.c.from_location_id, MOVEMENT_TABLE.c.to_location_id)}


class BulkWrites(LedgerBase):
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
            s.execute(PG_STOCK_UPSERT, columns(rows))
            return
        stmt = self._insert(STOCK_TABLE)
        s.execute(
            stmt.on_conflict_do_update(
                index_elements=["location_id", "batch_id"],
                set_={
                    "quantity": STOCK_TABLE.c.quantity + stmt.excluded.quantity,
                    "changes": STOCK_TABLE.c.changes + 1,  # for the incremental alert pass
                },
            ),
            rows,
        )

    def _upsert_tags(self, s: Session, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self._pg:
            s.execute(PG_TAG_UPSERT, columns(rows))
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
        if table.name in CHAINED:  # the rows' ids, to be chained at commit
            if self._pg:
                made = s.execute(PG_INSERTS[table.name], columns(rows)).mappings()
            else:
                made = s.execute(
                    table.insert().returning(*table.primary_key.columns, *SITE[table.name]),
                    rows,
                ).mappings()
            note(s, table.name, [dict(row) for row in made])
        elif self._pg:
            s.execute(PG_INSERTS[table.name], columns(rows))
        else:
            s.execute(table.insert(), rows)
