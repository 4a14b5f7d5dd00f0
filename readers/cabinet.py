"""Smart-cabinet IO: the serial reader client and the controller around door, lock and badge.

`CabinetReaderClient.scan()` runs one full inventory over every shelf and returns a
`CabinetScan` observation. It never returns an empty inventory because a scan failed: a
timeout, a partial list or an antenna error gives `ok=False` with the reason, which the
rules core treats as "inventory unknown".

`CabinetController.poll(now_us)` reads the badge reader and the door contact, drives the
lock, scans once at start (the baseline, or what changed while the gateway was down) and
after the door closes runs the K scans the rules core asks for; it returns the
observations (`BadgeEvent`, `DoorEvent`, `CabinetScan`) for `rules/`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from typing import Protocol as TypingProtocol

import serial
import structlog

from hwms_common.config import MqttConnection
from hwms_common.mqtt import connect, mqtt_client
from readers import cabinet_protocol as cp
from readers.cabinet_protocol import Frame, FrameDecoder, InventoryFormatError, Protocol
from rules.observations import SECOND, BadgeEvent, CabinetScan, DoorEvent

log = structlog.get_logger(__name__)


class ReaderTimeoutError(Exception):
    """The reader did not answer (FEIG does not answer a corrupted request either)."""


@dataclass(slots=True)
class CabinetReaderClient:
    url: str
    protocol: Protocol
    address: int = 0
    shelves: tuple[int, ...] = ()  # FEIG antenna masks, one per shelf; () = all antennas
    timeout_s: float = 1.0
    retries: int = 2
    baudrate: int | None = None
    cabinet: str = "cabinet"
    clock_us: Callable[[], int] = field(default=lambda: time.time_ns() // 1000)
    _port: serial.SerialBase | None = None
    decoder: FrameDecoder = field(init=False)

    def __post_init__(self) -> None:
        self.decoder = FrameDecoder(self.protocol, responses=True)

    # --- connection --------------------------------------------------------------------

    def _open(self) -> serial.SerialBase:
        if self._port is None:
            if self.protocol == Protocol.FEIG:
                baud, parity = self.baudrate or 38400, serial.PARITY_EVEN
            else:
                baud, parity = self.baudrate or 57600, serial.PARITY_NONE
            self._port = serial.serial_for_url(self.url, baudrate=baud, parity=parity, timeout=0.02)
        return self._port

    def close(self) -> None:
        if self._port is not None:
            self._port.close()
            self._port = None

    # --- request / response ------------------------------------------------------------

    def _exchange(self, req: Frame, until: Callable[[Frame], bool]) -> list[Frame]:
        """Send `req`, collect answer frames until `until(frame)`; retry on silence.

        An answer during which a corrupted frame looked like part of it is not trusted
        (a lost frame of a multi-frame inventory would look like taken items): retry.
        """
        error = "no answer"
        for attempt in range(self.retries + 1):
            port = self._open()
            self.decoder.gap()
            self.decoder.expect = (self.address, req.command)
            corrupted_before = self.decoder.expected_crc_errors_total
            port.reset_input_buffer()
            port.write(cp.encode(self.protocol, req))
            got = self._collect(port, req, until)
            if got is None:
                error = (
                    f"no complete answer to command 0x{req.command:02X} within {self.timeout_s} s"
                )
            elif self.decoder.expected_crc_errors_total != corrupted_before:
                error = "a frame of the answer was corrupted"
            else:
                return got
            log.debug(  # the edge logs the cabinet's state changes, not every retry
                "cabinet reader retry", cabinet=self.cabinet, attempt=attempt + 1, error=error
            )
        raise ReaderTimeoutError(error)

    def _collect(
        self, port: serial.SerialBase, req: Frame, until: Callable[[Frame], bool]
    ) -> list[Frame] | None:
        deadline = time.monotonic() + self.timeout_s
        got: list[Frame] = []
        while time.monotonic() < deadline:
            data = port.read(512)
            for frame in self.decoder.feed(data) if data else self.decoder.gap():
                if frame.command != req.command or frame.address not in (req.address, self.address):
                    continue
                got.append(frame)
                if until(frame):
                    return got
        return None

    def scan(self) -> CabinetScan:
        t = self.clock_us()
        try:
            epcs = self._scan_feig() if self.protocol == Protocol.FEIG else self._scan_chafon()
        except (
            ReaderTimeoutError,
            InventoryFormatError,
            ScanFailedError,
            serial.SerialException,
            OSError,
        ) as exc:
            log.debug("cabinet scan failed", cabinet=self.cabinet, error=str(exc))
            if isinstance(exc, serial.SerialException | OSError):
                self.close()
            return CabinetScan(
                cabinet=self.cabinet, epcs=frozenset(), t_us=t, ok=False, error=str(exc)
            )
        return CabinetScan(
            cabinet=self.cabinet, epcs=frozenset(e.hex().upper() for e in epcs), t_us=t
        )

    def _scan_feig(self) -> set[bytes]:
        reset = self._exchange(Frame(self.address, cp.FEIG_RF_RESET, None, b""), lambda f: True)
        if reset[0].status != cp.FEIG_OK:
            raise ScanFailedError(f"RF reset refused with status 0x{reset[0].status or 0:02X}")
        tags: set[bytes] = set()
        for mask in self.shelves or (None,):
            more = False
            while True:
                req = cp.feig_inventory_request(self.address, more=more, antennas=mask)
                (frame,) = self._exchange(req, lambda f: True)
                status = frame.status
                if status == cp.FEIG_NO_TRANSPONDER:
                    break  # an empty shelf, not an error
                if status not in (cp.FEIG_OK, cp.FEIG_MORE_DATA):  # RF/antenna/ISO errors, overflow
                    raise ScanFailedError(f"inventory status 0x{status or 0:02X}")
                tags.update(cp.parse_feig_inventory(frame.data))
                if status != cp.FEIG_MORE_DATA:
                    break
                more = True
        return tags

    def _scan_chafon(self) -> set[bytes]:
        final = {cp.CHAFON_DONE, cp.CHAFON_TIMEOUT, cp.CHAFON_MEMORY_FULL, cp.CHAFON_ANTENNA_ERROR}
        frames = self._exchange(
            Frame(self.address, cp.CHAFON_INVENTORY, None, b""), lambda f: f.status in final
        )
        last = frames[-1].status
        if last == cp.CHAFON_ANTENNA_ERROR:
            raise ScanFailedError("antenna error (status 0xF8)")
        if last in (cp.CHAFON_TIMEOUT, cp.CHAFON_MEMORY_FULL):
            raise ScanFailedError(f"partial inventory (status 0x{last:02X})")
        tags: set[bytes] = set()
        for f in frames:
            tags.update(cp.parse_chafon_inventory(f.data))
        return tags


class ScanFailedError(Exception):
    """The reader answered, but the inventory is not complete."""


# --- door, lock and badge adapters ------------------------------------------------------------


class DoorSensor(TypingProtocol):
    def is_open(self) -> bool: ...


class Lock(TypingProtocol):
    def set_unlocked(self, unlocked: bool) -> None: ...


class BadgeSource(TypingProtocol):
    def read_badges(self) -> list[tuple[str, str | None]]: ...


@dataclass(slots=True)
class GpioFile:
    """A sysfs-style GPIO value file: "1" means open (door) or unlocked (lock)."""

    path: Path

    def is_open(self) -> bool:
        try:
            return self.path.read_text().strip() == "1"
        except OSError:
            return False

    def set_unlocked(self, unlocked: bool) -> None:
        self.path.write_text("1" if unlocked else "0")


@dataclass(slots=True)
class SerialLineSignals:
    """Door contact on a modem input line (CTS/DSR/CD) and lock relay on RTS or DTR."""

    port: serial.SerialBase
    door_line: str = "cts"
    lock_line: str = "rts"

    def is_open(self) -> bool:
        return bool(getattr(self.port, self.door_line))

    def set_unlocked(self, unlocked: bool) -> None:
        setattr(self.port, self.lock_line, unlocked)


@dataclass(slots=True)
class LineBadgeReader:
    """A serial badge reader (or keyboard-wedge bridge) printing `user[,case]` per line."""

    url: str
    baudrate: int = 9600
    _port: serial.SerialBase = field(init=False)
    _buf: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        # open at once: opening a port flushes what arrived before it was open
        self._port = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=0)

    def read_badges(self) -> list[tuple[str, str | None]]:
        self._buf += self._port.read(4096)
        return _badge_lines(self._buf)

    def close(self) -> None:
        self._port.close()


class MqttDoorLock:
    """Door contact and lock relay through MQTT, for I/O modules that speak it.

    The door topic carries `open`/`closed` (also `1`/`0`, `ON`/`OFF`), ideally retained;
    unlocking publishes `unlock`/`lock` at QoS 1 on the lock topic. Until the first door
    message arrives the door counts as closed.
    """

    OPEN = frozenset({"open", "1", "on", "true"})

    def __init__(
        self, conn: MqttConnection, *, door_topic: str, lock_topic: str, client_id: str
    ) -> None:
        self.door_topic = door_topic
        self.lock_topic = lock_topic
        self._open = False
        self.connected = threading.Event()
        self._refused = ""
        self._client = mqtt_client(conn, client_id)
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = lambda *_: self._connect_failed("connection failed")
        self._client.on_message = self._on_message
        self._client.on_disconnect = self._on_disconnect
        connect(self._client, conn)
        self._client.loop_start()

    def _connect_failed(self, reason: str) -> None:
        """One warning per new reason, not one per retry (paho retries every few seconds)."""
        if reason != self._refused:
            self._refused = reason
            log.warning("cabinet mqtt not connected", topic=self.door_topic, reason=reason)

    def _on_disconnect(
        self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if self.connected.is_set() and reason.is_failure:  # refusals were said on connect
            self._connect_failed(f"disconnected: {reason}")
        self.connected.clear()

    def _on_connect(
        self, client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if reason.is_failure:
            self._connect_failed(f"refused: {reason}")
            return
        if self._refused:
            log.info("cabinet mqtt connected", topic=self.door_topic)
            self._refused = ""
        client.subscribe(self.door_topic, qos=1)
        self.connected.set()

    def _on_message(self, _client: Any, _userdata: Any, msg: Any) -> None:
        text = msg.payload.decode("utf-8", "replace").strip().lower()
        self._open = text in self.OPEN

    def is_open(self) -> bool:
        return self._open

    def set_unlocked(self, unlocked: bool) -> None:
        self._client.publish(self.lock_topic, "unlock" if unlocked else "lock", qos=1)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@dataclass(slots=True)
class FileLineBadgeReader:
    """Badges from a FIFO or tty path that a keyboard-wedge bridge writes `user[,case]` to."""

    path: Path
    _fd: int = field(init=False)
    _buf: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        self._fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)

    def read_badges(self) -> list[tuple[str, str | None]]:
        try:
            while chunk := os.read(self._fd, 4096):
                self._buf += chunk
        except BlockingIOError:
            pass
        return _badge_lines(self._buf)

    def close(self) -> None:
        os.close(self._fd)


def _badge_lines(buf: bytearray) -> list[tuple[str, str | None]]:
    """Complete `user[,case]` lines out of `buf` (consumed); control characters dropped."""
    out: list[tuple[str, str | None]] = []
    while b"\n" in buf:
        raw, _, rest = bytes(buf).partition(b"\n")
        buf[:] = rest
        line = "".join(ch for ch in raw.decode("ascii", "replace") if ch.isprintable()).strip()
        if not line:
            continue
        user, _, case = line.partition(",")
        out.append((user.strip(), case.strip() or None))
    if len(buf) > 1024:  # a line that never ends is noise
        buf.clear()
    return out


@dataclass(slots=True)
class CabinetController:
    """Badge -> unlock -> door -> on close, K scans. Returns observations for `rules/`."""

    name: str
    reader: CabinetReaderClient
    door: DoorSensor
    lock: Lock
    badges: BadgeSource
    scans_after_close: int = 2
    scan_delay_s: float = 0.2
    unlock_s: float = 5.0
    _door_open: bool = False
    _unlocked_until: int = 0
    _scans_due: int = 0
    _next_scan_us: int = 0
    _unlock_requested: bool = False
    _started: bool = False

    def request_unlock(self) -> None:
        """Unlock at the next poll (a command from the centre); thread-safe by design."""
        self._unlock_requested = True

    def poll(self, now_us: int) -> list[BadgeEvent | DoorEvent | CabinetScan]:
        out: list[BadgeEvent | DoorEvent | CabinetScan] = []
        if not self._started:  # a scan at start: the baseline, or what changed while we were down
            self._started = True
            self._door_open = self.door.is_open()
            if not self._door_open:
                out.append(self.reader.scan())
        if self._unlock_requested:
            self._unlock_requested = False
            self.lock.set_unlocked(True)
            self._unlocked_until = now_us + int(self.unlock_s * SECOND)
        for user, case in self.badges.read_badges():
            out.append(BadgeEvent(cabinet=self.name, user_id=user, case_id=case, t_us=now_us))
            self.lock.set_unlocked(True)
            self._unlocked_until = now_us + int(self.unlock_s * SECOND)
        if self._unlocked_until and now_us >= self._unlocked_until and not self._door_open:
            self.lock.set_unlocked(False)
            self._unlocked_until = 0
        is_open = self.door.is_open()
        if is_open != self._door_open:
            self._door_open = is_open
            out.append(DoorEvent(cabinet=self.name, is_open=is_open, t_us=now_us))
            if is_open:
                self._scans_due = 0  # the door opened again: the earlier cycle is over
            else:
                self.lock.set_unlocked(False)
                self._unlocked_until = 0
                self._scans_due = self.scans_after_close
                self._next_scan_us = now_us + int(self.scan_delay_s * SECOND)
        if self._scans_due and not self._door_open and now_us >= self._next_scan_us:
            self._scans_due -= 1
            scan = self.reader.scan()
            out.append(scan)
            self._next_scan_us = now_us + int(self.scan_delay_s * SECOND)
        return out
