"""Per-minute temperature summaries: every sample counted once in the minute it belongs to,
values that add up, a restart anywhere gives the same record, and every summary is a valid
wire event."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.events import EventSchemaError, TemperatureMinute, check, dumps, loads, stamp
from rules.minutes import GRACE_US, MinuteSummaries
from rules.observations import MINUTE, SECOND, TemperatureSample

T0 = 1_800_000_000 * SECOND - (1_800_000_000 * SECOND) % MINUTE  # a whole minute


def sample(t_s: float, value: float | None) -> TemperatureSample:
    return TemperatureSample(sensor="probe-1", t_us=T0 + int(t_s * SECOND), value_c=value)


def summaries() -> MinuteSummaries:
    return MinuteSummaries("fridge-1", "probe-1", 2.0, 8.0)


def test_a_minute_closes_on_the_next_minutes_first_sample_or_after_the_grace() -> None:
    m = summaries()
    assert m.feed(sample(0, 4.0), valid=True) == []
    assert m.feed(sample(20, 5.0), valid=True) == []
    assert m.feed(sample(40, None), valid=False) == []
    [closed] = m.feed(sample(60, 6.0), valid=True)
    assert closed == TemperatureMinute(
        occurred_at_us=T0, unit="fridge-1", sensor="probe-1", samples=2, faults=1,
        min_c=4.0, mean_c=4.5, max_c=5.0, low_c=2.0, high_c=8.0,
    )  # fmt: skip
    assert m.tick(T0 + 2 * MINUTE + GRACE_US - 1) == []
    [quiet] = m.tick(T0 + 2 * MINUTE + GRACE_US)
    assert (quiet.occurred_at_us, quiet.samples, quiet.mean_c) == (T0 + MINUTE, 1, 6.0)
    assert m.tick(T0 + 10 * MINUTE) == []  # nothing open, nothing made up


def test_a_minute_of_faults_only_has_no_temperatures_and_a_late_sample_is_left_out() -> None:
    m = summaries()
    m.feed(sample(61, None), valid=False)
    assert m.feed(sample(30, 5.0), valid=True) == []  # older than the open minute
    assert m.late_total == 1
    [faults] = m.tick(T0 + 3 * MINUTE)
    assert (faults.samples, faults.faults, faults.min_c, faults.mean_c) == (0, 1, None, None)
    check(stamp(faults, site="s1", gateway="gw1", seq=1))


values = st.one_of(st.none(), st.floats(-40.0, 40.0, allow_nan=False))
streams = st.lists(st.tuples(st.integers(0, 200), values), max_size=80)


def run(m: MinuteSummaries, stream: list[tuple[int, float | None]], t: int = 0) -> list[object]:
    """Feed samples `step` seconds apart from `t` seconds, ticking after each; returns
    what closed and the time reached."""
    out: list[object] = []
    for step, value in stream:
        t += step
        out += m.feed(sample(t, value), valid=value is not None)
        out += m.tick(T0 + t * SECOND)
    return out


@settings(max_examples=200, deadline=None)
@given(stream=streams, cut=st.integers(0, 80))
def test_every_sample_counted_once_and_a_restart_anywhere_changes_nothing(
    stream: list[tuple[int, float | None]], cut: int
) -> None:
    end = T0 + (sum(step for step, _ in stream) + 200) * SECOND
    m = summaries()
    whole = run(m, stream) + m.tick(end)
    minutes = [x for x in whole if isinstance(x, TemperatureMinute)]
    assert len(minutes) == len(whole)
    assert sum(x.samples for x in minutes) == sum(1 for _, v in stream if v is not None)
    assert sum(x.faults for x in minutes) == sum(1 for _, v in stream if v is None)
    starts = [x.occurred_at_us for x in minutes]
    assert starts == sorted(set(starts))
    for x in minutes:
        wire = stamp(x, site="s1", gateway="gw1", seq=1)
        assert loads(dumps(wire)) == wire  # valid on the wire, and unchanged by it
    # a restart from a snapshot taken after `cut` samples gives the same minutes
    first = summaries()
    before = run(first, stream[:cut])
    again = summaries()
    again.restore(first.export())
    after = run(again, stream[cut:], t=sum(step for step, _ in stream[:cut])) + again.tick(end)
    assert before + after == whole


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"occurred_at_us": T0 + 1}, "whole minute"),
        ({"samples": 0, "faults": 0}, "without any sample"),
        ({"samples": 10**6}, "out of range"),
        ({"mean_c": 9.0}, "min"),
        ({"max_c": None}, "needed"),
        ({"samples": 0, "faults": 2}, "faults only"),
    ],
)
def test_impossible_minutes_are_refused(change: dict[str, Any], message: str) -> None:
    good = TemperatureMinute(occurred_at_us=T0, unit="fridge-1", sensor="probe-1", samples=3,
                             faults=0, min_c=4.0, mean_c=5.0, max_c=6.0, low_c=2.0, high_c=8.0)  # fmt: skip
    check(stamp(good, site="s1", gateway="gw1", seq=1))
    bad = stamp(dataclasses.replace(good, **change), site="s1", gateway="gw1", seq=1)
    with pytest.raises(EventSchemaError, match=message):
        check(bad)
