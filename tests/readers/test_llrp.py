"""LLRP: sllurp against the emulator over loopback, and every supervision case."""

from __future__ import annotations

import contextlib
import queue
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from readers import llrp_codec as lc
from readers.backoff import Backoff
from readers.llrp import LlrpReader, LlrpSettings, tag_reads
from readers.llrp_emulator import LlrpEmulator, scenario_reads
from rules.observations import Observation, ReaderState, ReaderStatus, TagRead

SCENARIO = {
    "seed": 3,
    "events": [
        {"at": 0.1, "cart": {"direction": "IN", "inside": [1, 2], "outside": [3, 4],
                             "items": [{"gtin": "04012345000016", "count": 6}]}},
        {"at": 0.0, "shelf": {"antenna": 2, "rssi": -62, "every": 0.2, "until": 1.0,
                              "epcs": ["3074257BF7194E4000001A85"]}},
        {"at": 0.5, "stray": {"antenna": 4, "epc": "E2801160600002084E5E8A31", "rssi": -79}},
    ],
}  # fmt: skip


def settings(port: int, **kw: object) -> LlrpSettings:
    base: dict[str, object] = {
        "reader_id": "portal-1",
        "host": "127.0.0.1",
        "port": port,
        "antennas": (1, 2, 3, 4),
        "keepalive_s": 0.1,
        "dead_after_s": 0.5,
        "setup_timeout_s": 3.0,
        "healthy_after_s": 0.3,
    }
    base.update(kw)
    return LlrpSettings(**base)  # type: ignore[arg-type]


class Collector:
    def __init__(self) -> None:
        self.q: queue.Queue[Observation] = queue.Queue()
        self.items: list[Observation] = []

    def __call__(self, obs: Observation) -> None:
        self.q.put_nowait(obs)

    def wait_for(
        self, cond: Callable[[list[Observation]], bool], timeout: float = 10.0
    ) -> list[Observation]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with contextlib.suppress(queue.Empty):
                self.items.append(self.q.get(timeout=0.05))
            if cond(self.items):
                return self.items
        raise AssertionError(f"condition not met in {timeout} s; got {self.statuses()}")

    def drain(self) -> list[Observation]:
        while True:
            try:
                self.items.append(self.q.get_nowait())
            except queue.Empty:
                return self.items

    def statuses(self) -> list[tuple[ReaderState, str]]:
        return [(o.state, o.reason) for o in self.items if isinstance(o, ReaderStatus)]

    def reads(self) -> list[TagRead]:
        return [o for o in self.items if isinstance(o, TagRead)]


def ups(items: list[Observation]) -> int:
    return sum(1 for o in items if isinstance(o, ReaderStatus) and o.state == ReaderState.UP)


@pytest.fixture
def emulator() -> Iterator[LlrpEmulator]:
    emu = LlrpEmulator(SCENARIO).start()
    yield emu
    emu.close()


def run_reader(emu: LlrpEmulator, **kw: object) -> tuple[LlrpReader, Collector]:
    col = Collector()
    reader = LlrpReader(settings(emu.port, **kw), col, rng=random.Random(1)).start()
    return reader, col


def test_inventory_delivers_exactly_the_scenario_reads(emulator: LlrpEmulator) -> None:
    expected = Counter((r.epc.hex().upper(), r.antenna, float(r.rssi_dbm)) for r in emulator.reads)
    reader, col = run_reader(emulator)
    try:
        col.wait_for(
            lambda items: len([o for o in items if isinstance(o, TagRead)]) >= len(emulator.reads)
        )
        time.sleep(0.2)
        col.wait_for(lambda items: True, timeout=0.1)
    finally:
        reader.stop()
    reads = col.reads()
    assert Counter((r.epc_hex, r.antenna, r.rssi_dbm) for r in reads) == expected
    assert {r.reader for r in reads} == {"portal-1"}
    # reader timestamps keep the scenario's spacing
    by_offset = sorted(emulator.reads, key=lambda r: r.offset_us)
    span = by_offset[-1].offset_us - by_offset[0].offset_us
    got_span = max(r.t_us for r in reads) - min(r.t_us for r in reads)
    assert abs(got_span - span) < 20_000
    assert col.statuses()[:2] == [(ReaderState.CONNECTING, ""), (ReaderState.UP, "")]
    assert emulator.keepalive_acks_total > 0  # keepalives were requested and answered


