"""The cold-chain record in the ledger, on SQLite and PostgreSQL: minutes stored once, a
unit's state from its alerts and its last minute, a period's chart in bounded buckets with
the excursions, daily min/max/MKT, retention."""

from __future__ import annotations

import math
from datetime import timedelta

from central import coldchain
from central.ledger import Ledger
from central.models import ColdSensor, SensorHour, SensorMinute
from rules.coldchain import mean_kinetic_temperature
from rules.events import AlarmState, ColdChainTransition, Event, TemperatureMinute, stamp
from tests.central.test_ledger import ledger
from tests.conftest import TEST_NOW

MIN_US = 60_000_000
DAY0 = TEST_NOW.replace(hour=0) - timedelta(days=2)  # two whole UTC days before "now"
T0 = int(DAY0.timestamp()) * 1_000_000


def minute(i: int, mean: float, seq: int, sensor: str = "probe-1") -> Event:
    m = TemperatureMinute(occurred_at_us=T0 + i * MIN_US, unit="fridge-1", sensor=sensor,
                          samples=6, faults=0, min_c=mean - 0.2, mean_c=mean,
                          max_c=mean + 0.2, low_c=2.0, high_c=8.0)  # fmt: skip
    return stamp(m, site="s1", gateway="gw1", seq=seq)


def day_of_minutes(lg: Ledger, warm: range) -> list[float]:
    """Two days of minutes at 5 °C, at 9 °C over `warm`; returns the first day's means."""
    means = [9.0 if i in warm else 5.0 for i in range(2 * 1440)]
    events = [minute(i, v, seq=i + 1) for i, v in enumerate(means)]
    for k in range(0, len(events), 500):
        lg.apply_batch([(e, TEST_NOW) for e in events[k : k + 500]])
    return means[:1440]


def test_minutes_are_kept_once_and_read_as_a_chart_with_its_excursions(db_url: str) -> None:
    lg = ledger(db_url)
    first_day = day_of_minutes(lg, warm=range(600, 630))
    again = [(minute(i, 1.0, seq=i + 1), TEST_NOW) for i in range(5)]  # sent again
    lg.apply_batch(again)
    with lg.session() as s:
        assert s.query(SensorMinute).count() == 2 * 1440
        sensor = s.query(ColdSensor).one()
        assert (sensor.unit, sensor.low_c, sensor.high_c) == ("fridge-1", 2.0, 8.0)
        assert sensor.last_mean_c == 5.0  # the latest minute, not the last one received
        # an hour at single minutes
        bucket, points = coldchain.series(s, sensor.id, DAY0, DAY0 + timedelta(hours=1))
        assert (bucket, len(points), points[0][2]) == (60, 60, 5.0)
        # two days in at most 720 buckets of whole minutes, extremes kept
        bucket, points = coldchain.series(s, sensor.id, DAY0, DAY0 + timedelta(days=2))
        assert bucket == 240 and len(points) == 720
        assert max(p[3] for p in points if p[3] is not None) == 9.2
        assert points[0][0] == DAY0
        found = coldchain.excursions(points, bucket, 2.0, 8.0)
        assert found == [(DAY0 + timedelta(minutes=600), DAY0 + timedelta(minutes=632))]
        # in buckets of 2 hours, from the hourly roll-up: minutes 600..719 hold the warm 30
        bucket, points = coldchain.series(s, sensor.id, DAY0, DAY0 + timedelta(days=2), 24)
        assert bucket == 7200 and len(points) == 24
        assert points[5] == (DAY0 + timedelta(hours=10), 4.8, 6.0, 9.2)
        assert points[4] == (DAY0 + timedelta(hours=8), 4.8, 5.0, 5.2)
        days = coldchain.daily(s, sensor, DAY0, DAY0 + timedelta(days=2))
    assert [d["day"] for d in days] == [DAY0.date(), (DAY0 + timedelta(days=1)).date()]
    assert days[0]["minutes"] == 1440 and days[0]["outside_minutes"] == 30
    assert (days[0]["min_c"], days[0]["max_c"]) == (4.8, 9.2)
    expected = mean_kinetic_temperature([(1.0, v) for v in first_day])
    assert math.isclose(days[0]["mkt_c"], expected, abs_tol=0.01)
    assert days[1]["mkt_c"] == 5.0 and days[1]["outside_minutes"] == 0


def test_a_units_state_comes_from_its_alerts_and_its_last_minute(db_url: str) -> None:
    lg = ledger(db_url)
    lg.apply(minute(0, 5.0, seq=1))
    with lg.session() as s:
        [unit] = coldchain.units(s, DAY0 + timedelta(minutes=3))
        assert unit.state == "ok" and unit.last_mean_c == 5.0
        [unit] = coldchain.units(s, DAY0 + timedelta(minutes=30))
        assert unit.state == "no_data"
    alarm = ColdChainTransition(
        occurred_at_us=T0 + MIN_US, unit="fridge-1", sensor="probe-1", condition="high_alarm",
        from_state=AlarmState.PENDING, to_state=AlarmState.ACTIVE, value_c=9.1, threshold_c=8.0,
        excursion_started_us=T0,
    )  # fmt: skip
    lg.apply(stamp(alarm, site="s1", gateway="gw1", seq=2))
    with lg.session() as s:
        [unit] = coldchain.units(s, DAY0 + timedelta(minutes=3))
    assert unit.state == "alarm" and "high alarm" in unit.detail


def test_retention_forgets_only_what_is_older(db_url: str) -> None:
    lg = ledger(db_url)
    day_of_minutes(lg, warm=range(0))
    gone = lg.prune_temperatures(DAY0 + timedelta(days=1, minutes=30))
    assert gone == 1440 + 30
    with lg.session() as s:
        assert s.query(SensorMinute).count() == 1440 - 30
        # the hour 24:00-25:00 keeps its roll-up while half of its minutes remain
        assert s.query(SensorHour).count() == 24
        sensor = s.query(ColdSensor).one()
        days = coldchain.daily(s, sensor, DAY0, DAY0 + timedelta(days=2))
    assert [d["minutes"] for d in days] == [1440]
    assert lg.prune_temperatures(DAY0) == 0
