"""The ledger's hash chain, written in the transaction of the rows it covers.

Every ledger session notes the chained rows it writes: the ORM's inserts, updates and
deletes (after each flush) and the few bulk statements that bypass the ORM (`note`). Just
before the transaction commits, the rows are read back as the database stores them, encoded
(`rules.audit_chain`) and appended, per site, to their chain; the chain's head row is locked
while its records are numbered, so several ledgers sharing PostgreSQL never fork a chain.
A transaction that rolls back leaves no record; a row changed by anything but hwms has none.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Table, event, insert, inspect, select, text, tuple_, update
from sqlalchemy import column as sa_column
from sqlalchemy import table as sa_table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction, sessionmaker
from sqlalchemy.orm.attributes import instance_state

from central.clock import Clock
from central.models import AuditHead, AuditRecord, Base, Location
from rules.audit_chain import (
    DELETE,
    GENESIS,
    HOSPITAL,
    PUT,
    at_text,
    canonical,
    canonical_key,
    record_hash,
)

IN_CHUNK = 5_000
NOTES = "audit_chain"  # Session.info key: {(table, primary key): site fields}


@dataclass(frozen=True)
class Chained:
    """A chained table: which of its columns say its site (location ids, or a location code)
    and which are left out (counters that change on every read or login, not records)."""

    location_ids: tuple[str, ...] = ()
    location_code: str | None = None
    excluded: frozenset[str] = frozenset()

    def site_fields(self) -> tuple[str, ...]:
        return self.location_ids + ((self.location_code,) if self.location_code else ())


_BY_LOCATION = Chained(location_ids=("location_id",))
CHAINED: dict[str, Chained] = {
    # movements and bookings
    "movement": Chained(location_ids=("to_location_id", "from_location_id")),
    "pending_booking": Chained(location_code="location"),
    "receipt": Chained(),
    "stocktake": _BY_LOCATION,
    "stocktake_line": Chained(),
    "witness_check": _BY_LOCATION,
    # requisitions and purchase orders, their approvals and receipts
    "requisition": Chained(location_ids=("to_location_id",)),
    "requisition_line": Chained(),
    "requisition_pick": Chained(),
    "requisition_step": Chained(),
    "purchase_order": _BY_LOCATION,
    "purchase_order_line": Chained(),
    "purchase_order_step": Chained(),
    "purchase_variance": Chained(),
    # master data, recall locks (batch.locked), access
    "location": Chained(location_code="code"),
    "product": Chained(),
    "product_pack": Chained(),
    "department": Chained(),
    "batch": Chained(),
    "supplier": Chained(),
    "supplier_product": Chained(),
    "stock_limit": Chained(
        location_ids=("location_id",), excluded=frozenset({"changes", "evaluated"})
    ),
    "app_user": Chained(excluded=frozenset({"failed_logins", "locked_until"})),
    "api_token": Chained(),
    "audit_log": Chained(),
    # signatures and the records they sign
    "signature": Chained(),
    "coldchain_report": Chained(),
}
TABLES: dict[str, Table] = {name: Base.metadata.tables[name] for name in CHAINED}


def covered(name: str, names: Iterable[str] | None = None) -> list[str]:
    """The columns of a chained table that its records cover (of `names`: the columns the
    database has, during a migration)."""
    every = [c.name for c in TABLES[name].columns] if names is None else list(names)
    return [n for n in every if n not in CHAINED[name].excluded]


def primary_key(name: str) -> list[str]:
    return [c.name for c in TABLES[name].primary_key.columns]


def stored_rows(
    conn: Connection,
    table: str,
    *,
    keys: list[tuple[Any, ...]] | None = None,
    names: list[str] | None = None,
) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    """(primary key, row) of a chained table as the database stores them, without type
    conversion (what is stored is what is encoded, whoever reads it), all or those `keys`."""
    names = covered(table) if names is None else names
    pk = primary_key(table)
    clause = sa_table(table, *[sa_column(n) for n in names])
    q = select(*clause.c)
    if keys is None:
        queries = [q.execution_options(yield_per=10_000)]
    else:
        pk_cols = [clause.c[k] for k in pk]
        chunks = [keys[i : i + IN_CHUNK] for i in range(0, len(keys), IN_CHUNK)]
        queries = [
            q.where(pk_cols[0].in_([k[0] for k in chunk]) if len(pk) == 1
                    else tuple_(*pk_cols).in_(chunk))
            for chunk in chunks
        ]  # fmt: skip
    for query in queries:
        for values in conn.execute(query):
            row = dict(zip(names, values, strict=True))
            yield tuple(row[k] for k in pk), row


def row_content(name: str, row: Mapping[str, Any]) -> str:
    return canonical(row, CHAINED[name].excluded)


def note(s: Session, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
    """Rows a bulk statement wrote to a chained table (each with its primary key and the
    columns that say its site), to be chained when the transaction commits."""
    notes = s.info.setdefault(NOTES, {})
    pk = primary_key(table)
    fields = CHAINED[table].site_fields()
    for row in rows:
        notes[(table, tuple(row[k] for k in pk))] = {f: row.get(f) for f in fields}


def _after_flush(s: Session, _flush: UOWTransaction) -> None:
    notes = s.info.setdefault(NOTES, {})
    dirty = s.dirty  # a fresh set at each access: once
    for obj in (*s.new, *dirty, *s.deleted):
        table = getattr(obj, "__tablename__", None)
        spec = CHAINED.get(table) if isinstance(table, str) else None
        if spec is None:
            continue
        state = instance_state(obj)
        if obj in dirty and not any(
            attr.history.has_changes() for attr in state.attrs if attr.key not in spec.excluded
        ):
            continue  # only left-out counters changed
        key = state.mapper.primary_key_from_instance(obj)
        notes[(table, tuple(key))] = {f: getattr(obj, f, None) for f in spec.site_fields()}


def _forget(s: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended: committed or not
        s.info.pop(NOTES, None)


class ChainWriter:
    """Installed on a ledger's sessions: appends the noted rows to their chains at commit."""

    def __init__(self, maker: sessionmaker[Session], clock: Clock) -> None:
        self.clock = clock
        self._sites: dict[int, str] = {}  # location id -> site (codes never change)
        event.listen(maker, "after_flush", _after_flush)
        event.listen(maker, "before_commit", self._before_commit)
        event.listen(maker, "after_transaction_end", _forget)

    def _before_commit(self, s: Session) -> None:
        s.flush()  # the last changes' notes
        notes: dict[tuple[str, tuple[Any, ...]], dict[str, Any]] = s.info.pop(NOTES, {})
        if not notes:
            return
        conn = s.connection()
        self._load_sites(conn, {v for fields in notes.values() for v in fields.values()})
        by_table: dict[str, list[tuple[Any, ...]]] = {}
        for table, key in notes:
            by_table.setdefault(table, []).append(key)
        entries: list[Entry] = []
        for table, keys in sorted(by_table.items()):
            found = dict(stored_rows(conn, table, keys=keys))
            for key in keys:
                row = found.get(key)
                entries.append(self._entry(table, key, row, notes[(table, key)]))
        append(conn, entries, at_text(self.clock.now()))

    def _load_sites(self, conn: Connection, ids: set[Any]) -> None:
        wanted = [i for i in ids if isinstance(i, int) and i not in self._sites]
        for i in range(0, len(wanted), IN_CHUNK):
            chunk = wanted[i : i + IN_CHUNK]
            q = select(Location.id, Location.code).where(Location.id.in_(chunk))
            self._sites.update((lid, code.split("/")[0]) for lid, code in conn.execute(q))

    def _entry(
        self,
        table: str,
        key: tuple[Any, ...],
        row: Mapping[str, Any] | None,
        noted: Mapping[str, Any],
    ) -> Entry:
        site = site_of(table, row if row is not None else noted, self._sites)
        if row is None:
            return Entry(site, table, canonical_key(key), DELETE, "")
        return Entry(site, table, canonical_key(key), PUT, row_content(table, row))