def test_shared_clock_start_skips_what_happened_before_the_reader_was_connected() -> None:
    """`start_at` (several emulators on one script): reads scheduled before the ROSpec
    started are not replayed; later ones come at their time on that clock."""
    scenario = {"events": [
        {"at": 0.5, "stray": {"antenna": 1, "epc": "3074257BF7194E4000001A85", "rssi": -60}},
        {"at": 4.0, "stray": {"antenna": 2, "epc": "E2801160600002084E5E8A31", "rssi": -61}},
    ]}  # fmt: skip
    start_at = time.time() - 2.0  # the script started 2 s before the reader connects
    emu = LlrpEmulator(scenario, start_at=start_at).start()
    reader, col = run_reader(emu)
    try:
        col.wait_for(lambda items: any(isinstance(o, TagRead) for o in items), timeout=10)
        time.sleep(0.3)
    finally:
        reader.stop()
        emu.close()
    reads = col.reads()
    assert [(r.epc_hex, r.antenna) for r in reads] == [("E2801160600002084E5E8A31", 2)]
    assert abs(reads[0].t_us / 1e6 - (start_at + 4.0)) < 0.5  # at its time on the shared clock


def test_half_open_connection_is_detected_and_reconfigured(emulator: LlrpEmulator) -> None:
    reader, col = run_reader(emulator)
    try:
        col.wait_for(lambda items: ups(items) == 1)
        emulator.go_silent()
        col.wait_for(
            lambda items: any(
                s == ReaderState.DOWN and "dead connection" in r for s, r in col.statuses()
            )
        )
        col.wait_for(lambda items: ups(items) == 2)
    finally:
        reader.stop()
    assert emulator.connections_total == 2
    assert emulator.rospecs_added_total == 2  # configuration and ROSpec applied again
    assert reader.failures_total["dead connection"] == 1


def test_dropped_connection_reconnects(emulator: LlrpEmulator) -> None:
    reader, col = run_reader(emulator)
    try:
        col.wait_for(lambda items: ups(items) == 1)
        emulator.drop()
        col.wait_for(lambda items: ups(items) == 2)
    finally:
        reader.stop()
    downs = [r for s, r in col.statuses() if s == ReaderState.DOWN]
    assert downs[0] in ("connection closed", "reader thread died") or downs[0].startswith("dead")


def test_reader_thread_death_is_detected(emulator: LlrpEmulator) -> None:
    reader, col = run_reader(emulator)
    try:
        col.wait_for(lambda items: ups(items) == 1)
        emulator.send_malformed()
        col.wait_for(lambda items: ups(items) == 2)
    finally:
        reader.stop()
    downs = [r for s, r in col.statuses() if s == ReaderState.DOWN]
    assert downs[0] in ("reader thread died", "connection closed")


def test_reader_with_another_client_is_its_own_error(emulator: LlrpEmulator) -> None:
    emulator.refuse_all = True
    reader, col = run_reader(emulator)
    try:
        col.wait_for(lambda items: any("already has a client" in r for _, r in col.statuses()))
    finally:
        reader.stop()
    assert emulator.refused_total >= 1
    assert (
        reader.failures_total[
            "reader already has a client (Failed (a Client initiated connection already exists))"
        ]
        >= 1
    )


def test_unreachable_reader_backs_off() -> None:
    emu = LlrpEmulator({})
    port = emu.port
    emu.close()  # nothing listens there now
    col = Collector()
    reader = LlrpReader(settings(port), col, rng=random.Random(2)).start()
    try:
        col.wait_for(lambda items: sum(1 for s, _ in col.statuses() if s == ReaderState.DOWN) >= 3)
    finally:
        reader.stop()
    assert all(
        "connect failed" in r for s, r in col.statuses() if s == ReaderState.DOWN and r != "stopped"
    )
    assert reader.backoff.attempt >= 3


def test_backoff_resets_after_a_healthy_session(emulator: LlrpEmulator) -> None:
    reader, col = run_reader(emulator, healthy_after_s=0.2)
    try:
        col.wait_for(lambda items: ups(items) == 1)
        time.sleep(0.4)
        emulator.drop()
        col.wait_for(lambda items: ups(items) == 2)
    finally:
        reader.stop()
    assert reader.backoff.attempt == 1  # reset, then one failure


# --- pure parts --------------------------------------------------------------------------------


