"""Ledger ingest benchmark on SQLite and PostgreSQL; prints figures, asserts nothing.

Applies cart-pass batch movements (50 items each: receipts into a store, then picks to
wards) through `Ledger.apply`, one transaction per event as the ingest does, and reports
item movements/s, next to a bare bulk insert of the same (epc, batch, location) rows in
the same run.

    python bench/bench_ledger.py [--events 400] [--pg postgresql+psycopg://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

from central import db
from central.ledger import Ledger
from rules.events import Batch, BatchMovement, Direction, stamp

T = 1_800_000_000_000_000
ITEMS = 50


def events(n: int) -> list[BatchMovement]:
    out = []
    for i in range(n):
        cart = i // 2
        inbound = i % 2 == 0
        tags = tuple(f"urn:epc:id:sgtin:4012345.000001.{cart * ITEMS + k}" for k in range(ITEMS))
        e = BatchMovement(
            occurred_at_us=T + i * 1000, read_point="door",
            direction=Direction.IN if inbound else Direction.OUT,
            from_zone="corridor" if inbound else "store", to_zone="store" if inbound else f"ward-{cart % 20}",
            biz_step="receiving" if inbound else "picking",
            batch=Batch(gtin="04012345000016", lot=f"L{cart % 50}", expiry="2030-01-01"),
            quantity=ITEMS, epcs=tags, first_seen_us=T, last_seen_us=T, confidence=1.0, uncommissioned=False,
        )  # fmt: skip
        out.append(stamp(e, site="s1", gateway="gw1", seq=i + 1))
    return out  # type: ignore[return-value]


def measure(url: str, n: int) -> tuple[float, float, float]:
    """(one event per transaction, 50 events per transaction as the ingest batches them,
    bare bulk insert), in item movements or rows per second."""
    db.upgrade(url)
    lg = Ledger(db.engine(url))
    evs = events(n)
    half = n // 2
    start = time.perf_counter()
    for e in evs[:half]:
        lg.apply(e)
    applied = half * ITEMS / (time.perf_counter() - start)
    now = datetime.now(UTC)
    start = time.perf_counter()
    for i in range(half, n, 50):
        lg.apply_many([(e, now) for e in evs[i : i + 50]])
    batched = (n - half) * ITEMS / (time.perf_counter() - start)
    rows = [{"epc": t, "batch": 1, "loc": 1} for e in evs for t in e.epcs]
    with lg.engine.begin() as c:
        c.execute(text("create table bench_bulk (epc varchar(200), batch integer, loc integer)"))
    start = time.perf_counter()
    with lg.engine.begin() as c:
        c.execute(
            text("insert into bench_bulk (epc, batch, loc) values (:epc, :batch, :loc)"), rows
        )
    bulk = len(rows) / (time.perf_counter() - start)
    return applied, batched, bulk


def report(name: str, one: float, batched: float, bulk: float) -> None:
    print(
        f"{name} {one:>8,.0f} item movements/s one event per transaction, {batched:>8,.0f} batched "
        f"by 50 ({batched / bulk:.1%} of a bare bulk insert of the same rows: {bulk:,.0f} rows/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    from edge.logs import configure

    configure("WARNING")
    with tempfile.TemporaryDirectory() as d:
        report("SQLite:    ", *measure(f"sqlite:///{Path(d) / 'bench.db'}", args.events))
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"create schema {schema}"))
    try:
        report("PostgreSQL:", *measure(f"{args.pg}?options=-csearch_path%3D{schema}", args.events))
        print("target on PostgreSQL: >= 20,000 item movements/s")
    finally:
        with admin.connect() as c:
            c.execute(text(f"drop schema {schema} cascade"))


if __name__ == "__main__":
    main()