class Entry(NamedTuple):
    chain: str
    table: str
    key: str
    op: str
    content: str


def site_of(table: str, fields: Mapping[str, Any], sites: Mapping[int, str]) -> str:
    """The chain of a row: the site of its location, or "-" (hospital-wide)."""
    spec = CHAINED[table]
    for name in spec.location_ids:
        lid = fields.get(name)
        if lid is not None and lid in sites:
            return sites[lid]
    code = fields.get(spec.location_code) if spec.location_code else None
    return str(code).split("/")[0] if code else HOSPITAL


def append(conn: Connection, entries: list[Entry], at: str) -> int:
    """Appends the entries to their chains (each chain's head locked, in one order: no
    deadlock between ledgers); the number of records written."""
    upsert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    entries = sorted(entries)
    records: list[dict[str, Any]] = []
    for chain in sorted({e.chain for e in entries}):
        conn.execute(
            upsert(AuditHead)
            .values(chain=chain, seq=0, hash=GENESIS)
            .on_conflict_do_nothing(index_elements=["chain"])
        )
        seq, prev = conn.execute(
            select(AuditHead.seq, AuditHead.hash).where(AuditHead.chain == chain).with_for_update()
        ).one()
        for e in entries:
            if e.chain != chain:
                continue
            seq += 1
            digest = record_hash(prev, chain, seq, e.table, e.key, e.op, at, e.content)
            records.append(
                {
                    "chain": chain,
                    "seq": seq,
                    "table_name": e.table,
                    "key": e.key,
                    "op": e.op,
                    "at": at,
                    "content": e.content,
                    "prev": prev,
                    "hash": digest,
                }
            )
            prev = digest
        conn.execute(update(AuditHead).where(AuditHead.chain == chain).values(seq=seq, hash=prev))
    for i in range(0, len(records), IN_CHUNK):
        conn.execute(insert(AuditRecord), records[i : i + IN_CHUNK])
    return len(records)


def chain_existing(conn: Connection, at: datetime | None = None) -> int:
    """Chains every row there is (the migration that starts the chain, on a ledger that
    already holds data): tables as the database has them now, not as the models will."""
    sites = {
        lid: code.split("/")[0] for lid, code in conn.execute(text("SELECT id, code FROM location"))
    }
    entries: list[Entry] = []
    for name in CHAINED:
        there = covered(name, (c["name"] for c in inspect(conn).get_columns(name)))
        for key, row in stored_rows(conn, name, names=there):
            entries.append(
                Entry(
                    site_of(name, row, sites), name, canonical_key(key), PUT, row_content(name, row)
                )
            )
    return append(conn, entries, at_text(at or datetime.now(UTC))) if entries else 0
