"""The tamper-evident ledger's benchmark on SQLite and PostgreSQL; prints figures, asserts
nothing.

1. `audit verify` over `--records` chained movements (target: at least 100 000 records/s on
   one core): the chains' hashes, the checkpoints and every chained row compared with its
   last record. The rows are made in bulk and chained as the migration chains a ledger's
   existing rows (the same encoding as at commit).
2. What the chain costs ingest: the same cart passes (50 items each) applied with the chain
   written at commit and with it switched off, in item movements/s.

    python bench/bench_audit.py [--records 200000] [--pg postgresql+psycopg://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_ledger import events
from sqlalchemy import insert, text

from central import audit_checkpoints, db
from central.audit_chain import chain_existing
from central.audit_verify import verify
from central.ledger import Ledger
from central.models import Movement

NOW = datetime(2026, 11, 24, 8, tzinfo=UTC)


def chained_ledger(url: str, records: int) -> Ledger:
    db.upgrade(url)
    lg = Ledger(db.engine(url))
    with lg.engine.begin() as c:
        c.execute(
            text(
                "insert into location (code, name, kind) values"
                " ('s1/store', 'store', 'zone'), ('s1/ward', 'ward', 'zone')"
            )
        )
        c.execute(
            text(
                "insert into batch (gtin, lot, expiry, supplier, locked)"
                " values ('04012345000016', 'L1', '2031-01-01', '', false)"
            )
        )
        rows = [
            {
                "event_id": f"e{i}",
                "kind": "batch_movement",
                "batch_id": 1,
                "from_location_id": 1,
                "to_location_id": 2,
                "quantity": 1 + i % 50,
                "biz_step": "picking",
                "actor": "gw1",
                "case_id": "",
                "reason": "",
                "occurred_at": NOW,
                "recorded_at": NOW,
            }
            for i in range(records)
        ]
        for i in range(0, records, 50_000):
            c.execute(insert(Movement), rows[i : i + 50_000])
        c.execute(text("delete from audit_record"))
        c.execute(text("delete from audit_head"))
        chain_existing(c, NOW)
    key_file = Path(tempfile.mkdtemp()) / "audit.pem"
    key = audit_checkpoints.new_key(key_file)
    with lg.session.begin() as s:
        audit_checkpoints.make_checkpoints(s, key, NOW)
    with lg.engine.begin() as c:  # as a ledger in service: statistics and WAL up to date
        c.execute(text("analyze"))
    if lg.engine.dialect.name == "sqlite":
        with lg.engine.connect() as c:
            c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return lg


def verification_rate(url: str, records: int, runs: int = 5) -> str:
    """The best of `runs` verifications (a shared machine's noise only slows a run down):
    records/s overall, and of the chains' walk and the rows' comparison apart."""
    lg = chained_ledger(url, records)
    results = []
    for _ in range(runs):
        with lg.engine.connect() as c:
            results.append(verify(c))
    lg.engine.dispose()
    best = min(results, key=lambda r: r.seconds)
    assert best.intact, best.summary()
    walk = best.records / best.walk_seconds
    rows = best.rows / (best.seconds - best.walk_seconds)
    return (
        f"{best.records / best.seconds:,.0f} records/s ({best.records} records, "
        f"{best.rows} rows, {best.seconds:.2f} s; chains {walk:,.0f} records/s, "
        f"rows {rows:,.0f} rows/s; peak memory {_peak_mib():,.0f} MiB)"
    )


def _peak_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ingest_cost(url_with: str, url_without: str, n: int) -> tuple[float, float]:
    """Item movements/s applying `n` cart passes, with and without the chain."""
    from contextlib import nullcontext
    from unittest import mock

    rates = []
    for url, chained in ((url_with, True), (url_without, False)):
        db.upgrade(url)
        off = mock.patch("central.ledger.base.ChainWriter", _NoChain)
        with nullcontext() if chained else off:
            lg = Ledger(db.engine(url))
            evs = events(n)
            start = time.perf_counter()
            for e in evs:
                lg.apply(e)
            rates.append(n * 50 / (time.perf_counter() - start))
            lg.engine.dispose()
    return rates[0], rates[1]


class _NoChain:
    def __init__(self, *_args: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--pg", help="a PostgreSQL URL (a throw-away schema is used)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    rate = verification_rate(f"sqlite:///{tmp / 'v.db'}", args.records)
    print(f"SQLite, {args.records} records: {rate}")
    with_chain, without = ingest_cost(
        f"sqlite:///{tmp / 'a.db'}", f"sqlite:///{tmp / 'b.db'}", args.events
    )
    print(
        f"SQLite ingest: {with_chain:,.0f} item movements/s chained, {without:,.0f} without "
        f"(the chain costs {1 - with_chain / without:.0%})"
    )
    if args.pg:
        from benchlib import pg_schema

        with pg_schema(args.pg) as url:
            print(f"PostgreSQL, {args.records} records: {verification_rate(url, args.records)}")
        with pg_schema(args.pg) as a, pg_schema(args.pg) as b:
            with_chain, without = ingest_cost(a, b, args.events)
        print(
            f"PostgreSQL ingest: {with_chain:,.0f} item movements/s chained, {without:,.0f} "
            f"without (the chain costs {1 - with_chain / without:.0%})"
        )


if __name__ == "__main__":
    main()
