"""Alert lifecycle and evaluations (expiry horizons, stock levels), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest

from central import alerts
from central.ledger import Ledger, ReceiptLine
from central.models import Alert, Location, StockLimit
from rules.events import Direction
from tests.central.conftest import signed
from tests.central.test_ledger import epcs, ledger, move
from tests.conftest import TEST_NOW, TEST_TODAY, days

TODAY = TEST_TODAY
NOW = TEST_NOW


def receive(lg: Ledger, n: int, expiry: date, lot: str = "L1", start: int = 1) -> None:
    lines = [ReceiptLine(epc=e, gtin="04012345000016", lot=lot, expiry=expiry, location="s1/store")
             for e in epcs(n, start)]  # fmt: skip
    lg.receive(lines, actor="t", today=days(-2519))


def open_kinds(lg: Ledger) -> list[tuple[str, str, str]]:
    with lg.session() as s:
        return [(a.kind, a.severity, a.state) for a in alerts.open_alerts(s)]


@pytest.mark.parametrize(
    ("expiry", "expected"),
    [
        (days(189), []),
        (days(69), [("expiry", "info", "raised")]),
        (days(26), [("expiry", "warning", "raised")]),
        (days(6), [("expiry", "critical", "raised")]),
        (days(-23), [("expired", "critical", "raised")]),
    ],
)
def test_expiry_horizons(db_url: str, expiry: date, expected: list[tuple[str, str, str]]) -> None:
    lg = ledger(db_url)
    receive(lg, 3, expiry)
    with lg.session.begin() as s:
        alerts.evaluate(s, TODAY, NOW)
    assert open_kinds(lg) == expected


def test_lifecycle_dedup_ack_escalate_clear(db_url: str) -> None:
    lg = ledger(db_url)
    receive(lg, 3, days(26))
    for _ in range(3):  # evaluated again and again: still one alert
        with lg.session.begin() as s:
            alerts.evaluate(s, TODAY, NOW)
    assert open_kinds(lg) == [("expiry", "warning", "raised")]
    with lg.session.begin() as s:
        alert_id = alerts.open_alerts(s)[0].id
        alerts.acknowledge(s, alert_id, "pharmacist-2", "moving to front shelf", NOW)
    with lg.session.begin() as s:
        alerts.evaluate(s, TODAY, NOW)  # an ack does not clear
    assert open_kinds(lg) == [("expiry", "warning", "acknowledged")]
    with lg.session.begin() as s:
        alerts.evaluate(s, days(21), NOW)  # 5 days left: worse, raised again
    assert open_kinds(lg) == [("expiry", "critical", "raised")]
    lg.apply(move(Direction.OUT, "store", "ward-1", epcs(3)))  # the stock left the store...
    with lg.session.begin() as s:
        alerts.evaluate(s, days(21), NOW)
    kinds = open_kinds(lg)
    assert ("expiry", "critical", "raised") in kinds and len(
        kinds
    ) == 1  # ...to the ward: alert follows it
    with lg.session() as s:
        first = s.get(Alert, alert_id)
        assert (
            first is not None
            and first.state == "cleared"
            and first.acknowledged_by == "pharmacist-2"
        )


def test_stock_levels_low_stockout_overstock(db_url: str) -> None:
    lg = ledger(db_url)
    receive(lg, 4, days(1134))
    with lg.session.begin() as s:
        loc = s.query(Location).filter_by(code="s1/store").one()
        s.add(
            StockLimit(
                location_id=loc.id,
                gtin="04012345000016",
                min_quantity=5,
                max_quantity=20,
                reorder_quantity=None,
            )
        )
    with lg.session.begin() as s:
        alerts.evaluate(s, TODAY, NOW)
    with lg.session() as s:
        (low,) = alerts.open_alerts(s)
        assert low.kind == "low_stock" and "reorder 16" in low.message
    lg.apply(move(Direction.OUT, "store", "ward-1", epcs(4)))
    with lg.session.begin() as s:
        alerts.evaluate(s, TODAY, NOW)
    assert [k for k, _, _ in open_kinds(lg)] == ["stockout"]
    receive(lg, 25, days(1134), start=100)
    with lg.session.begin() as s:
        alerts.evaluate(s, TODAY, NOW)
    assert [k for k, _, _ in open_kinds(lg)] == ["overstock"]


def test_recall_lock_alerts_and_flags_later_movements(db_url: str) -> None:
    lg = ledger(db_url)
    receive(lg, 5, days(1134))
    lg.lock_batch("04012345000016", "L1", signed=signed(lg, "quality-1"))
    assert [k for k, _, _ in open_kinds(lg)] == ["recall"]
    lg.apply(move(Direction.OUT, "store", "ward-1", epcs(2)))
    assert sorted(k for k, _, _ in open_kinds(lg)) == ["locked_batch_moved", "recall"]
    trace = lg.trace("04012345000016", "L1")
    assert trace["locked"] is True
    assert sorted(u["location"] for u in trace["units"]) == ["s1/store"] * 3 + ["s1/ward-1"] * 2
    lg.lock_batch("04012345000016", "L1", locked=False, signed=signed(lg, "quality-1"))
    assert [k for k, _, _ in open_kinds(lg)] == [
        "locked_batch_moved"
    ]  # a person still reviews the move
