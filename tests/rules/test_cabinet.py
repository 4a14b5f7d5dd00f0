"""Smart-cabinet door cycles: attribution, K-scan union, suspects, failed scans, door ajar."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from readers.gate_stream import make_epcs
from rules.cabinet import CabinetConfig, CabinetCycle
from rules.epc import decode
from rules.events import CabinetAlert, CabinetMovement, CabinetWitness
from rules.identity import CommissionRecord, IdentityResolver
from rules.observations import SECOND, BadgeEvent, CabinetScan, DoorEvent

T0 = 1_800_000_000 * SECOND
ITEMS = make_epcs("04012345000016", 1, 6, 7)
URIS = [decode(e).uri for e in ITEMS]
COMM = {
    u: CommissionRecord(gtin="04012345000016", lot="LOT1", expiry="2030-01-01") for u in URIS[:4]
}


def cabinet(scans_after_close: int = 2) -> CabinetCycle:
    cab = CabinetCycle(
        CabinetConfig(name="or-1", zone="or", scans_after_close=scans_after_close),
        IdentityResolver(COMM),
    )
    cab.feed(CabinetScan(cabinet="or-1", epcs=frozenset(ITEMS[:5]), t_us=T0))  # baseline
    return cab


def scan(epcs: list[str], s: float, ok: bool = True) -> CabinetScan:
    return CabinetScan(
        cabinet="or-1",
        epcs=frozenset(epcs),
        t_us=T0 + int(s * SECOND),
        ok=ok,
        error="" if ok else "CRC",
    )


def cycle(cab: CabinetCycle, scans: list[CabinetScan], badge: bool = True) -> list[object]:
    out: list[object] = []
    if badge:
        out += cab.feed(
            BadgeEvent(cabinet="or-1", user_id="nurse-7", case_id="case-1", t_us=T0 + SECOND)
        )
    out += cab.feed(DoorEvent(cabinet="or-1", is_open=True, t_us=T0 + 2 * SECOND))
    out += cab.feed(DoorEvent(cabinet="or-1", is_open=False, t_us=T0 + 10 * SECOND))
    for s in scans:
        out += cab.feed(s)
    return out


def moves(events: Sequence[object]) -> list[tuple[str, int, str | None, bool]]:
    return sorted(
        (e.action, e.quantity, e.batch.lot, e.attributed)
        for e in events
        if isinstance(e, CabinetMovement)
    )


def alerts(events: list[object]) -> list[str]:
    return sorted(e.reason for e in events if isinstance(e, CabinetAlert))


def test_baseline_then_take_and_return_attributed() -> None:
    cab = cabinet()
    after = [*ITEMS[2:5], ITEMS[5]]  # took items 0 and 1, returned item 5 (uncommissioned)
    events = cycle(cab, [scan(after, 11), scan(after, 12)])
    assert moves(events) == [("return", 1, None, True), ("take", 2, "LOT1", True)]
    take = next(e for e in events if isinstance(e, CabinetMovement) and e.action == "take")
    assert (take.user_id, take.case_id) == ("nurse-7", "case-1")
    assert take.epcs == tuple(sorted(URIS[:2]))
    assert alerts(events) == []


def test_union_of_scans_and_suspects() -> None:
    cab = cabinet()
    # item 4 missed by the first scan only: still there, but suspect
    events = cycle(cab, [scan(ITEMS[:4], 11), scan(ITEMS[:5], 12)])
    assert moves(events) == []
    assert alerts(events) == ["suspect_missing"]
    # next cycle it is gone from both scans: now it is a take
    events = cycle(cab, [scan(ITEMS[:4], 21), scan(ITEMS[:4], 22)])
    assert moves(events) == [("take", 1, None, True)]


def test_failed_scan_never_removes() -> None:
    cab = cabinet()
    events = cycle(cab, [scan([], 11, ok=False), scan(ITEMS[:2], 12)])
    assert moves(events) == []
    assert alerts(events) == ["scan_failed"]
    assert cab.inventory == frozenset(URIS[:5])


def test_unattributed_change_is_flagged() -> None:
    cab = cabinet()
    events = cycle(cab, [scan(ITEMS[1:5], 11), scan(ITEMS[1:5], 12)], badge=False)
    assert moves(events) == [("take", 1, "LOT1", False)]
    assert alerts(events) == ["unattributed_change"]


def test_door_ajar_reported_once_at_limit() -> None:
    cab = cabinet()
    cab.feed(BadgeEvent(cabinet="or-1", user_id="u", t_us=T0))
    cab.feed(DoorEvent(cabinet="or-1", is_open=True, t_us=T0 + SECOND))
    events: list[object] = []
    for s in range(0, 200, 5):
        events += cab.tick(T0 + s * SECOND)
    ajar = [e for e in events if isinstance(e, CabinetAlert)]
    assert [(a.reason, a.occurred_at_us) for a in ajar] == [("door_ajar", T0 + 61 * SECOND)]
    assert ajar[0].user_id == "u"


def test_expired_badge_session_does_not_attribute() -> None:
    cab = cabinet()
    cab.feed(BadgeEvent(cabinet="or-1", user_id="u", t_us=T0))
    cab.feed(DoorEvent(cabinet="or-1", is_open=True, t_us=T0 + 500 * SECOND))
    cab.feed(DoorEvent(cabinet="or-1", is_open=False, t_us=T0 + 510 * SECOND))
    events = cab.feed(scan(ITEMS[1:5], 511)) + cab.feed(scan(ITEMS[1:5], 512))
    assert moves(events) == [("take", 1, "LOT1", False)]


@given(st.lists(st.frozensets(st.sampled_from(ITEMS)), min_size=1, max_size=12))
def test_inventory_always_equals_last_good_union(scan_sets: list[frozenset[str]]) -> None:
    """Stock is conserved: baseline + returns - takes == committed inventory, every cycle."""
    cab = cabinet(scans_after_close=1)
    stock = set(URIS[:5])
    for i, s in enumerate(scan_sets):
        events = cycle(cab, [CabinetScan(cabinet="or-1", epcs=s, t_us=T0 + (20 + i) * SECOND)])
        for e in events:
            if isinstance(e, CabinetMovement):
                if e.action == "take":
                    assert set(e.epcs) <= stock
                    stock -= set(e.epcs)
                else:
                    assert not set(e.epcs) & stock
                    stock |= set(e.epcs)
        assert cab.inventory == frozenset(stock) == frozenset(decode(h).uri for h in s)


def test_a_second_badge_soon_after_witnesses_the_session_once() -> None:
    cab = CabinetCycle(CabinetConfig(name="or-1", zone="or", witness_window_s=60),
                       IdentityResolver(COMM))  # fmt: skip

    def badge(user: str, s: float) -> list[object]:
        return list(cab.feed(BadgeEvent(cabinet="or-1", user_id=user, t_us=T0 + int(s * SECOND))))

    assert badge("anna", 0) == []
    assert badge("anna", 5) == []  # the same person again: no witness
    (w,) = badge("nina", 30)
    assert isinstance(w, CabinetWitness)
    assert (w.user_id, w.of_user_id, w.session_id) == ("nina", "anna", f"or-1-{T0 + 5 * SECOND}")
    assert badge("otto", 40) == []  # nina's badge witnessed; it opened no session to witness
    assert badge("anna", 200) == []
    assert badge("nina", 300) == []  # too late for anna's session


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 300)), max_size=30))
def test_witnesses_are_other_people_within_the_window(badges: list[tuple[str, int]]) -> None:
    cab = CabinetCycle(CabinetConfig(name="or-1", zone="or", witness_window_s=60),
                       IdentityResolver(COMM))  # fmt: skip
    t = 0
    for user, gap in badges:
        t += gap
        for e in cab.feed(BadgeEvent(cabinet="or-1", user_id=user, t_us=T0 + t * SECOND)):
            assert isinstance(e, CabinetWitness) and e.user_id != e.of_user_id
            assert 0 <= e.occurred_at_us - e.session_started_us <= 60 * SECOND
