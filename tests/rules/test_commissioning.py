"""The edge's commissioning map: snapshot + cumulative delta, whatever the delivery order."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.commissioning import CommissioningMap, CommissioningState


def rec(lot: str) -> dict[str, Any]:
    return {"gtin": "04012345000016", "lot": lot, "expiry": "2030-01-01"}


def snap(version: int, records: dict[str, Any]) -> dict[str, Any]:
    return {"schema": 1, "version": version, "records": records}


def delta(base: int, version: int, records: dict[str, Any]) -> dict[str, Any]:
    return {"schema": 1, "base_version": base, "version": version, "records": records}


def history() -> list[tuple[str, dict[str, Any]]]:
    """What a ledger publishes over time: snapshot 10, deltas 11 and 12 (cumulative),
    snapshot 20 (a re-bound tag), delta 21."""
    return [
        ("snapshot", snap(10, {"a": rec("L1"), "b": rec("L1")})),
        ("delta", delta(10, 11, {"c": rec("L2")})),
        ("delta", delta(10, 12, {"c": rec("L2"), "d": rec("L3")})),
        ("snapshot", snap(20, {"a": rec("L1"), "b": rec("L9"), "c": rec("L2"), "d": rec("L3")})),
        ("delta", delta(20, 21, {"e": rec("L4")})),
    ]


def feed(state: CommissioningState, messages: list[tuple[str, dict[str, Any]]]) -> None:
    for kind, data in messages:
        (state.snapshot if kind == "snapshot" else state.delta)(CommissioningMap.from_json(data))


def test_in_order() -> None:
    s = CommissioningState()
    feed(s, history()[:3])
    assert (s.version, s.snapshot_version, sorted(s.records)) == (12, 10, ["a", "b", "c", "d"])
    feed(s, history()[3:])
    assert (s.version, s.records["b"]["lot"], sorted(s.records)) == (21, "L9", list("abcde"))


def test_delta_before_its_snapshot_waits_and_stale_ones_are_ignored() -> None:
    s = CommissioningState()
    m = CommissioningMap.from_json
    s.delta(m(delta(20, 21, {"e": rec("L4")})))  # retained delta delivered first on subscribe
    assert s.records == {} and s.version == 0
    s.snapshot(m(history()[3][1]))
    assert s.version == 21 and "e" in s.records
    s.delta(m(delta(10, 12, {"x": rec("OLD")})))  # for an older snapshot: stale
    s.snapshot(m(history()[0][1]))  # an older snapshot: ignored
    assert s.version == 21 and "x" not in s.records


@given(st.permutations(list(range(5))))
def test_the_latest_retained_pair_wins_in_any_order(order: list[int]) -> None:
    """Retained messages can arrive in any order; the map ends as the newest snapshot plus
    the newest delta on it, as long as both of those arrived."""
    msgs = history()
    s = CommissioningState()
    feed(s, [msgs[i] for i in order])
    assert s.snapshot_version == 20
    assert s.version == 21 and s.records["b"]["lot"] == "L9" and "e" in s.records


def test_round_trip_and_bad_messages() -> None:
    s = CommissioningState()
    feed(s, history())
    again = CommissioningState.from_json(s.to_json())
    assert again == CommissioningState(version=21, snapshot_version=20, records=s.records)
    with pytest.raises(ValueError, match="schema"):
        CommissioningMap.from_json({"schema": 2, "version": 99, "records": {}})
    with pytest.raises(ValueError, match="mapping"):
        CommissioningMap.from_json({"schema": 1, "base_version": 20, "version": 30, "records": []})
    with pytest.raises(ValueError, match="delta where a snapshot"):
        s.snapshot(CommissioningMap(30, {}, base_version=20))
    wire = CommissioningMap(7, {"a": rec("L1")}, base_version=5)
    assert CommissioningMap.from_json(wire.to_json()) == wire  # the payload round-trips


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3),
                    max_leaves=20))  # fmt: skip
def test_fuzz_payloads_are_maps_or_value_errors(data: object) -> None:
    try:
        got = CommissioningMap.from_json(data)
    except ValueError:
        return
    assert isinstance(got.version, int) and isinstance(got.records, dict)
