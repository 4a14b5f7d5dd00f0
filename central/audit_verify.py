"""`hwms central audit verify`: walks every chain, its signed checkpoints and the chained
tables, and names the first record or row that does not match: a record changed or
removed, a chain rewritten behind a checkpoint, a row edited, deleted or inserted by
anything but hwms."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, select

from central.audit_chain import CHAINED, covered, primary_key, row_content, stored_rows
from central.models import AuditCheckpoint, AuditHead
from rules.audit_chain import (
    DELETE,
    GENESIS,
    ChainWalk,
    Checkpoint,
    Record,
    RowEncoder,
    at_text,
    canonical_key,
    encode_values,
)

SHOWN = 20  # problems listed; the count says how many more


@dataclass
class Verification:
    chains: dict[str, int] = field(default_factory=dict)  # chain -> records walked
    records: int = 0
    rows: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)
    more: int = 0  # problems found past SHOWN
    seconds: float = 0.0
    walk_seconds: float = 0.0  # of which the chains (the rest: the rows)
    pinned: bool = False  # checkpoints checked against a key given from outside

    @property
    def intact(self) -> bool:
        return not self.problems

    def problem(self, text: str) -> None:
        if len(self.problems) < SHOWN:
            self.problems.append(text)
        else:
            self.more += 1

    def summary(self) -> str:
        rate = self.records / self.seconds if self.seconds > 0 else 0.0
        head = (
            f"{self.records} records in {len(self.chains)} chains, {self.rows} rows and "
            f"{self.checkpoints} checkpoints verified in {self.seconds:.2f} s "
            f"({rate:,.0f} records/s)"
        )
        if self.intact:
            key = "" if self.pinned else " (checkpoint key not pinned: give --public-key)"
            return f"intact: {head}{key}"
        lines = [f"NOT INTACT: {head}", *self.problems]
        if self.more:
            lines.append(f"... and {self.more} more")
        return "\n".join(lines)


# What the chain last said of a row: its content (None: deleted; the string the driver
# read, kept rather than a digest, so that comparing is the cheapest step), its chain and
# record number. A plain tuple: verification keeps one per chained row.
_Latest = tuple[str | None, str, int]


def verify(
    conn: Connection, *, since: datetime | None = None, public_key: str | None = None
) -> Verification:
    """Checks the ledger on `conn`. `since`: the chains from the last checkpoint before it
    (which vouches for what came before) and the rows chained since then; `public_key`:
    the hex Ed25519 key the checkpoints must be signed with."""
    started = time.perf_counter()
    conn = _snapshot(conn)
    out = Verification(pinned=public_key is not None)
    checkpoints = _checkpoints(conn, out, public_key)
    latest: dict[str, dict[str, _Latest]] = {table: {} for table in CHAINED}
    heads = {
        c: (seq, h)
        for c, seq, h in conn.execute(select(AuditHead.chain, AuditHead.seq, AuditHead.hash))
    }
    for chain in sorted(set(heads) | set(checkpoints)):
        _walk_chain(conn, out, chain, checkpoints.get(chain, {}), heads.get(chain), since, latest)
    out.walk_seconds = time.perf_counter() - started
    for table in CHAINED:
        _compare_rows(conn, out, table, latest[table], full=since is None)
    out.seconds = time.perf_counter() - started
    return out


def _snapshot(conn: Connection) -> Connection:
    """The connection reading one snapshot of the ledger: a ledger in service goes on
    writing, and a row committed between the chains' walk and the rows' would look
    inserted behind hwms's back (chain and rows are written in one transaction, so one
    snapshot always agrees)."""
    if conn.in_transaction():
        return conn  # the caller's transaction: its snapshot, if it has one
    if conn.dialect.name == "postgresql":
        return conn.execution_options(isolation_level="REPEATABLE READ")
    conn.exec_driver_sql("BEGIN")  # SQLite: one read transaction from the first read on
    return conn


def _checkpoints(
    conn: Connection, out: Verification, public_key: str | None
) -> dict[str, dict[int, Checkpoint]]:
    by_chain: dict[str, dict[int, Checkpoint]] = {}
    rows = conn.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.id)).mappings()
    for r in rows:
        cp = Checkpoint(r["chain"], r["seq"], r["hash"], r["at"], r["public_key"], r["signature"])
        out.checkpoints += 1
        if public_key is not None and cp.public_key != public_key.lower():
            out.problem(
                f"checkpoint {r['id']} of chain {cp.chain!r} (record {cp.seq}) is "
                "signed with another key than the one given"
            )
            continue
        if not signed(cp):
            out.problem(
                f"checkpoint {r['id']} of chain {cp.chain!r} (record {cp.seq}): "
                "its signature does not match"
            )
            continue
        by_chain.setdefault(cp.chain, {})[cp.seq] = cp
    return by_chain


def signed(cp: Checkpoint) -> bool:
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(cp.public_key))
        key.verify(bytes.fromhex(cp.signature), cp.payload())
    except (ValueError, InvalidSignature):
        return False
    return True


def _walk_chain(
    conn: Connection,
    out: Verification,
    chain: str,
    checkpoints: dict[int, Checkpoint],
    head: tuple[int, str] | None,
    since: datetime | None,
    latest: dict[str, dict[str, _Latest]],
) -> None:
    walk = ChainWalk(chain)
    if since is not None:
        anchor = max(
            (cp for cp in checkpoints.values() if cp.at < at_text(since)),
            key=lambda cp: cp.seq,
            default=None,
        )
        if anchor is not None:
            walk = ChainWalk(chain, after_seq=anchor.seq, after_hash=anchor.hash)
    walked = 0
    broken = False
    feed = walk.feed
    for r in _records(conn, chain, walk.seq):
        walked += 1
        problem = feed(r)
        if problem is not None:
            out.problem(str(problem))
            broken = True
            break
        _, seq, table, key, op, _, content, _, digest = r
        cp = checkpoints.get(seq)
        if cp is not None and cp.hash != digest:
            out.problem(
                f"chain {chain!r} record {seq}: not what checkpoint of {cp.at} "
                "signed (the chain was rewritten)"
            )
            broken = True
            break
        rows = latest.get(table)
        if rows is None:
            out.problem(f"chain {chain!r} record {seq}: of a table that is not chained")
            broken = True
            break
        rows[key] = (None if op == DELETE else content, chain, seq)
    out.records += walked
    out.chains[chain] = walked
    if broken:
        return
    last_signed = max(checkpoints, default=0)
    if last_signed > walk.seq:
        out.problem(
            f"chain {chain!r}: ends at record {walk.seq} but record {last_signed} "
            "was signed (records were removed)"
        )
    elif head is not None and head != (walk.seq, walk.hash):
        out.problem(
            f"chain {chain!r}: its head says record {head[0]}, the chain ends at record {walk.seq}"
        )
    elif head is None and walk.seq:
        out.problem(f"chain {chain!r}: has no head")


def _raw(conn: Connection, sql: str, params: dict[str, Any] | None = None) -> Iterator[Any]:
    """Rows straight from the driver (a server-side cursor on PostgreSQL): verification
    reads every record and row once, and the ORM's row objects would cost most of the time.
    `sql` names its parameters `:name`."""
    driver = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        sql = re.sub(r":(\w+)", r"%(\1)s", sql)
        cursor = driver.cursor(name=f"hwms_verify_{id(sql)}")  # type: ignore[union-attr]
        cursor.itersize = 10_000
    else:
        cursor = driver.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params or {})
        yield from cursor
    finally:
        cursor.close()


def _records(conn: Connection, chain: str, after: int) -> Iterator[Record]:
    sql = (
        "SELECT chain, seq, table_name, key, op, at, content, prev, hash FROM audit_record"
        " WHERE chain = :chain AND seq > :after ORDER BY seq"
    )
    yield from map(Record._make, _raw(conn, sql, {"chain": chain, "after": after}))


def _all_rows(conn: Connection, table: str) -> Iterator[tuple[str, str]]:
    """(primary key, content) of every row of a chained table, as the chain writes them."""
    quote = conn.dialect.identifier_preparer.quote
    encoder = RowEncoder(covered(table))
    prefixes = encoder.prefixes
    at = [encoder.names.index(k) for k in primary_key(table)]
    first = at[0] if len(at) == 1 else None
    sql = f"SELECT {', '.join(quote(n) for n in encoder.names)} FROM {quote(table)}"
    for values in _raw(conn, sql):
        one = values[first] if first is not None else None
        key = f"[{one}]" if type(one) is int else canonical_key(values[i] for i in at)
        yield key, encode_values(prefixes, values)


def _chained_rows(conn: Connection, table: str, keys: list[str]) -> Iterator[tuple[str, str]]:
    wanted = [tuple(json.loads(k)) for k in keys]
    for pk, row in stored_rows(conn, table, keys=wanted):
        yield canonical_key(pk), row_content(table, row)


def _compare_rows(
    conn: Connection, out: Verification, table: str, chained: dict[str, _Latest], *, full: bool
) -> None:
    rows = _all_rows(conn, table) if full else _chained_rows(conn, table, list(chained))
    n = 0
    for n, (key, content) in enumerate(rows, start=1):  # noqa: B007 - n is the count
        last = chained.pop(key, None)  # what is left at the end: rows that are gone
        if last is None:
            if full:
                out.problem(f"{table} {key}: inserted outside hwms (no chain record)")
        elif last[0] is None:
            out.problem(
                f"{table} {key}: inserted outside hwms after chain {last[1]!r} "
                f"record {last[2]} deleted it"
            )
        elif content != last[0]:
            out.problem(
                f"{table} {key}: edited outside hwms (chain {last[1]!r} record "
                f"{last[2]}: {_difference(last[0], content)})"
            )
    out.rows += n
    for key, last in chained.items():
        if last[0] is not None:
            out.problem(
                f"{table} {key}: deleted outside hwms (chain {last[1]!r} record {last[2]} has it)"
            )


def _difference(chained: str, now: str) -> str:
    """Which columns differ: "quantity: 1 -> 5"."""
    before, after = json.loads(chained), json.loads(now)
    changed = [
        f"{k}: {before.get(k)!r} -> {after.get(k)!r}"
        for k in sorted(set(before) | set(after))
        if before.get(k) != after.get(k)
    ]
    return "; ".join(changed[:5]) or "the same columns, encoded otherwise"


__all__ = ["GENESIS", "Verification", "signed", "verify"]
