"""Observations as plain data (the edge's journal): every kind round-trips exactly."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from rules.observations import (
    BadgeEvent,
    CabinetScan,
    DoorEvent,
    Observation,
    ReaderState,
    ReaderStatus,
    TagRead,
    TemperatureSample,
    from_json,
    to_json,
)

T = st.integers(0, 2**62)
TEXT = st.text(max_size=20)
OBSERVATIONS = st.one_of(
    st.builds(TagRead, reader=TEXT, antenna=st.integers(0, 64), epc_hex=st.text("0123456789ABCDEF", max_size=64),
              t_us=T, rssi_dbm=st.none() | st.floats(-120, 0), seen_count=st.integers(1, 1000)),
    st.builds(ReaderStatus, reader=TEXT, state=st.sampled_from(ReaderState), t_us=T, reason=TEXT),
    st.builds(BadgeEvent, cabinet=TEXT, user_id=TEXT, t_us=T, case_id=st.none() | TEXT),
    st.builds(DoorEvent, cabinet=TEXT, is_open=st.booleans(), t_us=T),
    st.builds(CabinetScan, cabinet=TEXT, epcs=st.frozensets(TEXT, max_size=5), t_us=T, ok=st.booleans(), error=TEXT),
    st.builds(TemperatureSample, sensor=TEXT, t_us=T, value_c=st.none() | st.floats(-80, 50), fault=TEXT),
)  # fmt: skip


@given(OBSERVATIONS)
def test_round_trip_through_json(obs: Observation) -> None:
    assert from_json(json.loads(json.dumps(to_json(obs)))) == obs
