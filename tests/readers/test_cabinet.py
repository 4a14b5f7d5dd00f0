"""Cabinet reader client and controller against the emulator over a real pty and TCP."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hwms_common.config import MqttConnection, TlsConfig
from readers.cabinet import (
    CabinetController,
    CabinetReaderClient,
    FileLineBadgeReader,
    GpioFile,
    LineBadgeReader,
    MqttDoorLock,
    SerialLineSignals,
)
from readers.cabinet_emulator import CabinetEmulator, ReaderModel
from readers.cabinet_protocol import Protocol
from readers.gate_stream import make_epcs
from rules.cabinet import CabinetConfig, CabinetCycle
from rules.events import CabinetMovement
from rules.identity import IdentityResolver
from rules.observations import CabinetScan
from tests.conftest import Mosquitto, make_tls, mosquitto_passwords

ITEMS = [bytes.fromhex(h) for h in make_epcs("04012345000016", 1, 30, 7)]


@pytest.fixture(params=list(Protocol))
def emulator(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CabinetEmulator]:
    model = ReaderModel(protocol=request.param, shelves={1: set(ITEMS[:12]), 2: set(ITEMS[12:20])})
    emu = CabinetEmulator(model, tmp_path, tcp_port=0).start()
    yield emu
    emu.close()


def client(emu: CabinetEmulator, url: str | None = None, **kw: object) -> CabinetReaderClient:
    shelves = (0b01, 0b10) if emu.model.protocol == Protocol.FEIG else ()
    return CabinetReaderClient(
        url=url or emu.url,
        protocol=emu.model.protocol,
        shelves=shelves,
        timeout_s=0.5,
        cabinet="or-1",
        **kw,  # type: ignore[arg-type]
    )


def hexes(items: list[bytes]) -> frozenset[str]:
    return frozenset(i.hex().upper() for i in items)


def test_full_scan_over_pty_with_multiple_frames(emulator: CabinetEmulator) -> None:
    c = client(emulator)
    scan = c.scan()
    assert scan.ok and scan.epcs == hexes(ITEMS[:20])
    c.close()


def test_full_scan_over_tcp_socket_url(emulator: CabinetEmulator) -> None:
    c = client(emulator, url=f"socket://127.0.0.1:{emulator.tcp_port}")
    assert c.scan().epcs == hexes(ITEMS[:20])
    c.close()


def test_empty_cabinet_is_an_ok_empty_scan(emulator: CabinetEmulator) -> None:
    emulator.model.shelves = {1: set(), 2: set()}
    scan = client(emulator).scan()
    assert scan.ok and scan.epcs == frozenset()


def test_silent_reader_is_a_failed_scan_not_an_empty_one(emulator: CabinetEmulator) -> None:
    emulator.model.faults.silent = True
    c = client(emulator, retries=1)
    scan = c.scan()
    assert not scan.ok and "no complete answer" in scan.error
    emulator.model.faults.silent = False
    assert c.scan().ok  # recovers when the reader answers again


def test_antenna_error_is_a_failed_scan(emulator: CabinetEmulator) -> None:
    emulator.model.faults.antenna_error = True
    scan = client(emulator).scan()
    assert not scan.ok


def test_corrupted_reply_and_line_noise_are_survived(emulator: CabinetEmulator) -> None:
    emulator.model.faults.corrupt_next = 1
    emulator.model.faults.garbage_before = b"\x00\xff\x13\x37"
    c = client(emulator)
    scan = c.scan()
    assert scan.ok and scan.epcs == hexes(ITEMS[:20])
    assert c.decoder.crc_errors_total + c.decoder.discarded_bytes_total > 0


def test_controller_scenario_end_to_end(emulator: CabinetEmulator, tmp_path: Path) -> None:
    """Nurse badges, takes 3 items, returns 1, closes: the rules core sees 2 taken."""
    reader = client(emulator)
    badges = LineBadgeReader(emulator.badge_device)
    ctl = CabinetController(
        name="or-1",
        reader=reader,
        door=GpioFile(emulator.door_path),
        lock=GpioFile(emulator.lock_path),
        badges=badges,
        scans_after_close=2,
        scan_delay_s=0.05,
    )
    cycle = CabinetCycle(CabinetConfig(name="or-1", zone="or"), IdentityResolver())

    def pump(seconds: float) -> list[object]:
        out: list[object] = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for obs in ctl.poll(time.time_ns() // 1000):
                out.append(obs)
                out += cycle.feed(obs)
            time.sleep(0.01)
        return out

    emulator.run_scenario([{"badge": "nurse-7", "case": "case-9"}])
    events = pump(0.3)
    assert emulator.lock_path.read_text() == "1"  # badge unlocked the door
    emulator.run_scenario([{"door": "open"}, {"take": 3}, {"return": 1}])
    events += pump(0.2)
    emulator.run_scenario([{"door": "close"}])
    events += pump(1.0)
    scans = [e for e in events if isinstance(e, CabinetScan)]
    assert len(scans) == 3 and all(s.ok for s in scans)  # the baseline at start, then K=2
    assert scans[0].epcs == hexes(ITEMS[:20])
    moves = [e for e in events if isinstance(e, CabinetMovement)]
    assert [(m.action, m.quantity, m.user_id, m.case_id) for m in moves] == [
        ("take", 2, "nurse-7", "case-9")
    ]
    assert emulator.lock_path.read_text() == "0"
    badges.close()
    reader.close()


@pytest.mark.parametrize("secure", [False, True], ids=["plain", "tls-and-password"])
def test_mqtt_door_and_lock_adapter(mosquitto: Mosquitto, tmp_path: Path, secure: bool) -> None:
    """Door messages in, lock commands out; on a TLS-only broker with passwords too, since
    the adapter is built from the edge's one MQTT connection setting."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    conn = MqttConnection(port=mosquitto.port)
    io = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="t-io")
    if secure:
        tls = make_tls(tmp_path)
        passwords = mosquitto_passwords(tmp_path, gw1="door-pass", io="io-pass")
        mosquitto.reconfigure(tls=tls, password_file=passwords)
        (tmp_path / "pw").write_text("door-pass\n")
        conn = MqttConnection(port=mosquitto.tls_port, username="gw1",
                              password_file=tmp_path / "pw", tls=TlsConfig(ca_file=tls["ca"]))  # fmt: skip
        io.tls_set(ca_certs=str(tls["ca"]))
        io.username_pw_set("io", "io-pass")
    adapter = MqttDoorLock(
        conn, door_topic="site/or-1/door", lock_topic="site/or-1/lock", client_id="t-cab"
    )
    got: list[str] = []
    io.on_message = lambda _c, _u, m: got.append(m.payload.decode())
    io.connect(mosquitto.host, conn.port)
    io.subscribe("site/or-1/lock", qos=1)
    io.loop_start()
    try:
        assert adapter.connected.wait(5)
        assert not adapter.is_open()
        io.publish("site/or-1/door", "open", qos=1, retain=True).wait_for_publish(5)
        deadline = time.monotonic() + 5
        while not adapter.is_open() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert adapter.is_open()
        adapter.set_unlocked(True)
        adapter.set_unlocked(False)
        deadline = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert got == ["unlock", "lock"]
    finally:
        io.loop_stop()
        io.disconnect()
        adapter.close()


