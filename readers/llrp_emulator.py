"""An LLRP RFID reader on TCP that real LLRP clients (sllurp) connect to and inventory.

It answers the connect sequence (READER_EVENT_NOTIFICATION, capabilities with a power table
and RF modes, config, ROSpec add/enable/start/stop/delete, keepalives, close) and, while a
ROSpec runs, plays a scenario: tags seen by which antenna with what RSSI when (carts through
a gate, items dwelling on shelves, stray reads), seeded. A reader accepts one client: a
second one is refused with ConnectionAttemptEvent status 2.

Fault hooks for tests: `go_silent()` (half-open: no keepalives, no reports, socket open),
`drop()` (close the connection), `antenna_disconnect(n)` (AntennaEvent), `refuse_all`,
`send_malformed()`, `send_giant_frame()` (a header announcing gigabytes, then filler).
"""

from __future__ import annotations

import contextlib
import random
import select
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import structlog

from readers import llrp_codec as lc
from readers.gate_stream import GateLayout, cart_pass, epcs_from_spec

log = structlog.get_logger(__name__)

POWER_TABLE_CDBM = [1000 + 25 * i for i in range(81)]  # 10.00 .. 30.00 dBm in 0.25 dB steps


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioRead:
    offset_us: int
    epc: bytes
    antenna: int
    rssi_dbm: int


def scenario_reads(data: dict[str, Any]) -> list[ScenarioRead]:
    """Expand a scenario (see README) into the reads the reader will report, seeded."""
    rng = random.Random(int(data.get("seed", 1)))
    out: list[ScenarioRead] = []
    for ev in data.get("events", []):
        at_us = int(float(ev.get("at", 0)) * 1_000_000)
        if "cart" in ev:
            c = ev["cart"]
            gate = GateLayout(
                reader="emu",
                inside=tuple(c.get("inside", [1])),
                outside=tuple(c.get("outside", [2])),
            )
            for r in cart_pass(
                rng,
                gate,
                epcs_from_spec(c),
                start_us=at_us,
                direction=str(c.get("direction", "IN")),
                duration_s=float(c.get("duration", 2.0)),
                reads_per_s=float(c.get("reads_per_s", 6.0)),
                miss_rate=float(c.get("miss_rate", 0.2)),
            ):
                out.append(
                    ScenarioRead(
                        offset_us=r.t_us,
                        epc=bytes.fromhex(r.epc_hex),
                        antenna=r.antenna,
                        rssi_dbm=round(r.rssi_dbm or -60),
                    )
                )
        elif "shelf" in ev:
            s = ev["shelf"]
            every = int(float(s.get("every", 1.0)) * 1_000_000)
            until = int(float(s.get("until", 10.0)) * 1_000_000)
            for epc in epcs_from_spec(s):
                t = at_us
                while t < at_us + until:
                    if rng.random() >= float(s.get("miss_rate", 0.1)):
                        rssi = round(float(s.get("rssi", -60)) + rng.gauss(0, 1.5))
                        out.append(
                            ScenarioRead(
                                offset_us=t,
                                epc=bytes.fromhex(epc),
                                antenna=int(s["antenna"]),
                                rssi_dbm=rssi,
                            )
                        )
                    t += every
        elif "stray" in ev:
            s = ev["stray"]
            out.append(
                ScenarioRead(
                    offset_us=at_us,
                    epc=bytes.fromhex(str(s["epc"])),
                    antenna=int(s["antenna"]),
                    rssi_dbm=int(s.get("rssi", -78)),
                )
            )
        else:
            raise ValueError(f"unknown scenario event {ev!r}")
    out.sort(key=lambda r: r.offset_us)
    return out


