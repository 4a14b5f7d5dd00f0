"""The incremental alert pass gives the alerts a full scan gives: after any sequence of
receipts, bookings, limit imports and days passing (hypothesis), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from central import alerts
from central.imports import import_master_data
from central.ledger import Ledger, ReceiptLine
from central.models import Alert
from tests.central.test_ledger import ledger
from tests.conftest import TEST_NOW, TEST_TODAY

GTINS = ("04012345000016", "04012345000023")
PLACES = ("s1/store", "s1/ward-1", "s1/ward-2")

receipt = st.tuples(
    st.just("receive"),
    st.sampled_from(GTINS),
    st.integers(1, 8),  # items
    st.integers(1, 120),  # days to expiry from the day of receipt
    st.sampled_from(PLACES),
)
scrap = st.tuples(st.just("scrap"), st.integers(0, 10_000), st.integers(1, 4))
limit = st.tuples(st.just("limit"), st.sampled_from(GTINS), st.sampled_from(PLACES),
                  st.integers(0, 6), st.integers(0, 10))  # fmt: skip
days_pass = st.tuples(st.just("days"), st.integers(1, 40))
operations = st.lists(st.one_of(receipt, scrap, limit, days_pass), min_size=1, max_size=12)


class World:
    """One ledger and its calendar, the tagged items it holds, and a serial counter."""

    def __init__(self, lg: Ledger) -> None:
        self.lg = lg
        self.today = TEST_TODAY
        self.serial = 1
        self.lots = 0
        self.in_stock: list[tuple[str, str]] = []  # (epc, location)

    def run(self, op: tuple[object, ...]) -> None:
        kind = op[0]
        if kind == "receive":
            _, gtin, n, expiry_in, place = op
            assert isinstance(gtin, str) and isinstance(n, int) and isinstance(place, str)
            assert isinstance(expiry_in, int)
            item = "000001" if gtin.endswith("16") else "000002"
            self.lots += 1
            lines = []
            for _ in range(n):
                epc = f"urn:epc:id:sgtin:4012345.{item}.{self.serial}"
                self.serial += 1
                lines.append(ReceiptLine(epc=epc, gtin=gtin, lot=f"L{self.lots}",
                                         expiry=self.today + timedelta(days=expiry_in),
                                         location=place))  # fmt: skip
                self.in_stock.append((epc, place))
            self.lg.receive(lines, actor="t", today=self.today)
        elif kind == "scrap" and self.in_stock:
            _, at, n = op
            assert isinstance(at, int) and isinstance(n, int)
            epc, place = self.in_stock[at % len(self.in_stock)]
            chosen = [e for e, p in self.in_stock if p == place][:n]
            self.lg.book("scrap", location=place, user="t", reason="test", epcs=tuple(chosen))
            self.in_stock = [(e, p) for e, p in self.in_stock if e not in chosen]
        elif kind == "limit":
            _, gtin, place, low, extra = op
            csv = f"location,gtin,min,max\n{place},{gtin},{low},{int(str(low)) + int(str(extra))}\n"
            with self.lg.session.begin() as s:
                import_master_data(s, "limits", csv, actor="t")
        elif kind == "days":
            self.today += timedelta(days=int(str(op[1])))


def open_alerts(lg: Ledger) -> dict[tuple[str, str], tuple[str, str]]:
    kinds = alerts.EXPIRY_KINDS + alerts.LEVEL_KINDS
    with lg.session() as s:
        return {
            (a.kind, a.key): (a.severity, a.message)
            for a in alerts.open_alerts(s)
            if a.kind in kinds
        }


def full_scan(lg: Ledger, today: date) -> dict[tuple[str, str], tuple[str, str]]:
    with lg.session() as s:
        present = alerts.expiry_conditions(s, today) + alerts.stock_level_conditions(s)
    return {(c.kind, c.key): (c.severity, c.message) for c in present}


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(ops=operations)
def test_an_incremental_pass_gives_what_a_full_scan_gives(
    db_url: str, ops: list[tuple[object, ...]]
) -> None:
    lg = ledger(db_url)
    with lg.session.begin() as s:  # each example starts from no alerts and a full pass
        s.query(Alert).delete()
        alerts.evaluate(s, TEST_TODAY, TEST_NOW, full=True)
    world = World(lg)
    world.serial = 1 + 1_000_000 * (hash(tuple(map(str, ops))) % 1000)  # fresh EPCs
    world.lots = world.serial
    for op in ops:
        world.run(op)
        with lg.session.begin() as s:
            alerts.evaluate(s, world.today, TEST_NOW)
        assert open_alerts(lg) == full_scan(lg, world.today), op


def test_a_pass_evaluates_only_what_changed(db_url: str) -> None:
    """After a pass, stock untouched and no horizon crossed: nothing left to evaluate."""
    lg = ledger(db_url)
    world = World(lg)
    world.run(("receive", GTINS[0], 3, 20, "s1/store"))
    with lg.session.begin() as s:
        alerts.evaluate(s, world.today, TEST_NOW)
    with lg.session() as s:
        from sqlalchemy import func, select

        from central.models import Stock

        pending = select(func.count()).where(Stock.changes != Stock.evaluated)
        assert s.scalar(pending) == 0
    world.run(("scrap", 0, 1))
    with lg.session() as s:
        assert s.scalar(pending) == 1
