"""Web app benchmark on PostgreSQL; prints figures, asserts nothing.

Seeds a ledger the size issue 13 names (100 000 tagged items, 1 000 000 movements, 500
products with two lots each over 30 locations in 5 departments, a few hundred open alerts,
a year of minute summaries for 50 sensors), then requests each screen through the web app
in-process (FastAPI's test client: routing, the session, the queries and the templates;
no network) as an unscoped storekeeper and as a nurse scoped to one department, and
reports server time p50/p95 per screen over `--runs` requests with random parameters.

    python bench/bench_web.py [--runs 40] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bench_coldchain import seed as seed_minutes
from benchlib import percentiles, pg_schema
from fastapi.testclient import TestClient
from sqlalchemy import text

from central import accounts, db
from central.api import create_app
from central.clock import FixedClock
from central.ledger import Ledger

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
PASSWORD = "a benchmark password"
SEED = [
    # 5 departments, 30 locations (a store and 29 wards or cabinets)
    "insert into department (code, name) select 'dep-' || i, 'Department ' || i"
    " from generate_series(0, 4) i",
    "insert into location (code, name, kind, department) select 's1/loc-' || i, 'Location ' || i,"
    " case when i = 0 then 'warehouse' else 'ward' end, 'dep-' || (i % 5)"
    " from generate_series(0, 29) i",
    "insert into product (gtin, name, unit, category, cold_chain_class, high_value, unit_price)"
    " select lpad((40123450000 + i)::text, 13, '0') || '0', 'Product ' || i, 'EA', '', '',"
    " false, 1.5 + i % 20 from generate_series(0, 499) i",
    # GTIN check digits do not matter to the queries; the web app reads what is on file
    "insert into batch (gtin, lot, expiry, supplier, locked) select p.gtin, 'L' || l,"
    " date '2030-01-01' + (random() * 400)::int, 'ACME', false from product p"
    " cross join generate_series(1, 2) l",
    "insert into tag (epc, batch_id, location_id, last_event_at) select"
    " 'urn:epc:id:sgtin:4012345.0' || lpad((i % 1000)::text, 5, '0') || '.' || i,"
    " 1 + i % 1000, (select id from location order by id offset (i % 30) limit 1),"
    " :now - interval '1 day' from generate_series(1, 100000) i",
    "insert into stock (location_id, batch_id, quantity, changes, evaluated) select"
    " location_id, batch_id, count(*), 1, 1 from tag group by location_id, batch_id",
    "insert into movement (event_id, kind, batch_id, from_location_id, to_location_id, quantity,"
    " biz_step, actor, case_id, reason, occurred_at, recorded_at) select null,"
    " case when i % 3 = 0 then 'cabinet_take' else 'batch_movement' end, 1 + i % 1000,"
    " 1 + (i * 7) % 30, case when i % 3 = 0 then null else 1 + (i * 11) % 30 end, 1 + i % 5,"
    " '', 'user-' || (i % 40), '', '', :now - (i || ' seconds')::interval * 30,"
    " :now - (i || ' seconds')::interval * 30 from generate_series(1, 1000000) i",
    "insert into alert (kind, key, severity, state, message, raised_at, notify_count, tier)"
    " select 'expiry', s.batch_id || '@' || s.location_id, 'warning', 'raised',"
    " s.quantity || ' x ' || b.gtin || ' lot ' || b.lot || ' at s1/loc-' || s.location_id"
    " || ' expires on 2030-02-01 (within the 90-day horizon)', :now, 0, 0"
    " from stock s join batch b on b.id = s.batch_id order by s.location_id, s.batch_id"
    " limit 400",
]


def seed(lg: Ledger) -> float:
    t0 = time.perf_counter()
    with lg.engine.begin() as c:
        for statement in SEED:
            c.execute(text(statement), {"now": NOW})
    with lg.session.begin() as s:
        accounts.add_user(s, "sam", role="storekeeper", password=PASSWORD)
        accounts.add_user(s, "nia", role="nurse", password=PASSWORD, sites=["s1"],
                          departments=["dep-1"])  # fmt: skip
    seed_minutes(lg, 50, 365)  # vacuums and analyzes too
    with lg.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("vacuum analyze"))
    return time.perf_counter() - t0


def logged_in(app: object, user: str) -> TestClient:
    client = TestClient(app)  # type: ignore[arg-type]
    page = client.get("/login").text
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    client.post("/login", data={"username": user, "password": PASSWORD, "csrf": csrf,
                                "next": "/"}, follow_redirects=False)  # fmt: skip
    return client


def timed(client: TestClient, path: Callable[[random.Random], str], runs: int) -> list[float]:
    rng = random.Random(11)
    out = []
    for _ in range(runs):
        url = path(rng)
        t0 = time.perf_counter()
        r = client.get(url)
        out.append(time.perf_counter() - t0)
        assert r.status_code in (200, 404), (url, r.status_code)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    from hwms_common.logs import configure

    configure("WARNING")
    with pg_schema(args.pg) as url:
        db.upgrade(url)
        lg = Ledger(db.engine(url), clock=FixedClock(NOW))
        print(f"seeded in {seed(lg):.0f} s")
        with lg.engine.connect() as c:
            counts = {t: c.execute(text(f"select count(*) from {t}")).scalar_one()
                      for t in ("tag", "movement", "product", "location", "stock", "alert",
                                "temperature_minute")}  # fmt: skip
        print("ledger: " + ", ".join(f"{n:,} {t}" for t, n in counts.items()))
        app = create_app(lg, {})
        gtins = [f"{40123450000 + i:013d}0" for i in range(500)]
        end = NOW.date()
        screens: dict[str, Callable[[random.Random], str]] = {
            "dashboard": lambda r: "/",
            "stock (search, page)": lambda r: f"/ui/stock?q=Product {r.randint(1, 49)}&page=1",
            "stock (location, page 3)": lambda r: f"/ui/stock?location=s1/loc-{r.randint(0, 29)}"
                                                  "&page=3",
            "stock card": lambda r: f"/ui/stock/card?location=s1/loc-{r.randint(0, 29)}"
                                    f"&gtin={r.choice(gtins)}",
            "trace": lambda r: f"/ui/batches?gtin={r.choice(gtins)}&lot=L{r.randint(1, 2)}",
            "alerts": lambda r: "/ui/alerts",
            "cold chain, 30 days": lambda r: f"/ui/coldchain/{r.randint(1, 50)}?start="
                                             f"{end - timedelta(days=29)}&end={end}",
        }  # fmt: skip
        for user in ("sam", "nia"):
            client = logged_in(app, user)
            client.get("/")  # warm: templates compiled, statements cached
            print(f"{user} ({'unscoped' if user == 'sam' else 'one department'}):")
            for name, path in screens.items():
                print(f"  {name:>26}: {percentiles(timed(client, path, args.runs))}")
        print("target: server time p95 <= 150 ms for each screen")
        lg.engine.dispose()


if __name__ == "__main__":
    main()