class LlrpEmulator:
    def __init__(
        self,
        scenario: dict[str, Any] | None = None,
        *,
        port: int = 0,
        antennas: int = 4,
        speed: float = 1.0,
        report_interval_s: float = 0.05,
        loop: bool = False,
        vendor: int = lc.IMPINJ_VENDOR,
        start_at: float | None = None,
    ) -> None:
        self.vendor = vendor
        self.reads = scenario_reads(scenario or {})
        self.antennas = int((scenario or {}).get("reader", {}).get("antennas", antennas))
        self.speed = speed
        self.report_interval_us = int(report_interval_s * 1_000_000)
        self.loop = loop
        # scenario time 0 at this wall time (several emulators on one script); otherwise at
        # the reader's ROSpec start
        self.start_at_us = None if start_at is None else int(start_at * 1_000_000)
        self._server = socket.create_server(("127.0.0.1", port))
        self.port = int(self._server.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True, name="llrp-emu")
        self._lock = threading.Lock()
        self._conn: socket.socket | None = None
        self.connections_total = 0
        self.refused_total = 0
        self.keepalive_acks_total = 0
        self.reports_sent_total = 0
        self.rospecs_added_total = 0
        self.refuse_all = False
        self._silent = threading.Event()
        self._drop = threading.Event()
        self._pending_events: list[bytes] = []
        # reader configuration outlives a connection, as on a real reader: with
        # HoldEventsAndReportsUponReconnect the ROSpec goes on reading while no client is
        # connected, and the reports wait until the next client enables them
        self.hold_reports = False
        self._radio: _Session | None = None  # the last session's ROSpec, running unheard
        self._radio_stop = threading.Event()
        self.held_reports_total = 0
        self.giant_frame = 0  # announced length of a hostile frame being sent; 0: none
        self.giant_bytes_sent = 0

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> LlrpEmulator:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=3)
        self._server.close()

    # --- fault hooks ------------------------------------------------------------------

    def go_silent(self) -> None:
        """Half-open connection: nothing more is sent, the socket stays open."""
        self._silent.set()

    def drop(self) -> None:
        self._drop.set()

    def send_giant_frame(self, announced: int = 0xFFFF_FFFF) -> None:
        """A hostile reader: a RO_ACCESS_REPORT header announcing `announced` bytes, then
        filler in 64 KiB chunks for as long as the client keeps the connection."""
        self.giant_frame = announced

    def send_malformed(self) -> None:
        """A RO_ACCESS_REPORT whose AntennaID parameter is cut short (kills sllurp's thread)."""
        bad = lc.message(
            lc.RO_ACCESS_REPORT, 1, lc.tlv(lc.P_TAG_REPORT_DATA, lc.tv(13, bytes(12)), b"\x81\x00")
        )
        with self._lock:
            self._pending_events.append(bad)

    def antenna_disconnect(self, antenna: int) -> None:
        with self._lock:
            self._pending_events.append(
                lc.reader_event(_now_us(), lc.antenna_event(antenna, connected=False))
            )

    @property
    def connected(self) -> bool:
        return self._conn is not None

    # --- serving ----------------------------------------------------------------------

    def _accept_loop(self) -> None:
        self._server.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._conn is not None or self.refuse_all:
                self.refused_total += 1
                with contextlib.suppress(OSError):
                    conn.sendall(
                        lc.reader_event(
                            _now_us(), lc.connection_attempt(lc.CONNECTION_FAILED_CLIENT_EXISTS)
                        )
                    )
                    time.sleep(0.05)
                conn.close()
                continue
            self.connections_total += 1
            self._conn = conn
            threading.Thread(
                target=self._session, args=(conn,), daemon=True, name="llrp-emu-session"
            ).start()

    def _session(self, conn: socket.socket) -> None:
        self._silent.clear()
        self.giant_frame = 0
        self._drop.clear()
        session = _Session(self, conn)
        try:
            session.run()
        except OSError as exc:
            log.info("llrp emulator session ended", error=str(exc))
        finally:
            with contextlib.suppress(OSError):
                conn.close()
            self._conn = None
            if (
                self.hold_reports
                and session.running
                and session.rospec is not None
                and self.start_at_us is not None  # reads on wall time, as a real reader's
                and not self._stop.is_set()
            ):
                self._hold(session)

    # --- holding reports while no client is connected ---------------------------------

    def _hold(self, session: _Session) -> None:
        """The ROSpec of a session that ended goes on reading; its reports are kept."""
        session.held = []
        session.keepalive_us = 0
        self._radio = session
        self._radio_stop.clear()
        log.info("llrp emulator holds reports until a client enables them")

        def run() -> None:
            while not self._radio_stop.wait(0.01) and not self._stop.is_set():
                session.timers()

        threading.Thread(target=run, daemon=True, name="llrp-emu-radio").start()

    def release_held(self, to: _Session, *, stop: bool) -> int | None:
        """Send what was held to a client that enabled reports; `stop` ends the held
        ROSpec (the client starts its own) and returns where it was in the script."""
        radio = self._radio
        if radio is None or radio.held is None:
            return None
        if stop:
            self._radio_stop.set()
            time.sleep(0.03)  # the radio's last pass
            self._radio = None
        with self._lock:
            held, radio.held = radio.held, ([] if not stop else None)
        for msg in held or []:
            to.send(msg)
        self.held_reports_total += len(held or [])
        return radio.cursor if stop else None