def test_backoff_phases_and_jitter() -> None:
    b = Backoff(rng=random.Random(0))
    ceilings = []
    for _ in range(25):
        ceilings.append(b.ceiling())
        d = b.next_delay()
        assert ceilings[-1] / 2 <= d <= ceilings[-1]
    assert ceilings[0] == 0.05
    assert max(ceilings[:12]) == 30.0
    assert ceilings[-1] == 1800.0
    assert ceilings == sorted(ceilings)
    b.reset()
    assert b.ceiling() == 0.05


def test_tag_reads_keep_synced_reader_clock_and_fix_unsynced_one() -> None:
    now = 1_800_000_000_000_000
    tags = [
        {
            "EPC": b"3074257bf7194e4000001a85",
            "AntennaID": 2,
            "PeakRSSI": -55,
            "LastSeenTimestampUTC": now - 1000,
        },
        {
            "EPC-96": b"3074257bf7194e4000001a86",
            "AntennaID": 1,
            "ImpinjPeakRSSI": -4519,
            "PeakRSSI": -45,
            "LastSeenTimestampUTC": now - 500,
            "TagSeenCount": 3,
        },
    ]
    reads = tag_reads("r", tags, now)
    assert [r.t_us for r in reads] == [now - 1000, now - 500]
    assert reads[1].rssi_dbm == -45.19 and reads[1].seen_count == 3
    assert reads[0].epc_hex == "3074257BF7194E4000001A85"
    y2000 = 946_684_800_000_000
    unsynced = [dict(t, LastSeenTimestampUTC=y2000 + i * 500) for i, t in enumerate(tags)]
    reads = tag_reads("r", unsynced, now)
    assert [r.t_us for r in reads] == [now - 500, now]


def test_scenario_is_seeded() -> None:
    assert scenario_reads(SCENARIO) == scenario_reads(SCENARIO)
    assert len(scenario_reads(SCENARIO)) > 20


@given(st.binary(max_size=300))
def test_fuzz_message_reader(data: bytes) -> None:
    reader = lc.MessageReader()
    try:
        for msg in reader.feed(data):
            assert 0 <= msg.type < 1024
    except lc.LlrpFrameError:
        pass


@given(st.binary(max_size=200))
def test_fuzz_request_parsers(body: bytes) -> None:
    lc.parse_add_rospec(body)
    lc.parse_keepalive_ms(body)


def test_impinj_extensions_enabled_only_on_impinj_readers() -> None:
    for vendor, expect_impinj in ((25882, True), (161, False)):
        emu = LlrpEmulator(SCENARIO, vendor=vendor).start()
        col = Collector()
        reader = LlrpReader(
            settings(emu.port, impinj_search_mode=2), col, rng=random.Random(1)
        ).start()

        def fractional(items: list[Observation]) -> list[float]:
            # Impinj peak RSSI arrives in centi-dBm (e.g. -58.19); plain PeakRSSI is whole dBm
            return [
                o.rssi_dbm
                for o in items
                if isinstance(o, TagRead) and o.rssi_dbm is not None and o.rssi_dbm % 1
            ]

        try:
            if expect_impinj:
                col.wait_for(lambda items: bool(fractional(items)))
            else:
                col.wait_for(
                    lambda items: (
                        ups(items) == 1 and sum(isinstance(o, TagRead) for o in items) > 10
                    )
                )
        finally:
            reader.stop()
            emu.close()
        assert bool(fractional(col.items)) == expect_impinj
        downs = [r for s, r in col.statuses() if s == ReaderState.DOWN and r != "stopped"]
        assert downs == (["reconfigure: enabling Impinj extensions"] if expect_impinj else [])


def test_tx_power_outside_the_power_table_is_reported(emulator: LlrpEmulator) -> None:
    reader, col = run_reader(emulator, tx_power_dbm=36.0)
    try:
        col.wait_for(
            lambda items: any("outside the reader's power table" in r for _, r in col.statuses())
        )
    finally:
        reader.stop()
    assert ups(col.items) == 0


def test_antenna_disconnect_event_is_recorded_and_reads_go_on(emulator: LlrpEmulator) -> None:
    reader, col = run_reader(emulator)
    try:
        col.wait_for(lambda items: ups(items) == 1)
        emulator.antenna_disconnect(3)
        deadline = time.monotonic() + 5
        while reader.antenna_events_total == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        reader.stop()
    assert reader.antennas_down == {3}
    assert ups(col.items) == 1  # an antenna fault is not a connection fault


