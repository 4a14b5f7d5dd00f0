"""Ledger ingest benchmark on SQLite and PostgreSQL; prints figures, asserts nothing.

Applies cart-pass batch movements (50 items each: receipts into a store, then picks to
wards) through `Ledger.apply`, one transaction per event as the ingest does, and reports
item movements/s, next to a bare bulk insert of the same (epc, batch, location) rows in
the same run. The ledger already knows `--stock` items (a hospital's tagged stock) and its
statistics are up to date (ANALYZE, as autovacuum keeps them in production): an empty,
never-analyzed table makes PostgreSQL scan instead of using the primary key.

Then times the alert evaluation (expiry horizons and stock levels) over `--stock-rows`
stock rows (one million by default): full scans, and incremental passes after 1 000 changed
rows, with nothing changed and the next day. Last, on PostgreSQL, how ingest, a batch's
trace and a stock card grow with 10^5, 10^6 and 10^7 movements in the ledger (`--growth`).

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
    return out


def seed_tags(lg: Ledger, n: int) -> None:
    """`n` tags already in stock, then fresh planner statistics."""
    with lg.engine.begin() as c:
        c.execute(
            text("insert into location (code, name, kind) values ('s1/shelf', 'shelf', 'zone')")
        )
        c.execute(text("insert into batch (gtin, lot, expiry, supplier, locked)"
                       " values ('04012345000023', 'OLD', '2031-01-01', '', false)"))  # fmt: skip
        rows = [{"epc": f"urn:epc:id:sgtin:4012345.000002.{i}"} for i in range(n)]
        for i in range(0, n, 50_000):
            c.execute(
                text("insert into tag (epc, batch_id, location_id) select :epc, b.id, l.id"
                     " from batch b, location l where b.lot = 'OLD' and l.code = 's1/shelf'"),
                rows[i : i + 50_000],
            )  # fmt: skip
        if lg.engine.dialect.name == "postgresql":
            c.execute(text("analyze"))


def measure(url: str, n: int, stock: int) -> tuple[float, float, float]:
    """(one event per transaction, 50 events per transaction as the ingest batches them,
    bare bulk insert), in item movements or rows per second."""
    db.upgrade(url)
    lg = Ledger(db.engine(url))
    seed_tags(lg, stock)
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


def alert_evaluation(url: str, rows: int) -> tuple[list[float], int]:
    """Seconds for the evaluations over `rows` stock rows: a full scan raising the alerts,
    a full scan in steady state, an incremental pass after 1 000 changed rows, one with
    nothing changed, one the next day; and how many alerts are open."""
    from datetime import date, timedelta

    from central import alerts

    db.upgrade(url)
    lg = Ledger(db.engine(url))
    locations = 1000
    batches = rows // locations
    today = date(2026, 11, 24)
    with lg.engine.begin() as c:
        c.execute(text("insert into location (code, name, kind) values (:c, :c, 'zone')"),
                  [{"c": f"s1/loc-{i}"} for i in range(locations)])  # fmt: skip
        c.execute(  # five lots per product, as a hospital has a few lots of each
            text("insert into batch (gtin, lot, expiry, supplier, locked)"
                 " values (:gtin, :lot, :exp, '', false)"),
            [{"gtin": f"0401234{i // 5:06d}0", "lot": f"L{i}",
              "exp": today + timedelta(days=(i * 7) % 1800 - 30)} for i in range(batches)],
        )  # fmt: skip
        loc_ids = [r[0] for r in c.execute(text("select id from location order by id"))]
        batch_ids = [r[0] for r in c.execute(text("select id from batch order by id"))]
        stmt = text("insert into stock (location_id, batch_id, quantity) values (:l, :b, :q)")
        chunk: list[dict[str, int]] = []
        for li in loc_ids:
            chunk += [{"l": li, "b": bi, "q": 1 + (li + bi) % 20} for bi in batch_ids]
            if len(chunk) >= 100_000:
                c.execute(stmt, chunk)
                chunk = []
        if chunk:
            c.execute(stmt, chunk)
        c.execute(  # a limit for every product at every location
            text("insert into stock_limit (location_id, gtin, min_quantity, max_quantity)"
                 " values (:l, :g, 20, 60)"),
            [{"l": li, "g": f"0401234{p:06d}0"} for li in loc_ids for p in range(batches // 5)],
        )  # fmt: skip
        if lg.engine.dialect.name == "postgresql":
            c.execute(text("analyze"))
    timings = []
    for full in (True, True):  # the first raises every alert; the second is a steady full scan
        start = time.perf_counter()
        with lg.session.begin() as s:
            alerts.evaluate(s, today, lg.clock.now(), full=full)
        timings.append(time.perf_counter() - start)
    with lg.engine.begin() as c:  # 1 000 stock rows written, as ingest writes them
        c.execute(text("update stock set quantity = quantity + 1, changes = changes + 1"
                       " where location_id = :l and batch_id = :b"),
                  [{"l": loc_ids[i % len(loc_ids)], "b": batch_ids[(i * 7) % len(batch_ids)]}
                   for i in range(1000)])  # fmt: skip
    for _ in range(2):  # after 1 000 changed rows, then with nothing changed
        start = time.perf_counter()
        with lg.session.begin() as s:
            alerts.evaluate(s, today, lg.clock.now())
        timings.append(time.perf_counter() - start)
    start = time.perf_counter()  # the next day: the batches that crossed a horizon
    with lg.session.begin() as s:
        alerts.evaluate(s, today + timedelta(days=1), lg.clock.now())
    timings.append(time.perf_counter() - start)
    with lg.session() as s:
        n = len(alerts.open_alerts(s))
    return timings, n


def growth(url: str, sizes: tuple[int, ...]) -> None:
    """Ingest rate, a batch's trace and a stock card (one product's movements at one
    location) with `sizes` movements already in the ledger: they should stay flat."""
    from sqlalchemy import select

    from central.models import Batch as BatchRow
    from central.models import Location, Movement

    db.upgrade(url)
    lg = Ledger(db.engine(url))
    with lg.engine.begin() as c:
        c.execute(
            text(
                "insert into location (code, name, kind) select 's1/filler-' || g,"
                " 'filler', 'zone' from generate_series(1, 100) g"
            )
        )
        c.execute(text("insert into batch (gtin, lot, expiry, supplier, locked) select"
                       " '04012345000023', 'F' || g, date '2030-01-01', '', false"
                       " from generate_series(1, 10000) g"))  # fmt: skip
    have = 0
    evs = events(400)
    for size in sizes:
        with lg.engine.begin() as c:  # filler movements of other batches, one item each
            c.execute(
                text(
                    "insert into movement (event_id, kind, batch_id, from_location_id,"
                    " to_location_id, quantity, biz_step, actor, case_id, reason, occurred_at,"
                    " recorded_at) select null, 'batch_movement', b.id, null, l.id, 1, '', 'gw',"
                    " '', '', now(), now()"
                    " from generate_series(CAST(:a AS bigint), CAST(:z AS bigint)) g"
                    " join batch b on b.lot = 'F' || (g % 10000 + 1)"
                    " join location l on l.code = 's1/filler-' || (g % 100 + 1)"
                ),
                {"a": have + 1, "z": size},
            )
            c.execute(text("analyze"))
        have = size
        chunk = evs[:50] if size == sizes[0] else evs[(sizes.index(size)) * 50 :][:50]
        start = time.perf_counter()
        lg.apply_many([(e, datetime.now(UTC)) for e in chunk])
        ingest = len(chunk) * ITEMS / (time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(20):
            lg.trace("04012345000016", "L0")
        trace = (time.perf_counter() - start) / 20
        with lg.session() as s:
            loc = s.scalar(select(Location.id).where(Location.code == "s1/store"))
            start = time.perf_counter()
            for _ in range(20):
                s.execute(
                    select(Movement.occurred_at, Movement.kind, Movement.quantity)
                    .join(BatchRow, BatchRow.id == Movement.batch_id)
                    .where(BatchRow.gtin == "04012345000016")
                    .where((Movement.to_location_id == loc) | (Movement.from_location_id == loc))
                    .order_by(Movement.occurred_at)
                ).all()
            card = (time.perf_counter() - start) / 20
        print(f"PostgreSQL: {size:>12,} movements: ingest {ingest:>8,.0f} item movements/s,"
              f" batch trace {trace * 1000:6.1f} ms, stock card {card * 1000:6.1f} ms")  # fmt: skip


def evaluation(name: str, rows: int, t: list[float], n: int) -> None:
    print(
        f"{name} alert evaluation over {rows:,} stock rows ({n:,} alerts open): full scan"
        f" {t[0]:.2f} s raising, {t[1]:.2f} s steady; incremental {t[2]:.3f} s after 1 000"
        f" changed rows, {t[3]:.3f} s with none, {t[4]:.3f} s the next day"
    )


def report(name: str, one: float, batched: float, bulk: float) -> None:
    print(
        f"{name} {one:>8,.0f} item movements/s one event per transaction, {batched:>8,.0f} batched "
        f"by 50 ({batched / bulk:.1%} of a bare bulk insert of the same rows: {bulk:,.0f} rows/s)"
    )


def boundary(n: int) -> None:
    """The ingest's validation of every message before any database work
    (`rules.events.loads`: schema, bounds, EPC URIs) against parsing the JSON alone."""
    import json

    from rules.events import dumps, loads

    payloads = [dumps(e) for e in events(n)]
    start = time.perf_counter()
    for p in payloads:
        json.loads(p)
    bare = time.perf_counter() - start
    start = time.perf_counter()
    for p in payloads:
        loads(p)
    checked = time.perf_counter() - start
    print(
        f"boundary:   {n / checked:,.0f} events/s validated ({n * ITEMS / checked:,.0f} items/s);"
        f" json.loads alone {n / bare:,.0f} events/s ({checked / bare:.1f}x its time)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--stock", type=int, default=100_000, help="tags already in the ledger")
    parser.add_argument("--stock-rows", type=int, default=1_000_000)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--growth", default="100000,1000000,10000000",
                        help="movements in the ledger for the growth figures ('' skips)")  # fmt: skip
    args = parser.parse_args()
    from hwms_common.logs import configure

    configure("WARNING")
    boundary(max(args.events, 2000))
    with tempfile.TemporaryDirectory() as d:
        report(
            "SQLite:    ", *measure(f"sqlite:///{Path(d) / 'bench.db'}", args.events, args.stock)
        )
        timings, n = alert_evaluation(f"sqlite:///{Path(d) / 'alerts.db'}", args.stock_rows)
        evaluation("SQLite:    ", args.stock_rows, timings, n)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"create schema {schema}"))
    try:
        url = f"{args.pg}?options=-csearch_path%3D{schema}"
        report("PostgreSQL:", *measure(url, args.events, args.stock))
        print("target on PostgreSQL: >= 20,000 item movements/s")
        with admin.connect() as c:
            c.execute(text(f"create schema {schema}_a"))
        try:
            timings, n = alert_evaluation(
                f"{args.pg}?options=-csearch_path%3D{schema}_a", args.stock_rows
            )
            evaluation("PostgreSQL:", args.stock_rows, timings, n)
            print("target: an incremental pass after 1 000 changed rows <= 0.3 s on PostgreSQL")
            with admin.connect() as c:
                c.execute(text(f"create schema {schema}_g"))
            sizes = tuple(int(x) for x in args.growth.split(",") if x)
            if sizes:
                growth(f"{args.pg}?options=-csearch_path%3D{schema}_g", sizes)
        finally:
            with admin.connect() as c:
                c.execute(text(f"drop schema if exists {schema}_a cascade"))
                c.execute(text(f"drop schema if exists {schema}_g cascade"))
    finally:
        with admin.connect() as c:
            c.execute(text(f"drop schema {schema} cascade"))


if __name__ == "__main__":
    main()