class _Session:
    """One client connection: request/response plus reports and keepalives on a timer."""

    def __init__(self, emu: LlrpEmulator, conn: socket.socket) -> None:
        self.emu = emu
        self.conn = conn
        self.reader = lc.MessageReader()
        self.rospec: lc.RoSpec | None = None
        self.running = False
        self.keepalive_us = 0
        self.next_keepalive = 0
        self.msg_id = 1000
        self.start_wall_us = 0
        self.cursor = 0
        self.next_report = 0
        self.impinj = False
        self.held: list[bytes] | None = None  # set while nobody is connected (held reports)
        self.giant_started = False

    def send(self, data: bytes) -> None:
        if self.held is not None:
            with self.emu._lock:
                if self.held is not None:
                    self.held.append(data)
                    return
        if not self.emu._silent.is_set():
            self.conn.sendall(data)

    def run(self) -> None:
        self.send(lc.reader_event(_now_us(), lc.connection_attempt(lc.CONNECTION_SUCCESS)))
        while not self.emu._stop.is_set() and not self.emu._drop.is_set():
            ready, _, _ = select.select([self.conn], [], [], 0.01)
            if ready:
                data = self.conn.recv(65536)
                if not data:
                    return
                for msg in self.reader.feed(data):
                    if not self.handle(msg):
                        return
            self.timers()

    def handle(self, msg: lc.Message) -> bool:
        t = msg.type
        if t == lc.KEEPALIVE_ACK:
            self.emu.keepalive_acks_total += 1
        elif t == lc.ENABLE_EVENTS_AND_REPORTS:
            self.emu.release_held(self, stop=False)  # LLRP defines no response
        elif t == lc.GET_READER_CAPABILITIES:
            self.send(
                lc.capabilities(
                    msg,
                    antennas=self.emu.antennas,
                    power_table_cdbm=POWER_TABLE_CDBM,
                    manufacturer=self.emu.vendor,
                )
            )
        elif lc.custom_kind(msg) == (lc.IMPINJ_VENDOR, lc.IMPINJ_ENABLE_EXTENSIONS) and (
            self.emu.vendor == lc.IMPINJ_VENDOR
        ):
            self.impinj = True
            status = lc.llrp_status()
            kind = lc.IMPINJ_ENABLE_EXTENSIONS_RESPONSE
            self.send(lc.custom_message(lc.IMPINJ_VENDOR, kind, msg.msg_id, status))
        elif t == lc.SET_READER_CONFIG:
            hold = lc.parse_hold_reports(msg.body)
            if hold is not None:
                self.emu.hold_reports = hold
            interval = lc.parse_keepalive_ms(msg.body)
            if interval is not None:
                self.keepalive_us = interval * 1000
                self.next_keepalive = _now_us() + self.keepalive_us
            self.send(lc.response(msg))
        elif t == lc.ADD_ROSPEC:
            spec = lc.parse_add_rospec(msg.body)
            if spec is None:
                self.send(lc.response(msg, 100, "ROSpec missing or malformed"))
            else:
                self.rospec = spec
                self.emu.rospecs_added_total += 1
                self.send(lc.response(msg))
        elif t in (lc.ENABLE_ROSPEC, lc.START_ROSPEC):
            self.send(lc.response(msg))
            if self.rospec is not None and not self.running:
                self.running = True
                self.start_wall_us = self.emu.start_at_us or _now_us()
                self.cursor = 0
                if self.emu.start_at_us is not None:
                    # on a shared clock, a reader does not replay what happened before its
                    # ROSpec started, unless it held those reads for this client
                    past = (_now_us() - self.start_wall_us) * self.emu.speed
                    self.cursor = sum(1 for r in self.emu.reads if r.offset_us < past)
                    held_to = self.emu.release_held(self, stop=True)
                    if held_to is not None:
                        self.cursor = held_to
        elif t in (lc.STOP_ROSPEC, lc.DISABLE_ROSPEC, lc.DELETE_ROSPEC):
            self.running = False
            if t == lc.DELETE_ROSPEC:
                self.rospec = None
            self.send(lc.response(msg))
        elif t == lc.CLOSE_CONNECTION:
            self.send(lc.response(msg))
            return False
        elif t in lc.RESPONSE_TO:
            self.send(lc.response(msg))
        else:
            self.send(
                lc.message(
                    lc.ERROR_MESSAGE, msg.msg_id, lc.llrp_status(109, f"unsupported message {t}")
                )
            )
        return True

    def timers(self) -> None:
        if self.emu.giant_frame:
            self._send_giant_frame()
            return
        now = _now_us()
        with self.emu._lock:
            events, self.emu._pending_events = self.emu._pending_events, []
        for ev in events:
            self.send(ev)
        if self.keepalive_us and now >= self.next_keepalive:
            self.msg_id += 1
            self.send(lc.keepalive(self.msg_id))
            self.next_keepalive = now + self.keepalive_us
        if not self.running or self.rospec is None or now < self.next_report:
            return
        self.next_report = now + self.emu.report_interval_us
        reads = self.emu.reads
        elapsed = int((now - self.start_wall_us) * self.emu.speed)
        batch: list[lc.TagReport] = []
        wanted = set(self.rospec.antennas) - {0}
        while self.cursor < len(reads) and reads[self.cursor].offset_us <= elapsed:
            r = reads[self.cursor]
            self.cursor += 1
            if wanted and r.antenna not in wanted:
                continue
            ts = self.start_wall_us + int(r.offset_us / self.emu.speed)
            batch.append(
                lc.TagReport(
                    epc=r.epc,
                    antenna=r.antenna,
                    rssi_dbm=r.rssi_dbm,
                    first_seen_us=ts,
                    last_seen_us=ts,
                    impinj_rssi_cdbm=r.rssi_dbm * 100 - 19 if self.impinj else None,
                )
            )
        if self.emu.loop and self.cursor >= len(reads) and reads:
            self.cursor = 0
            self.start_wall_us = now
        if batch and not self.emu._silent.is_set():
            self.msg_id += 1
            self.send(
                lc.ro_access_report(self.msg_id, batch, self.rospec.selector, self.rospec.rospec_id)
            )
            self.emu.reports_sent_total += 1

    def _send_giant_frame(self) -> None:
        if not self.giant_started:
            kind = (lc.VERSION << 10) | lc.RO_ACCESS_REPORT
            self.conn.sendall(lc.HEADER.pack(kind, self.emu.giant_frame, 1))
            self.giant_started = True
        self.conn.sendall(bytes(65536))
        self.emu.giant_bytes_sent += 65536


def _now_us() -> int:
    return time.time_ns() // 1000
