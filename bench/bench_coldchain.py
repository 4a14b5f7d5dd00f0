"""Cold-chain record benchmark on PostgreSQL; prints figures, asserts nothing.

Seeds `--sensors` sensors with `--days` of per-minute summaries (a year of 50 sensors:
26 million rows, as the web app's benchmark in issue 13 asks), then times what the
cold-chain screens run per request (the unit list with states; a unit's 30-day chart
and its days with min/max/MKT, both from the hourly roll-up the ledger keeps) and reports p50/p95 over
`--runs` requests on random sensors and periods. Also times a day of retention pruning
and an ingest batch of 500 minutes into the full table.

    python bench/bench_coldchain.py [--sensors 50] [--days 365] [--pg postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import time
from datetime import UTC, datetime, timedelta

from benchlib import percentiles, pg_schema
from sqlalchemy import text

from central import coldchain, db
from central.ledger import Ledger
from central.models import ColdSensor
from rules.events import Event, TemperatureMinute, stamp

END = datetime(2030, 1, 1, tzinfo=UTC)


def seed(lg: Ledger, sensors: int, days: int) -> float:
    """Minutes for every sensor over `days` before END, made by PostgreSQL itself."""
    t0 = time.perf_counter()
    with lg.engine.begin() as c:
        c.execute(text(
            "insert into cold_sensor (site, sensor, unit, gateway, low_c, high_c, last_minute,"
            " last_mean_c) select 's1', 'probe-' || i, 'fridge-' || i, 'gw1', 2.0, 8.0,"
            " :end - interval '1 minute', 5.0 from generate_series(1, :n) i"
        ), {"n": sensors, "end": END})  # fmt: skip
        c.execute(text(
            "insert into temperature_minute (sensor_id, minute, samples, faults, min_c, mean_c,"
            " max_c) select s.id, m, 6, 0, v - 0.2, v, v + 0.2 from generate_series("
            " :end - make_interval(days => :days), :end - interval '1 minute',"
            " interval '1 minute') m cross join cold_sensor s cross join lateral"
            " (select 5.0 + 3.5 * sin(extract(epoch from m) / 7200.0 + s.id) as v) x"
            " order by m"
        ), {"days": days, "end": END})  # fmt: skip
        c.execute(text(  # the roll-up the ledger keeps as minutes arrive, built at once
            "insert into temperature_hour select sensor_id, date_trunc('hour', minute),"
            " count(*), count(mean_c), sum(samples), sum(faults), min(min_c), max(max_c),"
            " sum(mean_c * samples), sum(exp(-10000.0 / (mean_c + 273.15))),"
            " count(*) filter (where max_c > 8.0 or min_c < 2.0)"
            " from temperature_minute group by 1, 2"
        ))  # fmt: skip
    with lg.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("vacuum analyze temperature_minute"))
        c.execute(text("vacuum analyze temperature_hour"))
        c.execute(text("analyze cold_sensor"))
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sensors", type=int, default=50)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with pg_schema(args.pg) as url:
        db.upgrade(url)
        lg = Ledger(db.engine(url))
        took = seed(lg, args.sensors, args.days)
        with lg.engine.connect() as c:
            rows = c.execute(text("select count(*) from temperature_minute")).scalar_one()
            size = c.execute(text("select pg_size_pretty(pg_total_relation_size("
                                  "'temperature_minute'))")).scalar_one()  # fmt: skip
        print(f"seeded {rows:,} minutes of {args.sensors} sensors over {args.days} days "
              f"in {took:.0f} s; table with indexes {size}")  # fmt: skip
        rng = random.Random(7)
        timings: dict[str, list[float]] = {"units": [], "chart 30 days": [], "days 30": [],
                                           "chart 1 day": []}  # fmt: skip
        now = END
        for _ in range(args.runs):
            sensor_id = rng.randint(1, args.sensors)
            stop = END - timedelta(days=rng.randint(0, max(0, args.days - 30)))
            with lg.session() as s:
                t0 = time.perf_counter()
                coldchain.units(s, now)
                t1 = time.perf_counter()
                coldchain.series(s, sensor_id, stop - timedelta(days=30), stop)
                t2 = time.perf_counter()
                sensor = s.get(ColdSensor, sensor_id)
                assert sensor is not None
                coldchain.daily(s, sensor, stop - timedelta(days=30), stop)
                t3 = time.perf_counter()
                coldchain.series(s, sensor_id, stop - timedelta(days=1), stop)
                t4 = time.perf_counter()
            for name, dt in zip(timings, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                timings[name].append(dt)
        for name, samples in timings.items():
            print(f"{name:>14}: {percentiles(samples)}")
        page = [sum(x) for x in zip(timings["units"], timings["chart 30 days"],
                                    timings["days 30"], strict=True)]  # fmt: skip
        print(f"{'unit page':>14}: {percentiles(page)} (units + 30-day chart + days)")
        print("target: server time p95 <= 150 ms for a 30-day temperature chart")
        batch: list[tuple[Event, datetime]] = [(stamp(TemperatureMinute(
            occurred_at_us=int((END + timedelta(minutes=i // args.sensors)).timestamp()) * 10**6,
            unit=f"fridge-{i % args.sensors + 1}", sensor=f"probe-{i % args.sensors + 1}",
            samples=6, faults=0, min_c=4.8, mean_c=5.0, max_c=5.2, low_c=2.0, high_c=8.0),
            site="s1", gateway="gw1", seq=i + 1), END) for i in range(500)]  # fmt: skip
        took_ms = []
        for k in range(5):  # the first batch also warms statement caches
            moved = [(dataclasses.replace(e, occurred_at_us=e.occurred_at_us + k * 10 * 60 * 10**6,
                                          seq=e.seq + k * 500), at) for e, at in batch]  # fmt: skip
            t0 = time.perf_counter()
            lg.apply_batch(moved)
            took_ms.append((time.perf_counter() - t0) * 1000)
        print(
            "ingest: 500 minutes (50 sensors x 10) in one batch into the full table: "
            + ", ".join(f"{t:.0f}" for t in took_ms)
            + " ms"
        )
        t0 = time.perf_counter()
        gone = lg.prune_temperatures(END - timedelta(days=args.days - 1))
        print(f"retention: {gone:,} minutes (a day) pruned in {time.perf_counter() - t0:.2f} s")
        lg.engine.dispose()


if __name__ == "__main__":
    main()