def test_reads_made_while_the_client_was_away_are_held_and_keep_their_times() -> None:
    """HoldEventsAndReportsUponReconnect: the reader keeps its ROSpec running and its
    reports while no client is connected; the next client gets them, with their own
    timestamps (the reader's clock offset is measured at connect, not per report)."""
    scenario = {"events": [
        {"at": 1.0, "stray": {"antenna": 1, "epc": "3074257BF7194E4000001A85", "rssi": -60}},
        {"at": 3.5, "stray": {"antenna": 2, "epc": "E2801160600002084E5E8A31", "rssi": -61}},
        {"at": 4.0, "stray": {"antenna": 3, "epc": "3074257BF7194E4000001A86", "rssi": -62}},
        {"at": 8.5, "stray": {"antenna": 4, "epc": "3074257BF7194E4000001A87", "rssi": -63}},
    ]}  # fmt: skip
    start_at = time.time()
    emu = LlrpEmulator(scenario, start_at=start_at).start()
    try:
        reader, col = run_reader(emu)
        col.wait_for(lambda items: any(isinstance(o, TagRead) for o in items), timeout=10)
        reader.stop()  # the edge goes away (a hard disconnect, as in a crash)
        time.sleep(max(0.0, start_at + 6.0 - time.time()))  # two reads happen meanwhile
        again, col2 = run_reader(emu)
        col2.wait_for(lambda items: len([o for o in items if isinstance(o, TagRead)]) >= 3,
                      timeout=10)  # fmt: skip
        again.stop()
    finally:
        emu.close()
    assert emu.held_reports_total >= 1
    reads = col.reads() + col2.reads()
    assert [r.epc_hex[-2:] for r in reads] == ["85", "31", "86", "87"]
    for r, at in zip(reads, (1.0, 3.5, 4.0, 8.5), strict=True):
        assert abs(r.t_us / 1e6 - (start_at + at)) < 0.3, (r, at)  # their time, not receipt


def test_the_hold_flag_is_encoded_as_llrp_defines_it() -> None:
    from sllurp.llrp_proto import encode_param

    from readers.llrp_codec import P_EVENTS_AND_REPORTS, parse_hold_reports

    param = encode_param("EventsAndReports", {"HoldEventsAndReportsUponReconnect": True})
    assert param == bytes([0, P_EVENTS_AND_REPORTS, 0, 5, 0x80])
    assert parse_hold_reports(b"\x00" + param) is True
    off = encode_param("EventsAndReports", {"HoldEventsAndReportsUponReconnect": False})
    assert parse_hold_reports(b"\x00" + off) is False and parse_hold_reports(b"\x00") is None


def test_a_giant_frame_drops_the_connection_at_once(emulator: LlrpEmulator) -> None:
    """A reader announcing a 4 GiB frame and streaming filler: the connection is closed
    as soon as the header is read, nothing of it is buffered, and the reader comes back."""
    reader, col = run_reader(emulator, max_frame_bytes=1 << 20)
    try:
        col.wait_for(lambda items: ups(items) == 1)
        emulator.send_giant_frame()
        col.wait_for(lambda items: ups(items) == 2)
    finally:
        reader.stop()
    downs = [r for s, r in col.statuses() if s == ReaderState.DOWN]
    assert downs[0] == (
        "frame too large: the reader announced 4294967295 bytes, the limit is 1048576"
    )
    assert reader.failures_total["frame too large"] == 1
    # closed long before the announced length: the filler stopped at the socket buffers
    assert emulator.giant_bytes_sent < 64 << 20


def test_a_busy_reader_is_not_taken_for_a_silent_one() -> None:
    """Reports every 10 ms for 3 s with keepalives every 0.5 s and death after 1.5 s of
    silence: no false alarm while the reader talks."""
    scenario = {"events": [
        {"at": 0.0, "shelf": {"antenna": 1, "rssi": -60, "every": 0.01, "until": 3.0,
                              "epcs": [f"3074257BF7194E40000{n:05X}" for n in range(40)]}},
    ]}  # fmt: skip
    emu = LlrpEmulator(scenario).start()
    reader, col = run_reader(emu, keepalive_s=0.5, dead_after_s=1.5)
    try:
        col.wait_for(lambda items: ups(items) == 1)
        time.sleep(3.0)
    finally:
        reader.stop()
        emu.close()
    col.drain()
    assert len(col.reads()) > 1000
    assert [s for s, _ in col.statuses()][:2] == [ReaderState.CONNECTING, ReaderState.UP]
    assert ReaderState.DOWN not in [s for s, r in col.statuses() if r != "stopped"]
