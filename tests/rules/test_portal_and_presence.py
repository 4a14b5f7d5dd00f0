"""Debouncing, departure, doorway direction, mobility and batch aggregation."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readers.gate_stream import GateLayout, cart_pass, make_epcs
from rules.config import (
    MobilityProfile,
    PortalConfig,
    ReadPointConfig,
    RulesConfig,
    ZoneConfig,
    ZoneRule,
)
from rules.events import BatchMovement, Direction, Event
from rules.gateway import GatewayRules
from rules.identity import CommissionRecord
from rules.observations import SECOND, ReaderState, ReaderStatus, TagRead

EPC_A = "3074257BF7194E4000001A85"  # urn:epc:id:sgtin:0614141.812345.6789
URI_A = "urn:epc:id:sgtin:0614141.812345.6789"
T0 = 1_800_000_000 * SECOND
GATE = GateLayout(reader="r1", inside=(1,), outside=(2,))


def gate_config(**portal: object) -> RulesConfig:
    return RulesConfig(
        site="s",
        gateway="g",
        zones=(
            ZoneConfig(name="shelf", absence_timeout_s=60.0),
            ZoneConfig(name="ward", absence_timeout_s=60.0),
        ),
        read_points=(
            ReadPointConfig(name="shelf-a", zone="shelf", antennas=(("r2", 1),)),
            ReadPointConfig(name="shelf-b", zone="shelf", antennas=(("r2", 2),)),
            ReadPointConfig(name="ward-1", zone="ward", antennas=(("r3", 1),)),
        ),
        portals=(
            PortalConfig(
                name="door",
                inside=(("r1", 1),),
                outside=(("r1", 2),),
                inside_zone="store",
                outside_zone="corridor",
                **portal,  # type: ignore[arg-type]
            ),
        ),
        zone_rules=(
            ZoneRule(from_zone="corridor", to_zone="store", biz_step="receiving"),
            ZoneRule(from_zone="store", to_zone="corridor", biz_step="picking"),
            ZoneRule(from_zone=None, to_zone="*", biz_step="arriving"),
        ),
    )


def read(
    reader: str, antenna: int, dt_s: float, rssi: float | None = -50.0, epc: str = EPC_A
) -> TagRead:
    return TagRead(
        reader=reader, antenna=antenna, epc_hex=epc, t_us=T0 + int(dt_s * SECOND), rssi_dbm=rssi
    )


def run(rules: GatewayRules, reads: list[TagRead], until_s: float = 60.0) -> list[Event]:
    out: list[Event] = []
    reads = sorted(reads, key=lambda r: r.t_us)
    t = T0
    end = T0 + int(until_s * SECOND)
    i = 0
    while t <= end:
        while i < len(reads) and reads[i].t_us <= t:
            out.extend(rules.feed(reads[i]))
            i += 1
        out.extend(rules.tick(t))
        t += SECOND // 10
    return out


def movements(events: list[Event]) -> list[BatchMovement]:
    return [e for e in events if isinstance(e, BatchMovement)]


# --- doorway direction, table-driven -------------------------------------------------------

# (reads as (antenna, seconds)), expected direction or None for "no event"
DOOR_CASES = {
    "clean in": ([(2, 0.0), (2, 0.3), (1, 0.8), (1, 1.1)], Direction.IN),
    "clean out": ([(1, 0.0), (1, 0.3), (2, 0.8), (2, 1.1)], Direction.OUT),
    "single stray read vanishes": ([(1, 0.0)], None),
    "one side only is unknown": ([(2, 0.0), (2, 0.5), (2, 1.0)], Direction.UNKNOWN),
    "orders disagree is unknown": ([(2, 0.0), (1, 0.4), (1, 0.8), (2, 1.2)], Direction.UNKNOWN),
    "too close to tell is unknown": (
        [(2, 0.00), (1, 0.02), (2, 0.03), (1, 0.05)],
        Direction.UNKNOWN,
    ),
    "lingering then in": (
        [(2, 0.0), *[(1 + (i % 2), 0.3 + 0.5 * i) for i in range(20)], (1, 11.0)],
        Direction.IN,
    ),
}


@pytest.mark.parametrize("name", list(DOOR_CASES))
def test_doorway_direction(name: str) -> None:
    pattern, expected = DOOR_CASES[name]
    events = movements(run(GatewayRules(gate_config()), [read("r1", a, t) for a, t in pattern]))
    if expected is None:
        assert events == []
        return
    assert [e.direction for e in events] == [expected]
    ev = events[0]
    if expected == Direction.IN:
        assert (ev.from_zone, ev.to_zone, ev.biz_step) == ("corridor", "store", "receiving")
        assert ev.confidence >= 0.5
    elif expected == Direction.OUT:
        assert (ev.from_zone, ev.to_zone, ev.biz_step) == ("store", "corridor", "picking")
    else:
        assert ev.biz_step is None


def test_holdoff_suppresses_flapping_after_a_pass() -> None:
    rules = GatewayRules(gate_config(holdoff_s=5.0, pass_gap_s=1.0))
    pattern = [(2, 0.0), (2, 0.2), (1, 0.6), (1, 0.8), (1, 3.0), (1, 3.2), (2, 3.6), (2, 3.8)]
    events = movements(run(rules, [read("r1", a, t) for a, t in pattern]))
    assert [e.direction for e in events] == [Direction.IN]
    assert rules.portals["door"].suppressed_passes_total == 1


def test_rssi_floor_drops_weak_reads() -> None:
    rules = GatewayRules(gate_config(rssi_floor_dbm=-70.0))
    pattern = [(2, 0.0, -80.0), (2, 0.3, -80.0), (1, 0.8, -80.0), (1, 1.1, -80.0)]
    assert movements(run(rules, [read("r1", a, t, r) for a, t, r in pattern])) == []
    assert rules.portals["door"].below_floor_total == 4


def test_cart_is_one_movement_per_batch_with_commissioned_lots() -> None:
    rng = random.Random(3)
    a = make_epcs("04012345000016", 1, 30, 7)
    b = make_epcs("04012345000023", 1, 12, 7)
    unknown = make_epcs("04012345000030", 1, 5, 7)
    from rules.epc import decode

    comm = {
        decode(e).uri: CommissionRecord(gtin="04012345000016", lot="LA", expiry="2030-01-01")
        for e in a
    }
    comm |= {decode(e).uri: CommissionRecord(gtin="04012345000023", lot="LB") for e in b}
    reads = cart_pass(
        rng, GATE, a + b + unknown, start_us=T0 + SECOND, direction="IN", miss_rate=0.1
    )
    events = movements(run(GatewayRules(gate_config(), comm), reads))
    got = {(e.batch.gtin, e.batch.lot, e.quantity, e.uncommissioned) for e in events}
    assert got == {
        ("04012345000016", "LA", 30, False),
        ("04012345000023", "LB", 12, False),
        ("04012345000030", None, 5, True),
    }
    assert all(e.direction == Direction.IN for e in events)
    la = next(e for e in events if e.batch.lot == "LA")
    assert la.batch.expiry == "2030-01-01"
    assert len(set(la.epcs)) == 30


def test_two_carts_apart_are_two_passes() -> None:
    rng = random.Random(4)
    a = make_epcs("04012345000016", 1, 5, 7)
    reads = cart_pass(rng, GATE, a, start_us=T0, direction="IN", miss_rate=0.0)
    reads += cart_pass(rng, GATE, a, start_us=T0 + 30 * SECOND, direction="OUT", miss_rate=0.0)
    events = movements(run(GatewayRules(gate_config()), reads))
    assert [(e.direction, e.quantity) for e in events] == [(Direction.IN, 5), (Direction.OUT, 5)]


def test_non_gs1_tag_is_reported_not_dropped() -> None:
    raw = "E2801160600002084E5E8A31"
    pattern = [(2, 0.0), (2, 0.3), (1, 0.8), (1, 1.1)]
    events = movements(
        run(GatewayRules(gate_config()), [read("r1", a, t, epc=raw) for a, t in pattern])
    )
    assert len(events) == 1
    assert events[0].epcs == ("urn:epc:raw:96.xE2801160600002084E5E8A31",)
    assert events[0].batch.gtin is None and events[0].uncommissioned


def test_unmapped_antenna_is_counted() -> None:
    rules = GatewayRules(gate_config())
    assert rules.feed(read("r9", 1, 0.0)) == []
    assert rules.stats.unmapped_reads_total == 1


# --- areas: debounce, departure, freezing, mobility -----------------------------------------


def test_area_arrival_needs_min_reads_in_window() -> None:
    rules = GatewayRules(gate_config())
    # two reads 3 s apart: outside the 2 s window -> never confirmed
    assert movements(run(rules, [read("r3", 1, 0.0), read("r3", 1, 3.0)], until_s=10)) == []
    rules = GatewayRules(gate_config())
    evs = movements(run(rules, [read("r3", 1, 0.0), read("r3", 1, 1.0)], until_s=10))
    assert [(e.direction, e.to_zone, e.biz_step) for e in evs] == [
        (Direction.IN, "ward", "arriving")
    ]


def test_a_pass_that_never_pauses_is_cut_into_bounded_events() -> None:
    """Installation day: a store's whole stock is read at once, tags keep arriving without
    a cart gap; events (and the memory of the open pass) stay bounded, no tag is lost."""
    rules = GatewayRules(dataclasses.replace(gate_config(), max_pass_tags=40))
    epcs = make_epcs("04012345000016", 1, 100, 7)
    reads = [read("r3", 1, i * 0.1 + dt, epc=e) for i, e in enumerate(epcs) for dt in (0, 0.05)]
    evs = movements(run(rules, reads, until_s=20))
    assert [e.quantity for e in evs] == [40, 40, 20]
    assert sorted(u for e in evs for u in e.epcs) == sorted(
        rules.resolver.ident(e).uri for e in epcs
    )


def test_area_departure_after_absence_timeout_at_deterministic_time() -> None:
    rules = GatewayRules(gate_config())
    evs = movements(
        run(rules, [read("r3", 1, 0.0), read("r3", 1, 1.0), read("r3", 1, 5.0)], until_s=90)
    )
    assert [e.direction for e in evs] == [Direction.IN, Direction.OUT]
    assert evs[1].occurred_at_us == T0 + 65 * SECOND  # last read + 60 s, whatever the tick rate


def test_departure_clock_frozen_while_reader_down() -> None:
    rules = GatewayRules(gate_config())
    events = run(rules, [read("r3", 1, 0.0), read("r3", 1, 1.0)], until_s=2)
    rules.feed(ReaderStatus(reader="r3", state=ReaderState.DOWN, t_us=T0 + 10 * SECOND))
    t = T0 + 2 * SECOND
    while t < T0 + 600 * SECOND:  # reader down for ten minutes: nothing may leave
        events += rules.tick(t)
        t += SECOND
    assert [e.direction for e in movements(events)] == [Direction.IN]
    rules.feed(ReaderStatus(reader="r3", state=ReaderState.UP, t_us=T0 + 600 * SECOND))
    later: list[Event] = []
    while t < T0 + 700 * SECOND:
        later += rules.tick(t)
        t += SECOND
    out = movements(later)
    assert [e.direction for e in out] == [Direction.OUT]
    # 9 s of the 60 s budget were used before the reader went down; 51 s remain after it is up
    assert out[0].occurred_at_us == T0 + 651 * SECOND


def test_mobility_moves_between_shelves_but_not_on_noise() -> None:
    cfg = gate_config()
    rules = GatewayRules(cfg)
    reads = [read("r2", 1, 0.0, -60), read("r2", 1, 0.5, -60)]
    # a weaker read at shelf-b does not move it
    reads += [read("r2", 2, 1.0, -70), read("r2", 2, 1.1, -70)]
    run(rules, reads, until_s=2)
    assert rules.areas.present() == {URI_A: "shelf-a"}
    # much stronger and the old place has gone quiet: it moves
    later = [read("r2", 2, 4.0 + 0.1 * i, -45) for i in range(4)]
    for r in later:
        rules.feed(r)
    assert rules.areas.present() == {URI_A: "shelf-b"}
    assert rules.areas.moves_total == 1


def test_mobility_offset_profile_matches_edgex() -> None:
    p = MobilityProfile()
    assert p.offset_db(0) == 6.0
    assert p.offset_db(500) == 6.0
    assert p.offset_db(1250) == pytest.approx(0.0)
    assert p.offset_db(2000) == pytest.approx(-6.0)


# --- invariants (hypothesis) --------------------------------------------------------------

read_strategy = st.lists(
    st.tuples(
        st.sampled_from([("r1", 1), ("r1", 2), ("r2", 1), ("r2", 2), ("r3", 1)]),
        st.integers(0, 40_000),  # ms
        st.sampled_from([EPC_A, "3074257BF7194E4000001A86", "3074257BF7194E4000001A87"]),
        st.integers(-80, -40),
    ),
    max_size=80,
)


@settings(max_examples=60, deadline=None)
@given(read_strategy, st.integers(0, 3000))
def test_no_event_in_the_past_and_no_lost_confirmed_tag(
    raw: list[tuple[tuple[str, int], int, str, int]], jitter_ms: int
) -> None:
    rules = GatewayRules(gate_config())
    # reads arrive roughly in order, some late by up to `jitter_ms`
    reads = [
        TagRead(reader=a[0], antenna=a[1], epc_hex=e, t_us=T0 + ms * 1000, rssi_dbm=float(r))
        for a, ms, e, r in raw
    ]
    arrival = sorted(
        reads,
        key=lambda r: (
            r.t_us + ((r.t_us // 1000 * 7919 + int(r.epc_hex[-2:], 16)) % (jitter_ms + 1)) * 1000
        ),
    )
    events: list[Event] = []
    t = T0
    i = 0
    while t <= T0 + 200 * SECOND:
        while i < len(arrival) and arrival[i].t_us <= t:
            events.extend(rules.feed(arrival[i]))
            i += 1
        events.extend(rules.tick(t))
        t += SECOND // 4
    events += rules.flush(t)
    last_seen: dict[str, int] = {}
    for ev in movements(events):
        for uri in ev.epcs:
            assert ev.occurred_at_us >= last_seen.get(uri, 0), "event in the past of an emitted one"
            last_seen[uri] = ev.occurred_at_us
    # every tag that arrived in an area either is still present or has a departure event
    arrived = {
        u for ev in movements(events) if ev.from_zone is None and ev.to_zone for u in ev.epcs
    }
    departed = {
        u for ev in movements(events) if ev.to_zone is None and ev.from_zone for u in ev.epcs
    }
    assert arrived <= departed | set(rules.areas.present())
    # sequence numbers are gap-free and ids unique
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert len({e.event_id for e in events}) == len(events)


def test_replay_gives_identical_event_ids() -> None:
    rng = random.Random(9)
    reads = cart_pass(rng, GATE, make_epcs("04012345000016", 1, 20, 7), start_us=T0, direction="IN")
    ids1 = [e.event_id for e in run(GatewayRules(gate_config()), reads)]
    ids2 = [e.event_id for e in run(GatewayRules(gate_config()), reads)]
    assert ids1 == ids2 and ids1


def test_snapshot_restore_keeps_present_tags_and_sequence() -> None:
    rules = GatewayRules(gate_config())
    events = run(rules, [read("r3", 1, 0.0), read("r3", 1, 1.0)], until_s=8)
    assert [e.direction for e in movements(events)] == [Direction.IN]

    snap = json.loads(json.dumps(rules.snapshot()))
    again = GatewayRules(gate_config())
    again.restore(snap)
    assert again.areas.present() == rules.areas.present() == {URI_A: "ward-1"}
    assert again.seq == rules.seq
    # a read after the restart is not a new arrival; the departure still comes on time
    later = again.feed(read("r3", 1, 10.0)) + again.tick(T0 + 80 * SECOND)
    assert [(e.direction, e.occurred_at_us) for e in movements(later)] == [
        (Direction.OUT, T0 + 70 * SECOND)
    ]
    assert later[0].seq == rules.seq + 1
