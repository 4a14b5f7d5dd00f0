"""Requisition workflow benchmark on SQLite and PostgreSQL; prints figures, asserts nothing.

A store holds `--products` products in `--lots` lots each (tagged items and untagged
quantities); wards request 5 lines each. Times: a request, the FEFO pick list, a FEFO
issue, a gate-free receipt, and the scheduled watch (arrivals by reads, alerts) over all
the requisitions made.

    python bench/bench_requisitions.py [--requisitions 200] [--pg postgresql+psycopg://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from central import db
from central.accounts import Principal
from central.clock import FixedClock
from central.imports import import_master_data
from central.ledger import Ledger, LineIn, ReceiptLine
from central.vocab import Role
from rules.epc import decode, encode_sgtin

NOW = datetime(2030, 1, 15, 8, 0, tzinfo=UTC)
NURSE = Principal("nurse", Role.NURSE)
HEAD = Principal("head", Role.HEAD)
STORE = Principal("store", Role.STOREKEEPER)


def gtin(i: int) -> str:
    body = f"040123450{i:04d}"
    total = sum(int(d) * (3 if k % 2 == 0 else 1) for k, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def setup(url: str, products: int, lots: int, wards: int) -> Ledger:
    db.upgrade(url)
    supply = {f"s1/ward-{w}": "s1/store" for w in range(wards)}
    lg = Ledger(db.engine(url), clock=FixedClock(NOW), supply=supply)
    with lg.session.begin() as s:
        import_master_data(s, "products", "gtin,name,unit_price\n" + "".join(
            f"{gtin(i)},Product {i},1.50\n" for i in range(products)), actor="bench")  # fmt: skip
        import_master_data(s, "locations", "code,name\ns1/store,Store\n" + "".join(
            f"s1/ward-{w},Ward {w}\n" for w in range(wards)), actor="bench")  # fmt: skip
    rows = []
    for i in range(products):
        for lot in range(lots):
            expiry = date(2030, 3, 1) + timedelta(days=7 * lot)
            rows += [ReceiptLine(epc=decode(encode_sgtin(gtin(i), str(lot * 1000 + n + 1), company_prefix_length=7)).uri,
                                 gtin=gtin(i), lot=f"L{lot}", expiry=expiry,
                                 location="s1/store") for n in range(5)]  # fmt: skip
            rows.append(ReceiptLine(epc="", gtin=gtin(i), lot=f"L{lot}", expiry=expiry,
                                    location="s1/store", quantity=50))  # fmt: skip
    lg.receive(rows, actor="bench", today=NOW.date())
    return lg


def run(name: str, url: str, n: int, products: int, lots: int) -> None:
    lg = setup(url, products, lots, wards=10)
    made, picks, issues, receipts = [], [], [], []
    for k in range(n):
        lines = [LineIn(gtin((k * 5 + j) % products), 12) for j in range(5)]
        t = time.perf_counter()
        rid = lg.new_requisition(NURSE, to_location=f"s1/ward-{k % 10}", lines=lines)["id"]
        made.append(time.perf_counter() - t)
        lg.approve_requisition(HEAD, rid)
        t = time.perf_counter()
        lg.pick_list(STORE, rid)
        picks.append(time.perf_counter() - t)
        t = time.perf_counter()
        lg.issue_requisition(STORE, rid)
        issues.append(time.perf_counter() - t)
        if k % 2:
            t = time.perf_counter()
            lg.receive_requisition(NURSE, rid)
            receipts.append(time.perf_counter() - t)
    t = time.perf_counter()
    lg.watch_requisitions()
    watch = time.perf_counter() - t

    def ms(xs: list[float]) -> str:
        return f"median {statistics.median(xs) * 1e3:.1f} ms, p95 {sorted(xs)[int(len(xs) * 0.95)] * 1e3:.1f} ms"

    print(f"{name}: {n} requisitions of 5 lines; store with {products} products x {lots} lots")
    print(f"  request      {ms(made)}")
    print(f"  pick list    {ms(picks)}")
    print(f"  FEFO issue   {ms(issues)}")
    print(f"  receipt      {ms(receipts)}")
    print(f"  watch pass   {watch * 1e3:.0f} ms over {n} requisitions ({n // 2} in transit)")
    lg.engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requisitions", type=int, default=200)
    ap.add_argument("--products", type=int, default=200)
    ap.add_argument("--lots", type=int, default=10)
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1/test")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}", args.requisitions, args.products,
            args.lots)  # fmt: skip
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'create schema "{schema}"'))
    except Exception as exc:
        print(f"PostgreSQL: not reachable ({exc.__class__.__name__})")
        return
    try:
        run("PostgreSQL", f"{args.pg}?options=-csearch_path%3D{schema}", args.requisitions,
            args.products, args.lots)  # fmt: skip
    finally:
        with admin.connect() as c:
            c.execute(text(f'drop schema "{schema}" cascade'))
    print(
        "targets: pick list and FEFO issue of 5 lines <= 100 ms each; a watch pass over"
        " 200 requisitions <= 1 s"
    )


if __name__ == "__main__":
    main()
