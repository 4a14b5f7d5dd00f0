"""Modbus profiles; the poller against the emulator over TCP, RTU over TCP and a pty."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from readers.modbus import ModbusPoller, ModbusSensor
from readers.modbus_emulator import Fridge, ModbusEmulator, fridges_from_scenario
from readers.modbus_profiles import PROFILES, Channel, DecodeError, decode, encode
from readers.ptypair import PtyPair
from rules.coldchain import ColdChainMonitor, preset
from rules.events import SensorStatus
from tests.support import free_port

# --- pure decoding ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "registers", "value"),
    [
        (PROFILES["xy-md02"].channel("temperature"), [0x0131], 30.5),
        (PROFILES["xy-md02"].channel("temperature"), [0xFF33], -20.5),
        (PROFILES["xy-md02"].channel("humidity"), [0x0222], 54.6),
        (PROFILES["kincony-sht30"].channel("temperature"), [10250], -25.0),
        (PROFILES["kincony-sht30"].channel("temperature"), [253], 25.3),
        (PROFILES["float32-transmitter"].channel("temperature"), [0x40A0, 0x0000], 5.0),
        (
            Channel(name="t", data_type="float32", scale=1.0, word_order="little"),
            [0x0000, 0x40A0],
            5.0,
        ),
    ],
)
def test_decode_known_encodings(channel: Channel, registers: list[int], value: float) -> None:
    assert decode(channel, registers) == pytest.approx(value)


def test_sentinel_and_nan_are_faults() -> None:
    with pytest.raises(DecodeError, match="probe fault"):
        decode(PROFILES["dixell-xr"].channel("probe1"), [0x7FFF])
    with pytest.raises(DecodeError, match="not a number"):
        decode(PROFILES["float32-transmitter"].channel("temperature"), [0x7FC0, 0x0000])
    with pytest.raises(DecodeError, match="expected 2"):
        decode(PROFILES["float32-transmitter"].channel("temperature"), [1])


@given(
    st.sampled_from([c for p in PROFILES.values() for c in p.channels]),
    st.integers(-600, 1200).map(lambda n: n / 10),
)
def test_encode_decode_round_trip(channel: Channel, value: float) -> None:
    assert decode(channel, encode(channel, value)) == pytest.approx(value, abs=1e-3)


@given(
    st.sampled_from([c for p in PROFILES.values() for c in p.channels]),
    st.lists(st.integers(-5, 70_000), max_size=3),
)
def test_fuzz_decode_raises_only_decode_error(channel: Channel, registers: list[int]) -> None:
    with contextlib.suppress(DecodeError):
        decode(channel, registers)


# --- against the emulator -------------------------------------------------------------------

FRIDGES = [
    Fridge(device_id=1),
    Fridge(device_id=2, behaviour="probe_fault"),
    Fridge(device_id=3, behaviour="silent"),
    Fridge(device_id=4, profile=PROFILES["kincony-sht30"], behaviour="freeze", at_s=-10_000),
]


def sensors() -> tuple[ModbusSensor, ...]:
    return tuple(
        ModbusSensor(
            sensor=f"fridge-{f.device_id}",
            device_id=f.device_id,
            profile=f.profile,
            channels=("temperature",),
        )
        for f in FRIDGES
    )


@pytest.fixture(params=["tcp", "rtu-tcp", "rtu"])
def emulator(request: pytest.FixtureRequest) -> Iterator[ModbusEmulator]:
    pair = None
    if request.param == "rtu":
        pair = PtyPair().start()
        emu = ModbusEmulator(FRIDGES, transport="rtu", serial_port=pair.b)
        emu.start()
        emu.serial_port = pair.a  # the client's end of the cable
    else:
        emu = ModbusEmulator(FRIDGES, transport=request.param, port=free_port()).start()
    yield emu
    emu.close()
    if pair is not None:
        pair.close()


def test_poll_every_case_on_every_transport(emulator: ModbusEmulator) -> None:
    poller = ModbusPoller(name="bus", url=emulator.url, sensors=sensors(), timeout_s=0.3, retries=0)
    readings = {r.sensor: r for r in poller.poll()}
    poller.close()
    assert (
        readings["fridge-1"].value == pytest.approx(5.0, abs=0.4) and not readings["fridge-1"].fault
    )
    assert readings["fridge-2"].fault == "device_failure" and readings["fridge-2"].value is None
    assert readings["fridge-3"].fault == "timeout"
    assert readings["fridge-4"].value == -2.0  # frozen; negative in Kincony's 10000+ encoding
    assert poller.errors_total[("fridge-2", "device_failure")] == 1
    # the bad sensors did not stop the good one, and every reading has its own time
    ts = [r.t_us for r in readings.values()]
    assert ts == sorted(ts)


def test_wrong_profile_is_an_illegal_address() -> None:
    emu = ModbusEmulator([Fridge(device_id=1)], port=free_port()).start()
    try:
        sensor = ModbusSensor(
            sensor="x", device_id=1, profile=PROFILES["dixell-xr"], channels=("probe1",)
        )
        (reading,) = ModbusPoller(name="bus", url=emu.url, sensors=(sensor,), timeout_s=0.3).poll()
        assert reading.fault == "illegal_address"
    finally:
        emu.close()


def test_server_down_is_a_connection_fault_and_recovers() -> None:
    port = free_port()
    poller = ModbusPoller(
        name="bus",
        url=f"tcp://127.0.0.1:{port}",
        sensors=(
            ModbusSensor(
                sensor="f1", device_id=1, profile=PROFILES["xy-md02"], channels=("temperature",)
            ),
        ),
        timeout_s=0.3,
        retries=0,
    )
    (reading,) = poller.poll()
    assert reading.fault == "connection"
    emu = ModbusEmulator([Fridge(device_id=1)], port=port).start()
    try:
        (reading,) = poller.poll()
        assert reading.fault == "" and reading.value is not None
    finally:
        poller.close()
        emu.close()


def test_faults_reach_the_cold_chain_as_faulty_samples() -> None:
    emu = ModbusEmulator(FRIDGES[:2], port=free_port()).start()
    try:
        poller = ModbusPoller(name="bus", url=emu.url, sensors=sensors()[:2], timeout_s=0.3)
        monitors = {
            s.sensor: ColdChainMonitor(s.sensor, s.sensor, preset("fridge")) for s in sensors()[:2]
        }
        events = []
        for r in poller.poll():
            events += monitors[r.sensor].feed(r.to_temperature_sample())
        statuses = [(e.sensor, e.status) for e in events if isinstance(e, SensorStatus)]
        assert statuses == [("fridge-2", "fault")]
        poller.close()
    finally:
        emu.close()


def test_scenario_behaviours() -> None:
    fr = fridges_from_scenario(
        {
            "fridges": [
                {"device_id": 1, "behaviour": "door_open", "at_s": 0},
                {"device_id": 2, "behaviour": "compressor_failure"},
            ]
        }
    )
    assert fr[0].temperature(3600) > 15.0
    assert fr[1].temperature(1200) == pytest.approx(15.0, abs=0.4)


def test_poll_loop_runs_on_schedule_and_stops() -> None:
    import threading
    import time

    emu = ModbusEmulator([Fridge(device_id=1)], port=free_port()).start()
    stop = threading.Event()
    got: list[object] = []
    poller = ModbusPoller(name="bus", url=emu.url, sensors=sensors()[:1], timeout_s=0.3)
    t = threading.Thread(target=poller.run, args=(got.append, 0.1, stop))
    try:
        t.start()
        time.sleep(0.55)
    finally:
        stop.set()
        t.join(timeout=5)
        emu.close()
    assert not t.is_alive()
    assert 4 <= len(got) <= 7  # one reading per poll, every 0.1 s


def test_emulator_clock_can_start_at_a_shared_wall_time() -> None:
    """A fridge scripted to open its door at 60 s of a shared script (demo) opens it then,
    whenever the emulator process itself started."""
    import time

    door = Fridge(device_id=2, behaviour="door_open", at_s=60.0)
    later = ModbusEmulator([door], speed=60.0, start_at=time.time() + 2.0)
    assert -130.0 < later.now_s() < -110.0  # two wall seconds before the script's time 0
    earlier = ModbusEmulator([door], speed=60.0, start_at=time.time() - 2.0)
    t = earlier.now_s()
    assert 110.0 < t < 130.0
    assert door.temperature(t) > door.temperature(0.0)  # the door has been open a minute