def test_mqtt_door_adapter_says_once_why_it_cannot_connect(
    mosquitto: Mosquitto, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong password: one warning naming the reason, not one per retry."""
    mosquitto.reconfigure(
        tls=make_tls(tmp_path), password_file=mosquitto_passwords(tmp_path, gw1="x")
    )
    (tmp_path / "pw").write_text("wrong\n")
    conn = MqttConnection(port=mosquitto.tls_port, username="gw1", password_file=tmp_path / "pw",
                          tls=TlsConfig(ca_file=tmp_path / "ca.crt"), reconnect_min_s=1,
                          reconnect_max_s=1)  # fmt: skip
    adapter = MqttDoorLock(conn, door_topic="d", lock_topic="l", client_id="t-cab-bad")
    try:
        time.sleep(3.5)  # three or four attempts
        assert not adapter.connected.is_set()
    finally:
        adapter.close()
    warnings = [line for line in capsys.readouterr().out.splitlines() if "cabinet mqtt" in line]
    assert len(warnings) == 1, warnings
    assert "not authorized" in warnings[0].lower() or "bad user name" in warnings[0].lower()


def test_keyboard_wedge_fifo_badges(tmp_path: Path) -> None:
    fifo = tmp_path / "badge"
    os.mkfifo(fifo)
    reader = FileLineBadgeReader(fifo)
    writer = os.open(fifo, os.O_WRONLY)
    try:
        os.write(writer, b"\x02004211337\x03\n")  # STX/ETX framing chars some wedges add
        os.write(writer, b"nurse-9,case-77\r\nhalf")
        assert reader.read_badges() == [("004211337", None), ("nurse-9", "case-77")]
        os.write(writer, b"-line\n")
        assert reader.read_badges() == [("half-line", None)]
    finally:
        os.close(writer)
        reader.close()


def test_serial_line_signals_door_and_lock() -> None:
    import serial

    port = serial.serial_for_url("loop://", timeout=0)  # loop:// wires RTS to CTS
    lines = SerialLineSignals(port, door_line="cts", lock_line="rts")
    lines.set_unlocked(True)
    assert lines.is_open()
    lines.set_unlocked(False)
    assert not lines.is_open()
    port.close()
