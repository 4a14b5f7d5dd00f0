"""Cold-chain state machines, sensor health and mean kinetic temperature."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.coldchain import ColdChainMonitor, mean_kinetic_temperature, preset, window_stats
from rules.events import AlarmState, ColdChainTransition, SensorStatus
from rules.observations import HOUR, MINUTE, SECOND, TemperatureSample

T0 = 1_800_000_000 * SECOND
A, P, N, C = AlarmState.ACTIVE, AlarmState.PENDING, AlarmState.NORMAL, AlarmState.CLEARED


def feed_series(mon: ColdChainMonitor, series: list[tuple[int, float | None]]) -> list[object]:
    """Samples every minute from (minutes, value); ticks between samples."""
    out: list[object] = []
    for minute, value in series:
        t = T0 + minute * MINUTE
        out += mon.tick(t)
        out += mon.feed(TemperatureSample(sensor="s1", t_us=t, value_c=value))
    return out


def transitions(events: list[object], condition: str) -> list[tuple[AlarmState, AlarmState, int]]:
    return [
        (e.from_state, e.to_state, (e.occurred_at_us - T0) // MINUTE)
        for e in events
        if isinstance(e, ColdChainTransition) and e.condition == condition
    ]


def steady(start: int, end: int, value: float) -> list[tuple[int, float | None]]:
    return [(m, value) for m in range(start, end)]


# condition, series, expected transitions (from, to, minute)
CASES = {
    "short excursion under the delay stays pending then normal": (
        "high_alarm",
        steady(0, 5, 5.0) + steady(5, 15, 9.0) + steady(15, 20, 5.0),
        [(N, P, 5), (P, N, 15)],
    ),
    "excursion longer than 15 min goes active at exactly the delay": (
        "high_alarm",
        steady(0, 5, 5.0) + steady(5, 30, 9.0) + steady(30, 35, 5.0),
        [(N, P, 5), (P, A, 20), (A, C, 30)],
    ),
    "hysteresis: 7.8 is not clear of an 8.0 alarm": (
        "high_alarm",
        steady(0, 25, 9.0) + steady(25, 30, 7.8) + steady(30, 32, 7.4),
        [(N, P, 0), (P, A, 15), (A, C, 30)],
    ),
    "threshold value itself is in range": ("high_alarm", steady(0, 30, 8.0), []),
    "freeze alarms without delay": (
        "freeze",
        steady(0, 3, 4.0) + steady(3, 5, -0.5) + steady(5, 8, 4.0),
        [(N, P, 3), (P, A, 3), (A, C, 5)],
    ),
    "pre-alarm at 7.2 for 30 min": (
        "high_warn",
        steady(0, 40, 7.2),
        [(N, P, 0), (P, A, 30)],
    ),
    "low alarm": ("low_alarm", steady(0, 20, 1.5), [(N, P, 0), (P, A, 15)]),
    "cumulative: 14-min excursions add up to 60 min": (
        "cumulative",
        [
            p
            for k in range(5)
            for p in steady(20 * k, 20 * k + 14, 9.0) + steady(20 * k + 14, 20 * k + 20, 5.0)
        ],
        [(N, A, 84)],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_alarm_state_machine(name: str) -> None:
    condition, series, expected = CASES[name]
    mon = ColdChainMonitor("fridge-1", "s1", preset("fridge"))
    assert transitions(feed_series(mon, series), condition) == expected


def test_cumulative_excursions_never_reach_single_alarm() -> None:
    series = CASES["cumulative: 14-min excursions add up to 60 min"][1]
    mon = ColdChainMonitor("fridge-1", "s1", preset("fridge"))
    events = feed_series(mon, series)
    assert A not in [to for _, to, _ in transitions(events, "high_alarm")]
    assert mon.time_out_of_range_s(T0 + 100 * MINUTE) == 70 * 60


@pytest.mark.parametrize(
    ("sample", "reason"),
    [
        (
            TemperatureSample(sensor="s1", t_us=T0, value_c=None, fault="modbus exception 4"),
            "modbus",
        ),
        (TemperatureSample(sensor="s1", t_us=T0, value_c=-3276.8), "sentinel"),
        (TemperatureSample(sensor="s1", t_us=T0, value_c=250.0), "physically impossible"),
        (TemperatureSample(sensor="s1", t_us=T0, value_c=float("nan")), "no value"),
    ],
)
def test_sensor_fault(sample: TemperatureSample, reason: str) -> None:
    mon = ColdChainMonitor("fridge-1", "s1", preset("fridge"))
    events = mon.feed(sample)
    assert len(events) == 1 and isinstance(events[0], SensorStatus)
    assert events[0].status == "fault" and reason in events[0].reason


def test_fault_does_not_count_as_in_range() -> None:
    mon = ColdChainMonitor("fridge-1", "s1", preset("fridge"))
    series: list[tuple[int, float | None]] = (
        steady(0, 5, 9.0) + [(m, None) for m in range(5, 8)] + steady(8, 25, 9.0)
    )
    events = feed_series(mon, series)
    # the fault minutes neither cleared the pending excursion nor restarted its delay
    assert transitions(events, "high_alarm") == [(N, P, 0), (P, A, 15)]
    statuses = [
        (e.status, (e.occurred_at_us - T0) // MINUTE) for e in events if isinstance(e, SensorStatus)
    ]
    assert statuses == [("fault", 5), ("ok", 8)]


def test_offline_after_silence_and_pending_frozen() -> None:
    mon = ColdChainMonitor("fridge-1", "s1", preset("fridge"))
    events = feed_series(mon, steady(0, 3, 9.0))
    t = T0 + 3 * MINUTE
    while t < T0 + 2 * HOUR:
        events += mon.tick(t)
        t += MINUTE
    statuses = [e for e in events if isinstance(e, SensorStatus)]
    assert [(s.status, (s.occurred_at_us - T0) // MINUTE) for s in statuses] == [("offline", 12)]
    # due at minute 15 but the sensor went silent at minute 12: no alarm invented
    assert transitions(events, "high_alarm") == [(N, P, 0)]
    assert mon.states()["high_alarm"] == P


def test_late_sample_is_ignored() -> None:
    mon = ColdChainMonitor("fridge-1", "s1", preset("fridge"))
    mon.feed(TemperatureSample(sensor="s1", t_us=T0 + MINUTE, value_c=5.0))
    assert mon.feed(TemperatureSample(sensor="s1", t_us=T0, value_c=20.0)) == []


def test_mkt_worked_values() -> None:
    assert mean_kinetic_temperature([(22 * 3600, 5.0), (2 * 3600, 25.0)]) == pytest.approx(
        9.83, abs=0.01
    )
    assert mean_kinetic_temperature([(23 * 3600, 5.0), (3600, 15.0)]) == pytest.approx(
        5.76, abs=0.01
    )
    assert mean_kinetic_temperature([(12, 20.0), (12, 30.0)]) == pytest.approx(26.26, abs=0.01)


@given(st.floats(-80, 60), st.lists(st.floats(1, 1e6), min_size=1, max_size=20))
def test_mkt_of_constant_is_constant(temp: float, durations: list[float]) -> None:
    assert mean_kinetic_temperature([(d, temp) for d in durations]) == pytest.approx(temp, abs=1e-6)


@given(st.lists(st.tuples(st.floats(1, 1e5), st.floats(-30, 40)), min_size=1, max_size=20))
def test_mkt_between_mean_and_max(samples: list[tuple[float, float]]) -> None:
    mkt = mean_kinetic_temperature(samples)
    total = sum(d for d, _ in samples)
    mean = sum(d * t for d, t in samples) / total
    assert mean - 1e-6 <= mkt <= max(t for _, t in samples) + 1e-6


def test_window_stats_keeps_gaps_as_gaps() -> None:
    samples = [(T0 + m * MINUTE, 5.0) for m in range(0, 60)] + [(T0 + 120 * MINUTE, 9.0)]
    stats = window_stats(
        samples, start_us=T0, end_us=T0 + 180 * MINUTE, low=2.0, high=8.0, max_gap_s=600
    )
    assert stats is not None
    assert (stats.min_c, stats.max_c) == (5.0, 9.0)
    assert stats.time_out_of_range_s == 600  # the last sample holds for at most the max gap
    assert stats.coverage == pytest.approx(79 / 180)  # 59 one-minute spans + 2 capped at 10


def test_excursion_statistics_travel_with_the_transitions() -> None:
    """min, max and MKT of the excursion so far, as pharmacy needs them to judge the stock;
    they survive a restart of the monitor."""
    mon = ColdChainMonitor("fridge-2", "s1", preset("fridge", alarm_delay_s=240.0))
    series: list[tuple[int, float | None]] = [(0, 5.0), (1, 9.0), (2, 11.0), (3, 10.0)]
    events = [e for e in feed_series(mon, series) if isinstance(e, ColdChainTransition)]
    pending = next(e for e in events if e.condition == "high_alarm")
    assert (pending.to_state, pending.min_c, pending.max_c) == (AlarmState.PENDING, 9.0, 9.0)
    saved = mon.export()
    again = ColdChainMonitor("fridge-2", "s1", preset("fridge", alarm_delay_s=240.0))
    again.restore(saved)
    active = [
        e
        for e in again.feed(TemperatureSample(sensor="s1", t_us=T0 + 5 * MINUTE, value_c=10.5))
        if isinstance(e, ColdChainTransition) and e.condition == "high_alarm"
    ]
    assert active[0].to_state == AlarmState.ACTIVE
    assert (active[0].min_c, active[0].max_c) == (9.0, 11.0)
    mkt = mean_kinetic_temperature([(1, 9.0), (1, 11.0), (1, 10.0)])
    assert active[0].mkt_c == pytest.approx(mkt, abs=0.01)
    assert 10.0 < active[0].mkt_c < 11.0  # type: ignore[operator]
